"""The kernels onnxruntime will run for a model, with the work each one does.

The predictor cannot cost the graph the user saved: onnxruntime rewrites it first (Conv+Relu and
Conv+Add fuse, ``DequantizeLinear -> Conv -> QuantizeLinear`` becomes one INT8 ``QLinearConv``,
FP16 graphs get ``Cast`` nodes where a kernel lacks FP16...). So we ask onnxruntime for its
optimised graph at the *portable* level (``ORT_ENABLE_EXTENDED``: fusions, no CPU-specific
layouts) -- building a session, never running it -- infer every tensor's shape at batch 1 and
describe each node as a :class:`Kernel`: its class (conv, depthwise conv, GEMM, GEMV, other),
precision, multiply-adds and bytes moved.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference

from advisor.errors import InputError

__all__ = ["Kernel", "model_kernels"]

_CONV = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv", "ConvTranspose"}
_MATMUL = {"MatMul", "Gemm", "FusedMatMul", "FusedGemm", "QGemm", "QLinearMatMul", "MatMulInteger",
           "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits"}
_INT8 = {"QLinearConv", "QGemm", "QLinearMatMul"}
_INT8_DYNAMIC = {"ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
# Nodes that only move shapes or views around: their cost is the per-node overhead alone.
_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Flatten", "Identity",
              "Slice", "ConstantOfShape", "Range", "Size", "Expand", "Constant"}

_ITEMSIZE = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.DOUBLE: 8,
             onnx.TensorProto.INT8: 1, onnx.TensorProto.UINT8: 1, onnx.TensorProto.INT32: 4,
             onnx.TensorProto.INT64: 8, onnx.TensorProto.BOOL: 1, onnx.TensorProto.BFLOAT16: 2}


@dataclass(frozen=True)
class Kernel:
    """One node of the optimised graph and the work it does at batch 1.

    Attributes:
        name: node name (or op type).
        op_type: operator as onnxruntime runs it (``FusedConv``, ``QLinearConv``...).
        kind: ``conv``, ``dwconv`` (depthwise), ``gemm`` (matrix product, rows > 1), ``gemv``
            (one row: a fully-connected layer at batch 1), ``shape`` (views and shape arithmetic)
            or ``other`` (element-wise, pooling, normalisation, casts...).
        precision: ``fp32``, ``fp16``, ``int8`` (static QDQ kernels), ``int8dyn`` (dynamic
            quantization: ConvInteger/MatMulInteger) or ``fp32dw`` (a float conv whose weights
            are computed at run time, e.g. de-quantized each run: no pre-packed weights).
        macs: multiply-adds.
        bytes: activation bytes read and written plus weight bytes read.
        weight_bytes: bytes of constant weights it reads.
        kernel: spatial kernel size (1 for pointwise/GEMM).
    """

    name: str
    op_type: str
    kind: str
    precision: str
    macs: int
    bytes: int
    weight_bytes: int = 0
    kernel: int = 1


def model_kernels(path: Path | str) -> list[Kernel]:
    """The kernels onnxruntime runs for the model at ``path`` (batch 1), in graph order.

    Raises:
        InputError: the file is not a model onnxruntime can load.
    """
    graph = _optimised(Path(path))
    # Tensors the fusions kept keep their names, so the original graph (standard operators only)
    # is the most reliable source; the optimised graph's own inference fills in the new tensors.
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    try:
        original = onnx.load(str(path))
        _fix_batch(original)
        sources = [(original, False), (original, True)]
    except Exception:  # noqa: BLE001 - the optimised graph's own shapes remain
        sources = []
    sources.append((_standardised(graph), True))
    for model, symbolic in sources:
        s, t = _shapes(model, symbolic=symbolic)
        for k, v in s.items():
            shapes.setdefault(k, v)
        for k, v in t.items():
            types.setdefault(k, v)
    inits = {t.name: t for t in graph.graph.initializer}
    out: list[Kernel] = []
    for n in graph.graph.node:
        out.append(_kernel(n, shapes, types, inits))
    return out


def _optimised(path: Path) -> onnx.ModelProto:
    """onnxruntime's optimised graph at the portable level (built, not run)."""
    fd, tmp = tempfile.mkstemp(suffix=".onnx", prefix="advisor-opt-")
    os.close(fd)
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = tmp
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        try:
            ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise InputError(f"model {path} does not load in onnxruntime: {first}") from None
        model = onnx.load(tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fix_batch(model)
    return model


def _fix_batch(model: onnx.ModelProto) -> None:
    for vi in list(model.graph.input) + list(model.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.Clear()
                d.dim_value = 1


# Fused operators rewritten to the standard operator with the same output shape, so that shape
# inference (which does not know onnxruntime's contrib operators) can see through them.
# name -> (standard operator, indices of the inputs it keeps, attributes it keeps)
_STANDARD = {
    "FusedConv": ("Conv", (0, 1, 2), {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}),
    "FusedGemm": ("Gemm", (0, 1, 2), {"alpha", "beta", "transA", "transB"}),
    "QLinearAdd": ("Add", (0, 3), set()),
    "QLinearMul": ("Mul", (0, 3), set()),
    "QLinearSoftmax": ("Softmax", (0,), {"axis"}),
    "QLinearSigmoid": ("Sigmoid", (0,), set()),
    "QLinearLeakyRelu": ("LeakyRelu", (0,), {"alpha"}),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", (0,), set()),
    "QLinearAveragePool": ("AveragePool", (0,), {"auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"}),
}


def _standardised(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        if n.op_type in _STANDARD:
            op, inputs, attrs = _STANDARD[n.op_type]
            kept_inputs = [n.input[i] for i in inputs if i < len(n.input)]
            kept_attrs = [a for a in n.attribute if a.name in attrs]
            n.op_type, n.domain = op, ""
            del n.input[:]
            n.input.extend(kept_inputs)
            del n.attribute[:]
            n.attribute.extend(kept_attrs)
        elif n.op_type == "FusedMatMul" and not any(
            a.name.startswith("trans") and onnx.helper.get_attribute_value(a) for a in n.attribute
        ):
            n.op_type, n.domain = "MatMul", ""
            del n.attribute[:]
    return m


def _shapes(model: onnx.ModelProto, symbolic: bool = True) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Every tensor's shape and element type at batch 1 (onnxruntime's symbolic inference knows
    its own quantized operators; plain ONNX inference is the fallback)."""
    inferred = None
    if symbolic:
        try:
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=False)
        except Exception:  # noqa: BLE001 - fall back to ONNX's own inference
            inferred = None
    if inferred is None:
        try:
            inferred = shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001
            inferred = model
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.elem_type:
            types[vi.name] = t.elem_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(max(1, int(d.dim_value)) for d in t.shape.dim)
    for t in inferred.graph.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
        types[t.name] = t.data_type
    return shapes, types


def _numel(shape: tuple[int, ...] | None) -> int:
    return int(np.prod(shape)) if shape else (1 if shape == () else 0)


def _attr(n: onnx.NodeProto, name: str, default):
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _kernel(n: onnx.NodeProto, shapes, types, inits) -> Kernel:
    name = n.name or n.op_type
    outs = [o for o in n.output if o]
    ins = [i for i in n.input if i]
    act_bytes = 0
    weight_bytes = 0
    for i in ins:
        b = _numel(shapes.get(i)) * _ITEMSIZE.get(types.get(i, 1), 4)
        if i in inits:
            weight_bytes += b
        else:
            act_bytes += b
    act_bytes += sum(_numel(shapes.get(o)) * _ITEMSIZE.get(types.get(o, 1), 4) for o in outs)
    total = act_bytes + weight_bytes
    out_shape = shapes.get(outs[0]) if outs else None
    out_el = _numel(out_shape)
    op = n.op_type
    if op in _CONV:
        w_name = n.input[3] if op == "QLinearConv" else n.input[1]
        w = shapes.get(w_name)
        macs, dw, k = 0, False, 1
        if w and out_shape and len(w) >= 3:
            macs = out_el * _numel(w[1:])
            group = int(_attr(n, "group", 1))
            dw = group > 1 and w[1] == 1
            k = int(np.prod(w[2:]))
        prec = _conv_precision(n, types, inits, w_name)
        return Kernel(name, op, "dwconv" if dw else "conv", prec, int(macs), int(total), int(weight_bytes), k)
    if op in _MATMUL:
        macs, rows = _matmul_macs(n, shapes, out_shape)
        prec = _matmul_precision(n, types)
        kind = "gemv" if rows <= 1 else "gemm"
        return Kernel(name, op, kind, prec, int(macs), int(total), int(weight_bytes))
    kind = "shape" if op in _SHAPE_OPS else "other"
    prec = "fp16" if types.get(outs[0] if outs else "", 0) == onnx.TensorProto.FLOAT16 else "fp32"
    return Kernel(name, op, kind, prec, 0, int(total), int(weight_bytes))


def _conv_precision(n: onnx.NodeProto, types, inits, w_name: str) -> str:
    if n.op_type in _INT8:
        return "int8"
    if n.op_type in _INT8_DYNAMIC:
        return "int8dyn"
    if types.get(n.input[0]) == onnx.TensorProto.FLOAT16:
        return "fp16"
    return "fp32" if w_name in inits else "fp32dw"


def _matmul_precision(n: onnx.NodeProto, types) -> str:
    if n.op_type == "MatMulNBits":
        return "int8w"
    if n.op_type in _INT8:
        return "int8"
    if n.op_type in _INT8_DYNAMIC:
        return "int8dyn"
    return "fp16" if types.get(n.input[0]) == onnx.TensorProto.FLOAT16 else "fp32"


def _matmul_macs(n: onnx.NodeProto, shapes, out_shape) -> tuple[int, int]:
    """Multiply-adds and output rows (M, batch dims folded in) of a matrix product."""
    if not out_shape:
        return 0, 1
    op = n.op_type
    a = shapes.get(n.input[0])
    if op in ("Gemm", "FusedGemm", "QGemm"):
        b = shapes.get(n.input[3] if op == "QGemm" else n.input[1])
        if not b or len(b) != 2:
            return 0, 1
        k = b[1] if int(_attr(n, "transB", 0)) else b[0]
        rows = out_shape[0] if len(out_shape) == 2 else 1
        return _numel(out_shape) * k, rows
    if op == "MatMulNBits":
        k = int(_attr(n, "K", 0))
        return _numel(out_shape) * k, _numel(out_shape) // max(1, out_shape[-1])
    if not a:
        return 0, 1
    k = a[-1]
    if op == "FusedMatMul" and int(_attr(n, "transA", 0)) and len(a) >= 2:
        k = a[-2]
    rows = _numel(out_shape) // max(1, out_shape[-1])
    return _numel(out_shape) * k, rows
