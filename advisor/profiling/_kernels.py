"""The kernels onnxruntime will run for a model, with the work each one does.

The predictor cannot cost the graph the user saved: onnxruntime rewrites it first (Conv+Relu and
Conv+Add fuse, ``DequantizeLinear -> Conv -> QuantizeLinear`` becomes one INT8 ``QLinearConv``,
FP16 graphs get ``Cast`` nodes where a kernel lacks FP16...). So we ask onnxruntime for its
optimised graph -- building sessions, never running them -- infer every tensor's shape at batch
1 and describe each node as a :class:`Kernel`: its class (conv, depthwise conv, GEMM, GEMV,
normalisation, element-wise, shape), precision, multiply-adds, outputs and bytes moved.

The kernel list comes from the *portable* level (``ORT_ENABLE_EXTENDED``: fusions, no
CPU-specific layouts). Whether a float convolution can use pre-packed weights (and, on x86, the
fast blocked NCHWc layout) is read from the full level (``ORT_ENABLE_ALL``) on this machine, when
it is available: e.g. an FP16 model whose shared biases stay behind run-time casts runs its
convolutions on the slower plain path, which no rule on the portable graph would foresee.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from advisor.errors import InputError
from advisor.models._cost import (
    CONV_OPS,
    MATMUL_OPS,
    attr,
    conv_macs,
    fix_batch,
    infer_shapes,
    itemsize,
    matmul_macs,
    numel,
)

__all__ = ["Kernel", "model_kernels"]

# The standard operators plus onnxruntime's fused and contrib ones (the optimised graph has them).
_CONV = CONV_OPS | {"FusedConv", "NhwcFusedConv", "ConvTranspose"}
_MATMUL = MATMUL_OPS | {"FusedGemm", "QGemm", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits"}
_INT8 = {"QLinearConv", "QGemm", "QLinearMatMul"}
_INT8_DYNAMIC = {"ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
# Nodes that only move shapes or views around: their cost is the per-node overhead alone.
_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Flatten", "Identity",
              "Slice", "ConstantOfShape", "Range", "Size", "Expand", "Constant"}


@dataclass(frozen=True)
class Kernel:
    """One node of the optimised graph and the work it does at batch 1.

    Attributes:
        name: node name (or op type).
        op_type: operator as onnxruntime runs it (``FusedConv``, ``QLinearConv``...).
        kind: ``conv``, ``dwconv`` (depthwise), ``gemm`` (matrix product, rows > 1), ``gemv``
            (one row: a fully-connected layer at batch 1), ``shape`` (views and shape arithmetic),
            ``norm`` (softmax, normalisations, reductions, pooling, transcendental functions) or
            ``other`` (simple element-wise work, casts, (de)quantization, transposes...).
        precision: ``fp32``, ``fp16``, ``int8`` (static QDQ kernels), ``int8dyn`` (dynamic
            quantization: ConvInteger/MatMulInteger), ``int8w`` (INT8 weights, float compute) or
            ``fp32rt`` (a float convolution whose weights or bias are only known at run time,
            e.g. de-quantized every run, so onnxruntime cannot pre-pack them).
        macs: multiply-adds.
        bytes: activation bytes read and written plus weight bytes read.
        weight_bytes: bytes of constant weights it reads.
        out_elements: elements of its (first) output.
        in_channels: input channels per group of a convolution (0 otherwise).
        out_channels: output channels of a convolution (0 otherwise).
        fused: onnxruntime folds this node into its neighbour on CPU (an activation or residual
            Add right after a float convolution, or a precision cast it inserted itself), so it
            costs nothing of its own; the micro-benchmarks include the same folding.
        masked: a Softmax in a model with an attention-mask input (an integer input named
            ``*mask*``): padded positions reach it at the float minimum, which is slower.
        output: its first output tensor (what onnxruntime's per-node profiler names a node
            after when the full optimisation level renamed it, e.g. ``<output>_nchwc``).
        activation: the activation a float convolution runs fused (``FusedConv``'s ``Relu``,
            ``Clip``...; empty for none). Only ``Relu`` is free: onnxruntime's blocked kernels
            apply any other one as a second pass over the output (measured on the build VM: a
            144-channel depthwise layer at 60x60 took 194 us with ReLU, 274 us with Clip).
    """

    name: str
    op_type: str
    kind: str
    precision: str
    macs: int
    bytes: int
    weight_bytes: int = 0
    out_elements: int = 0
    in_channels: int = 0
    out_channels: int = 0
    fused: bool = False
    masked: bool = False
    output: str = ""
    activation: str = ""


def model_kernels(path: Path | str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> list[Kernel]:
    """The kernels onnxruntime runs for the model at ``path`` (batch 1), in graph order.

    Args:
        input_shapes: the shape each input is fed at (batch 1), for inputs with dynamic
            dimensions other than the batch: a sequence length, an image size. Without them an
            unknown dimension counts as 1 (an encoder with a dynamic sequence is costed at 1 token).

    Raises:
        InputError: the file is not a model onnxruntime can load.
    """
    graph = _optimised(Path(path), fix=False)
    _fix_shapes(graph, input_shapes)
    # Tensors the fusions kept keep their names, so the original graph (standard operators only)
    # is the most reliable source; the optimised graph's own inference fills in the new tensors.
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    try:
        original = onnx.load(str(path))
        _fix_shapes(original, input_shapes)
        sources = [(original, False), (original, True)]
    except Exception:  # noqa: BLE001 - the optimised graph's own shapes remain
        sources = []
    sources.append((_standardised(graph), True))
    for model, symbolic in sources:
        s, t = infer_shapes(model, symbolic=symbolic)
        for k, v in s.items():
            shapes.setdefault(k, v)
        for k, v in t.items():
            types.setdefault(k, v)
    g = graph.graph
    inits = {t.name: t for t in g.initializer}
    # Casts onnxruntime inserted (FP16 graphs run by FP32 kernels) are new tensors that no
    # inference pass may reach: a cast keeps its input's shape.
    for n in g.node:
        for name in (*n.input, *n.output):
            if name.startswith(_INSERTED_CAST) and name not in shapes:
                orig = name.removeprefix(_INSERTED_CAST)  # the same tensor in the other precision
                if orig in shapes:
                    shapes[name] = shapes[orig]
        if n.op_type in ("Cast", "Identity") and n.input and n.output and n.output[0] not in shapes:
            if n.input[0] in shapes:
                shapes[n.output[0]] = shapes[n.input[0]]
            if n.op_type == "Cast":
                types.setdefault(n.output[0], int(attr(n, "to", onnx.TensorProto.FLOAT)))
        elif n.op_type == "MatMul" and n.output and n.output[0] not in shapes:
            a, b = shapes.get(n.input[0]), shapes.get(n.input[1])
            if a and b and len(a) >= 2 and len(b) >= 2:
                batch = np.broadcast_shapes(a[:-2], b[:-2])
                shapes[n.output[0]] = (*batch, a[-2], b[-1])
    # Weights behind a cast onnxruntime inserted (an FP16 weight run by an FP32 kernel): the
    # kernel is an FP16 one as far as the device's figures are concerned.
    cast_of = {n.output[0]: n.input[0] for n in g.node
               if n.op_type == "Cast" and n.name.startswith(_INSERTED_CAST) and n.input and n.input[0] in inits}
    consumers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    plan, reorders = _float_conv_plan(Path(path))
    masked = any("mask" in i.name.lower() and i.type.tensor_type.elem_type in _INTEGER for i in g.input)
    producer_kind: dict[str, tuple[str, str]] = {}
    out: list[Kernel] = []
    for n in g.node:
        k = _kernel(n, shapes, types, inits, cast_of)
        if k.kind in ("conv", "dwconv") and k.precision in _FLOAT_CONV:
            k = replace(k, precision=plan.get(n.name) or plan.get(n.output[0]) or k.precision)
        if _folds(n, k, producer_kind, consumers):
            k = replace(k, fused=True)
        if masked and n.op_type == "Softmax":
            k = replace(k, masked=True)
        for o in n.output:
            producer_kind[o] = (k.kind, k.precision) if not k.fused else producer_kind.get(n.input[0], ("", ""))
        out.append(k)
    # Layout reorders the full level adds (into and out of the blocked layout): once at a float
    # CNN's ends, but around every convolution when casts or unsupported nodes sit between them.
    for op, tensor in reorders:
        if tensor in shapes:
            nbytes = 2 * numel(shapes[tensor]) * 4
            out.append(Kernel(f"{op}:{tensor}", op, "other", "fp32", 0, nbytes, 0, numel(shapes[tensor]),
                              output=tensor))
    return out


def _fix_shapes(model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None) -> None:
    """Inputs at the shapes they are fed at (``input_shapes``), any other unknown dimension 1 (batch
    1). With given shapes, the outputs' unknown dimensions are left for inference to fill."""
    if not input_shapes:
        fix_batch(model)
        return
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        shape = input_shapes.get(vi.name)
        for i, d in enumerate(dims):
            if shape is not None and len(shape) == len(dims):
                d.Clear()
                d.dim_value = int(shape[i])
            elif not d.HasField("dim_value"):
                d.Clear()
                d.dim_value = 1
    for vi in model.graph.output:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.Clear()


