"""Tiny ONNX graphs for the micro-benchmarks, written as protobuf bytes by
:mod:`advisor.profiling._onnxpb` (no files shipped; no ``onnx`` import, which would cost
``advisor profile`` over a second of start-up).

Each builder returns a :class:`BenchGraph`: the model, one input to feed it, and the work one run
does (multiply-adds for compute kernels, bytes for memory kernels, nodes for overhead). The graphs
are *chains* of layers shaped like the layers of small edge models (a 3x3 convolution over 32
channels at 32x32, a depthwise layer, a batch-1 fully-connected layer...), so that one-off costs
(layout reorders, the call itself) are spread over several layers as they are in a real model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from advisor.profiling import _onnxpb as pb

if TYPE_CHECKING:
    import onnx

__all__ = [
    "BenchGraph",
    "trivial",
    "node_chain",
    "copy",
    "elementwise_chain",
    "norm_chain",
    "conv_chain",
    "matmul_chain",
    "transformer_op_chain",
]

OPSET = 17
_FLOAT = {"fp32": (pb.FLOAT, np.float32), "fp16": (pb.FLOAT16, np.float16)}


@dataclass(frozen=True)
class BenchGraph:
    """A micro-benchmark: the serialized model ``data`` run on ``feed`` does ``work`` units (MACs,
    bytes or nodes)."""

    data: bytes
    feed: dict[str, np.ndarray]
    work: float

    def serialized(self) -> bytes:
        return self.data

    @property
    def model(self) -> onnx.ModelProto:
        """The graph as an ``onnx.ModelProto`` (imports ``onnx``: for tests and tools, not the profiler)."""
        import onnx  # optional here: the profiler itself only hands the bytes to onnxruntime

        return onnx.load_from_string(self.data)


def _model(nodes, inputs, outputs, inits) -> bytes:
    return pb.model(nodes, inputs, outputs, inits, opset=OPSET)


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _uniform(rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    """Centred uniform float32 values (fast to draw: a profile builds ~45 graphs)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(2.0 * scale)


def trivial() -> BenchGraph:
    """One Relu on 16 floats: what one inference call costs besides the work."""
    x = pb.value_info("x", pb.FLOAT, [16])
    y = pb.value_info("y", pb.FLOAT, [16])
    m = _model([pb.node("Relu", ["x"], ["y"])], [x], [y], [])
    return BenchGraph(m, {"x": np.ones(16, np.float32)}, 1)


def node_chain(n: int) -> BenchGraph:
    """``n`` alternating Add/Relu nodes on 16 floats: the cost of a node doing nothing much."""
    c = pb.tensor(np.full(16, 0.5, np.float32), "c")
    nodes, prev = [], "x"
    for i in range(n):
        out = "y" if i == n - 1 else f"t{i}"
        if i % 2 == 0:
            nodes.append(pb.node("Add", [prev, "c"], [out]))
        else:
            nodes.append(pb.node("Relu", [prev], [out]))
        prev = out
    x = pb.value_info("x", pb.FLOAT, [16])
    y = pb.value_info("y", pb.FLOAT, [16])
    return BenchGraph(_model(nodes, [x], [y], [c]), {"x": np.ones(16, np.float32)}, n)


def copy(elements: int) -> BenchGraph:
    """One Relu over ``elements`` floats (read + write): main-memory bandwidth, in bytes."""
    x = pb.value_info("x", pb.FLOAT, [elements])
    y = pb.value_info("y", pb.FLOAT, [elements])
    m = _model([pb.node("Relu", ["x"], ["y"])], [x], [y], [])
    feed = {"x": _uniform(_rng(), elements)}
    return BenchGraph(m, feed, 2.0 * 4 * elements)


