"""Counting an ONNX graph's work: tensor shapes at batch 1, multiply-adds of convolutions and
matrix products, element counts and sizes.

The one home of these counts: :func:`advisor.models.describe` (the graph the user saved) and the
latency predictor's kernel list (``advisor.profiling._kernels``: the graph onnxruntime runs)
both count with them.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
from onnx import shape_inference
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

__all__ = [
    "CONV_OPS",
    "MATMUL_OPS",
    "attr",
    "conv_macs",
    "fix_batch",
    "infer_shapes",
    "itemsize",
    "matmul_macs",
    "numel",
    "static_dims",
    "symbolic_inference",
    "tensor_shapes",
]

#: Standard convolutions (float, dynamic INT8, static INT8), weight at input 1 (QLinearConv: 3).
CONV_OPS = frozenset({"Conv", "ConvInteger", "QLinearConv"})
#: Standard matrix products (and onnxruntime's FusedMatMul, found in pre-optimised graphs).
MATMUL_OPS = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm", "FusedMatMul"})

_ITEMSIZE = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.DOUBLE: 8,
             onnx.TensorProto.INT8: 1, onnx.TensorProto.UINT8: 1, onnx.TensorProto.INT32: 4,
             onnx.TensorProto.INT64: 8, onnx.TensorProto.BOOL: 1, onnx.TensorProto.BFLOAT16: 2}


def fix_batch(model: onnx.ModelProto) -> None:
    """Set every unknown dimension of the graph's inputs and outputs to 1 (batch 1), in place."""
    for vi in list(model.graph.input) + list(model.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.Clear()
                d.dim_value = 1


def static_dims(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    """The tensor's dimensions, or ``None`` unless every one is a known number."""
    t = vi.type.tensor_type
    if not t.HasField("shape") or not all(d.HasField("dim_value") for d in t.shape.dim):
        return None
    return tuple(int(d.dim_value) for d in t.shape.dim)


def tensor_shapes(model: onnx.ModelProto) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Every tensor's shape (where fully known; a 0 dimension counts as 1) and element type, as
    the model's value infos, inputs, outputs and initializers state them."""
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    g = model.graph
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
        dims = static_dims(vi)
        if dims is not None:
            shapes[vi.name] = tuple(max(1, d) for d in dims)
    for t in g.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
        types[t.name] = t.data_type
    return shapes, types


def infer_shapes(model: onnx.ModelProto, symbolic: bool = True) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Every tensor's shape and element type at batch 1 (onnxruntime's symbolic inference knows
    its own quantized operators; plain ONNX inference is the fallback)."""
    inferred = symbolic_inference(model) if symbolic else None
    if inferred is None:
        try:
            inferred = shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001
            inferred = model
    return tensor_shapes(inferred)


def symbolic_inference(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxruntime's symbolic shape inference, keeping whatever it inferred (``None`` if it fails).

    Its public ``infer_shapes`` writes ``sym_shape_infer_temp.onnx`` plus one ``.data`` file per
    tensor into the *current directory* whenever inference is incomplete, then raises; partial
    shapes are all we need, so the same steps are run here without that side effect. If the
    tool's internals change, plain ONNX inference takes over.
    """
    try:
        # imported here: onnxruntime's tools package is only needed when shapes are missing

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ssi = SymbolicShapeInference(2**31 - 1, True, False, 0)
            ssi._preprocess(model)
            rounds = 0
            while ssi.run_ and rounds < 100:
                ssi._infer_impl()
                rounds += 1
            ssi._update_output_from_vi()
            return ssi.out_mp_
    except Exception:  # noqa: BLE001 - any failure: fall back to ONNX's own inference
        return None


def numel(shape: tuple[int, ...] | None) -> int:
    """Elements of a tensor of ``shape`` (0 when unknown, 1 for a scalar)."""
    return int(np.prod(shape)) if shape else (1 if shape == () else 0)


def itemsize(data_type: int) -> int:
    """Bytes per element of an ONNX element type (4 when unknown)."""
    if data_type in _ITEMSIZE:
        return _ITEMSIZE[data_type]
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return 4


def attr(n: onnx.NodeProto, name: str, default):
    """Attribute ``name`` of node ``n``, else ``default``."""
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def conv_macs(n: onnx.NodeProto, w: tuple[int, ...] | None, out: tuple[int, ...] | None) -> tuple[int, bool]:
    """Multiply-adds of a convolution with weight shape ``w`` and output shape ``out`` (0 when
    either is unknown), and whether it is depthwise."""
    if not w or not out or len(w) < 3:
        return 0, False
    group = int(attr(n, "group", 1))
    return numel(out) * numel(w[1:]), group > 1 and w[1] == 1


def matmul_macs(n: onnx.NodeProto, shapes: dict[str, tuple[int, ...]], out: tuple[int, ...] | None) -> tuple[int, int]:
    """Multiply-adds and output rows (M, batch dims folded in) of a matrix product."""
    if not out:
        return 0, 1
    op = n.op_type
    a = shapes.get(n.input[0])
    if op in ("Gemm", "FusedGemm", "QGemm"):
        b = shapes.get(n.input[3] if op == "QGemm" else n.input[1])
        if not b or len(b) != 2:
            return 0, 1
        k = b[1] if int(attr(n, "transB", 0)) else b[0]
        rows = out[0] if len(out) == 2 else 1
        return numel(out) * k, rows
    if op == "MatMulNBits":
        k = int(attr(n, "K", 0))
        return numel(out) * k, numel(out) // max(1, out[-1])
    if not a:
        return 0, 1
    k = a[-1]
    if op == "FusedMatMul" and int(attr(n, "transA", 0)) and len(a) >= 2:
        k = a[-2]
    rows = numel(out) // max(1, out[-1])
    return numel(out) * k, rows