_INSERTED_CAST = "InsertedPrecisionFreeCast_"
_INTEGER = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.BOOL, onnx.TensorProto.INT8,
            onnx.TensorProto.UINT8}
_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh"}
_FLOAT_CONV = {"fp32", "fp16", "fp32rt"}


def _folds(n: onnx.NodeProto, k: Kernel, producer_kind, consumers) -> bool:
    """Whether onnxruntime's CPU graph optimisations fold node ``n`` away (see Kernel.fused)."""
    if n.op_type == "Cast" and n.name.startswith(_INSERTED_CAST):
        return True
    if n.op_type not in _ACTIVATIONS and n.op_type != "Add":
        return False
    if not n.input or consumers.get(n.input[0], 0) != 1:
        return False
    src = [producer_kind.get(i, ("", "")) for i in n.input if i]
    return any(kind == "conv" and prec in _FLOAT_CONV for kind, prec in src)


def _float_conv_plan(path: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """How this machine's onnxruntime runs each float convolution at the full optimisation
    level: ``fp32`` (constant weights and bias: pre-packed, blocked layout where the CPU has it),
    ``fp32rt`` (weights or bias computed at run time) or ``fp16`` (an FP16 kernel). Keyed by the
    portable graph's node name and output name; empty if the full level cannot be built. Also
    the layout reorders the full level inserts, as ``(op, tensor in the portable graph)``."""
    try:
        model = _optimised(path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL, fix=False)
    except InputError:
        return {}, []
    inits = {t.name: t.data_type for t in model.graph.initializer}
    plan: dict[str, str] = {}
    reorders = [("ReorderInput", n.input[0]) if n.op_type == "ReorderInput" else (n.op_type, n.output[0])
                for n in model.graph.node if n.op_type in ("ReorderInput", "ReorderOutput")]
    for n in model.graph.node:
        if n.op_type not in ("Conv", "FusedConv", "NhwcFusedConv") or len(n.input) < 2:
            continue
        if n.domain == "com.microsoft.nchwc":
            prec = "fp32"
        elif inits.get(n.input[1]) == onnx.TensorProto.FLOAT16:
            prec = "fp16"
        else:
            const = all(i in inits for i in n.input[1:3] if i)
            prec = "fp32" if const else "fp32rt"
        plan[n.name] = prec
        plan.setdefault(n.name.removesuffix("_nchwc"), prec)
    return plan, reorders


def _optimised(path: Path, level=ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, fix: bool = True) -> onnx.ModelProto:
    """onnxruntime's optimised graph at ``level`` (built, not run)."""
    fd, tmp = tempfile.mkstemp(suffix=".onnx", prefix="advisor-opt-")
    os.close(fd)
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
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
    if fix:
        fix_batch(model)
    return model


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


_NORM = {"Softmax", "LogSoftmax", "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
         "BatchNormalization", "InstanceNormalization", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
         "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "NhwcMaxPool", "QLinearSoftmax",
         "QLinearGlobalAveragePool", "QLinearAveragePool", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Gelu",
         "FastGelu", "BiasGelu", "QuickGelu", "Pow", "Sqrt", "Resize", "Upsample"}


def _kernel(n: onnx.NodeProto, shapes, types, inits, cast_of) -> Kernel:
    name = n.name or n.op_type
    outs = [o for o in n.output if o]
    ins = [i for i in n.input if i]
    act_bytes = 0
    weight_bytes = 0
    for i in ins:
        src = cast_of.get(i, i)
        b = numel(shapes.get(src)) * itemsize(types.get(src, onnx.TensorProto.FLOAT))
        if src in inits:
            weight_bytes += b
        else:
            act_bytes += b
    act_bytes += sum(numel(shapes.get(o)) * itemsize(types.get(o, onnx.TensorProto.FLOAT)) for o in outs)
    total = act_bytes + weight_bytes
    out_shape = shapes.get(outs[0]) if outs else None
    out_el = numel(out_shape)
    op = n.op_type
    if op in _CONV:
        w_name = n.input[3] if op == "QLinearConv" else n.input[1]
        w = shapes.get(w_name)
        macs, dw = conv_macs(n, w, out_shape)
        cin, cout = (int(w[1]), int(w[0])) if w and out_shape and len(w) >= 3 else (0, 0)
        prec = _precision(n, types, inits, cast_of, w_name)
        act = attr(n, "activation", b"") if op == "FusedConv" else b""
        return Kernel(name, op, "dwconv" if dw else "conv", prec, int(macs), int(total), int(weight_bytes), out_el,
                      cin, cout, output=outs[0] if outs else "",
                      activation=act.decode() if isinstance(act, bytes) else str(act))
    if op in _MATMUL:
        macs, rows = matmul_macs(n, shapes, out_shape)
        b_name = n.input[3] if op in ("QLinearMatMul", "QGemm") else (n.input[1] if len(n.input) > 1 else "")
        prec = "int8w" if op == "MatMulNBits" else _precision(n, types, inits, cast_of, b_name)
        if prec == "fp32rt":
            prec = "fp32"
        kind = "gemv" if rows <= 1 else "gemm"
        return Kernel(name, op, kind, prec, int(macs), int(total), int(weight_bytes), out_el,
                      output=outs[0] if outs else "")
    kind = "shape" if op in _SHAPE_OPS else ("norm" if op in _NORM else "other")
    prec = "fp16" if types.get(outs[0] if outs else "", 0) == onnx.TensorProto.FLOAT16 else "fp32"
    return Kernel(name, op, kind, prec, 0, int(total), int(weight_bytes), out_el, output=outs[0] if outs else "")


def _precision(n: onnx.NodeProto, types, inits, cast_of, w_name: str) -> str:
    if n.op_type in _INT8:
        return "int8"
    if n.op_type in _INT8_DYNAMIC:
        return "int8dyn"
    if w_name in cast_of and types.get(cast_of[w_name]) == onnx.TensorProto.FLOAT16:
        return "fp16"
    if types.get(n.input[0]) == onnx.TensorProto.FLOAT16:
        return "fp16"
    return "fp32" if (w_name in inits or w_name in cast_of) else "fp32rt"