def elementwise_chain(elements: int, n: int) -> BenchGraph:
    """``n`` element-wise nodes over a [64, elements/64] activation, alternating a broadcast Add
    of a bias row and a Mul by a scalar, as a model's biases and scales are. Work in bytes."""
    width = max(1, elements // 64)
    bias = pb.tensor(np.full(width, 0.5, np.float32), "bias")
    scale = pb.tensor(np.array(0.99, np.float32), "scale")
    nodes, prev = [], "x"
    for i in range(n):
        out = "y" if i == n - 1 else f"t{i}"
        if i % 2 == 0:
            nodes.append(pb.node("Add", [prev, "bias"], [out]))
        else:
            nodes.append(pb.node("Mul", [prev, "scale"], [out]))
        prev = out
    x = pb.value_info("x", pb.FLOAT, ["n", width])
    y = pb.value_info("y", pb.FLOAT, ["n", width])
    feed = {"x": _uniform(_rng(), (64, width))}
    return BenchGraph(_model(nodes, [x], [y], [bias, scale]), feed, 2.0 * 4 * 64 * width * n)


def norm_chain(n: int) -> BenchGraph:
    """``n`` alternating Softmax / LayerNormalization nodes over [4, 64, 64] (attention scores
    and token norms of a small transformer). Work in elements processed."""
    inits = [pb.tensor(np.ones(64, np.float32), "scale"),
             pb.tensor(np.zeros(64, np.float32), "bias")]
    nodes, prev = [], "x"
    for i in range(n):
        out = "y" if i == n - 1 else f"t{i}"
        if i % 2 == 0:
            nodes.append(pb.node("Softmax", [prev], [out], axis=-1))
        else:
            nodes.append(pb.node("LayerNormalization", [prev, "scale", "bias"], [out], axis=-1))
        prev = out
    x = pb.value_info("x", pb.FLOAT, ["n", 64, 64])
    y = pb.value_info("y", pb.FLOAT, ["n", 64, 64])
    feed = {"x": _uniform(_rng(), (4, 64, 64))}
    return BenchGraph(_model(nodes, [x], [y], inits), feed, float(n * 4 * 64 * 64))


def conv_chain(
    channels: int, size: int, layers: int, *, kernel: int = 3, depthwise: bool = False, precision: str = "fp32"
) -> BenchGraph:
    """``layers`` same-shape convolutions (+bias, +ReLU for floats) over ``channels`` x ``size`` x
    ``size``; ``precision`` is ``fp32``, ``fp16``, ``int8`` (static QDQ, fused by onnxruntime into
    ``QLinearConv``), ``int8dyn`` (dynamic quantization: ``ConvInteger``) or ``fp32rt`` (float
    weights fed at run time, as when they are de-quantized every run: nothing can be pre-packed).
    Work in MACs."""
    c, k = channels, kernel
    group = c if depthwise else 1
    wshape = (c, 1 if depthwise else c, k, k)
    macs = layers * c * size * size * wshape[1] * k * k
    rng = _rng()
    x_np = _uniform(rng, (1, c, size, size))
    pads = [k // 2] * 4
    nodes, inits = [], []
    if precision in _FLOAT or precision == "fp32rt":
        et, npt = _FLOAT["fp32" if precision == "fp32rt" else precision]
        feed = {"x": x_np.astype(npt)}
        extra_inputs = []
        prev = "x"
        for i in range(layers):
            w = _uniform(rng, wshape, 1.0 / np.sqrt(wshape[1] * k * k)).astype(npt)
            b = np.zeros(c, npt)
            if precision == "fp32rt":
                feed[f"w{i}"], feed[f"b{i}"] = w, b
                extra_inputs += [pb.value_info(f"w{i}", et, list(wshape)),
                                 pb.value_info(f"b{i}", et, [c])]
            else:
                inits += [pb.tensor(w, f"w{i}"), pb.tensor(b, f"b{i}")]
            out = "y" if i == layers - 1 else f"r{i}"
            nodes.append(pb.node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=pads, group=group))
            nodes.append(pb.node("Relu", [f"c{i}"], [out]))
            prev = out
        x = pb.value_info("x", et, [1, c, size, size])
        y = pb.value_info("y", et, [1, c, size, size])
        return BenchGraph(_model(nodes, [x, *extra_inputs], [y], inits), feed, macs)
    if precision == "int8":
        return _qdq_chain(x_np, layers, macs, lambda i, a, w, o: pb.node(
            "Conv", [a, w, f"b{i}"], [o], pads=pads, group=group), wshape, c, per_channel_axis=0)
    if precision == "int8dyn":
        return _dynamic_chain(x_np, layers, macs, wshape, lambda xq, wq, xz, wz, o: pb.node(
            "ConvInteger", [xq, wq, xz, wz], [o], pads=pads, group=group), scale_shape=(1, c, 1, 1))
    raise ValueError(f"unknown precision '{precision}'")


def matmul_chain(rows: int, width: int, layers: int, *, precision: str = "fp32") -> BenchGraph:
    """``layers`` products ``[rows, width] x [width, width]``: ``rows=1`` is a fully-connected
    layer at batch 1 (a matrix-vector product, limited by reading the weights), ``rows`` of 64-256
    is a transformer's token matrix. Work in MACs."""
    rng = _rng()
    macs = layers * rows * width * width
    x_np = _uniform(rng, (rows, width))
    wshape = (width, width)
    if precision in _FLOAT:
        et, npt = _FLOAT[precision]
        nodes, inits, prev = [], [], "x"
        for i in range(layers):
            w = _uniform(rng, wshape, 1.0 / np.sqrt(width)).astype(npt)
            inits.append(pb.tensor(w, f"w{i}"))
            out = "y" if i == layers - 1 else f"m{i}"
            nodes.append(pb.node("MatMul", [prev, f"w{i}"], [out]))
            prev = out
        x = pb.value_info("x", et, [rows, width])
        y = pb.value_info("y", et, [rows, width])
        return BenchGraph(_model(nodes, [x], [y], inits), {"x": x_np.astype(npt)}, macs)
    if precision == "int8":
        return _qdq_chain(x_np, layers, macs, lambda i, a, w, o: pb.node("MatMul", [a, w], [o]),
                          wshape, width, per_channel_axis=1, bias=False)
    if precision == "int8dyn":
        return _dynamic_chain(x_np, layers, macs, wshape, lambda xq, wq, xz, wz, o: pb.node(
            "MatMulInteger", [xq, wq, xz, wz], [o]), scale_shape=(width,))
    raise ValueError(f"unknown precision '{precision}'")


def _qdq_chain(x_np, layers, macs, make_op, wshape, channels, per_channel_axis, bias=True) -> BenchGraph:
    """Static INT8 in QDQ form, as onnxruntime's ``quantize_static`` writes it: uint8 activations,
    per-channel int8 weights; onnxruntime fuses each DQ -> op -> Q into one integer kernel."""
    rng = _rng()
    nodes, inits = [], []
    a_scale, a_zp = np.float32(0.05), np.uint8(128)
    inits += [pb.tensor(np.array(a_scale, np.float32), "as"),
              pb.tensor(np.array(a_zp, np.uint8), "az")]
    nodes.append(pb.node("QuantizeLinear", ["x", "as", "az"], ["q_in"]))
    prev = "q_in"
    for i in range(layers):
        wq = rng.integers(-64, 64, size=wshape, dtype=np.int8)
        ws = np.full(channels, 0.01, np.float32)
        inits += [pb.tensor(wq, f"wq{i}"), pb.tensor(ws, f"ws{i}"),
                  pb.tensor(np.zeros(channels, np.int8), f"wz{i}")]
        nodes.append(pb.node("DequantizeLinear", [f"wq{i}", f"ws{i}", f"wz{i}"], [f"w{i}"],
                                      axis=per_channel_axis))
        nodes.append(pb.node("DequantizeLinear", [prev, "as", "az"], [f"a{i}"]))
        if bias:
            inits += [pb.tensor(np.zeros(channels, np.int32), f"bq{i}"),
                      pb.tensor(ws * a_scale, f"bs{i}"),
                      pb.tensor(np.zeros(channels, np.int32), f"bz{i}")]
            nodes.append(pb.node("DequantizeLinear", [f"bq{i}", f"bs{i}", f"bz{i}"], [f"b{i}"], axis=0))
        nodes.append(make_op(i, f"a{i}", f"w{i}", f"o{i}"))
        nodes.append(pb.node("QuantizeLinear", [f"o{i}", "as", "az"], [f"q{i}"]))
        prev = f"q{i}"
    nodes.append(pb.node("DequantizeLinear", [prev, "as", "az"], ["y"]))
    x = pb.value_info("x", pb.FLOAT, list(x_np.shape))
    y = pb.value_info("y", pb.FLOAT, list(x_np.shape))
    return BenchGraph(_model(nodes, [x], [y], inits), {"x": x_np}, macs)


def _dynamic_chain(x_np, layers, macs, wshape, make_op, scale_shape) -> BenchGraph:
    """Dynamic INT8 as ``quantize_dynamic`` writes it: activations quantized on the fly
    (``DynamicQuantizeLinear``), an integer op, then a cast and a rescale back to float."""
    rng = _rng()
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        wq = rng.integers(-64, 64, size=wshape, dtype=np.int8)
        inits += [pb.tensor(wq, f"wq{i}"),
                  pb.tensor(np.zeros((), np.int8), f"wz{i}"),
                  pb.tensor(np.full(scale_shape, 0.01, np.float32), f"ws{i}")]
        nodes += [
            pb.node("DynamicQuantizeLinear", [prev], [f"xq{i}", f"xs{i}", f"xz{i}"]),
            pb.node("Mul", [f"xs{i}", f"ws{i}"], [f"s{i}"]),
        ]
        nodes.append(make_op(f"xq{i}", f"wq{i}", f"xz{i}", f"wz{i}", f"i{i}"))
        out = "y" if i == layers - 1 else f"f{i}"
        nodes += [
            pb.node("Cast", [f"i{i}"], [f"c{i}"], to=pb.FLOAT),
            pb.node("Mul", [f"c{i}", f"s{i}"], [out]),
        ]
        prev = out
    x = pb.value_info("x", pb.FLOAT, list(x_np.shape))
    y = pb.value_info("y", pb.FLOAT, list(x_np.shape))
    return BenchGraph(_model(nodes, [x], [y], inits), {"x": x_np}, macs)


def transformer_op_chain(op: str, shape: tuple[int, ...], n: int) -> BenchGraph:
    """``n`` transformer element-wise layers over ``shape`` as exporters write them: ``softmax``
    (attention scores, e.g. [12, 128, 128]), ``softmax_masked`` (the same, with the last quarter
    of every row at the float minimum, as an additive attention mask over padding leaves it:
    onnxruntime's exp is ~4x slower there), ``layernorm`` (LayerNormalization over the last axis,
    [128, 384]) or ``gelu`` (the exported erf form ``x * 0.5 * (1 + erf(x / sqrt 2))``, which
    onnxruntime fuses into one ``Gelu`` kernel; [128, 1536]). Work in elements processed."""
    width = shape[-1]
    consts = {"scale": np.ones(width, np.float32), "bias": np.zeros(width, np.float32),
              "sqrt2": np.array(np.sqrt(2.0), np.float32), "one": np.array(1.0, np.float32),
              "half": np.array(0.5, np.float32)}
    inits = [pb.tensor(v, k) for k, v in consts.items() if op == "layernorm" or k not in ("scale", "bias")]
    nodes, prev = [], "x"
    for i in range(n):
        out = "y" if i == n - 1 else f"t{i}"
        if op in ("softmax", "softmax_masked"):
            nodes.append(pb.node("Softmax", [prev], [out], axis=-1))
        elif op == "layernorm":
            nodes.append(pb.node("LayerNormalization", [prev, "scale", "bias"], [out], axis=-1))
        elif op == "gelu":
            nodes += [pb.node("Div", [prev, "sqrt2"], [f"d{i}"]),
                      pb.node("Erf", [f"d{i}"], [f"e{i}"]),
                      pb.node("Add", [f"e{i}", "one"], [f"a{i}"]),
                      pb.node("Mul", [prev, f"a{i}"], [f"m{i}"]),
                      pb.node("Mul", [f"m{i}", "half"], [out])]
        else:
            raise ValueError(f"unknown transformer op '{op}'")
        prev = out
    x = pb.value_info("x", pb.FLOAT, list(shape))
    y = pb.value_info("y", pb.FLOAT, list(shape))
    feed = {"x": _uniform(_rng(), shape)}
    if op == "softmax_masked":
        feed["x"][..., 3 * width // 4:] = np.finfo(np.float32).min
    return BenchGraph(_model(nodes, [x], [y], inits), feed, float(n * np.prod(shape)))
