"""Empirical bias correction of a static-INT8 (QDQ) model.

Source: Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction", section 4.2 (empirical variant), as in AIMET's and OpenVINO POT's
"FastBiasCorrection": quantization shifts the mean of a layer's output (weight rounding, and the
errors of the quantized layers before it), the next layers see a biased input and the error
grows through the network. For each quantized Conv/Gemm/MatMul whose bias is an INT32 initializer
behind a DequantizeLinear, the per-output-channel mean of (quantized output - float output) over
the calibration samples is subtracted from the INT32 bias (in units of its scale), so the
quantized layer's output has the float layer's mean. Outputs are compared before the activation
(the quantizer folds Relu/Clip into the output's QuantizeLinear; the float reference is the
pre-processed model's node of the same name).

All layers are corrected at once from one run of the quantized model (a *pass*); correcting an
early layer changes what the later ones see, so a few passes converge on the layer-by-layer
result at a fraction of its cost (one run per pass instead of one per layer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

__all__ = ["correct_bias", "BIAS_OPS"]

BIAS_OPS = ("Conv", "Gemm", "MatMul")


def _with_outputs(model: onnx.ModelProto, names: list[str]) -> bytes:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    return m.SerializeToString()


def _channel_means(model_bytes: bytes, axes: dict[str, int], feeds: list[dict]) -> dict[str, np.ndarray]:
    """Mean over samples and positions of each tensor named in ``axes``, per channel along
    ``axes[name]`` (1 for Conv, the last axis for Gemm/MatMul)."""
    names = list(axes)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    sums: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    for feed in feeds:  # one sample per run: works for fixed-batch models too
        for name, out in zip(names, sess.run(names, feed), strict=True):
            out = np.asarray(out, dtype=np.float64)
            axis = axes[name] % out.ndim
            c = np.moveaxis(out, axis, -1).reshape(-1, out.shape[axis])
            sums[name] = sums.get(name, 0.0) + c.sum(axis=0)
            count[name] = count.get(name, 0) + c.shape[0]
    return {k: sums[k] / count[k] for k in sums}


def _dequant(dq: onnx.NodeProto, inits: dict) -> np.ndarray:
    """The float value of a DequantizeLinear of initializers."""
    x = numpy_helper.to_array(inits[dq.input[0]]).astype(np.float64)
    scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64)
    zp = numpy_helper.to_array(inits[dq.input[2]]).astype(np.float64) if len(dq.input) > 2 \
        and dq.input[2] else np.zeros_like(scale)
    if scale.ndim == 1 and scale.size > 1:
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1) % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def _weight_shift(node: onnx.NodeProto, dw: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-output-channel mean output change of ``node`` from the weight change ``dw`` for an
    input of per-channel mean ``m`` (padding ignored)."""
    if node.op_type == "Conv":
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        cout, cin_g = dw.shape[:2]
        per = dw.reshape(cout, cin_g, -1).sum(axis=2)  # [cout, cin/group]
        mg = m.reshape(group, cin_g)  # input channels of each group
        return np.einsum("gok,gk->go", per.reshape(group, cout // group, cin_g), mg).reshape(-1)
    if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
        return dw @ m
    return m @ dw


def correct_bias(qdq_path: Path, float_path: Path, feeds: list[dict], mode: str = "local",
                 passes: int = 1, dst: Path | None = None) -> dict:
    """Empirical bias correction of the QDQ model at ``qdq_path`` against the float model at
    ``float_path`` (the pre-processed model it was quantized from; node names match).

    Args:
        qdq_path: the static-INT8 QDQ model (corrected in place unless ``dst`` is given).
        float_path: the float model it was quantized from.
        feeds: calibration samples, each a dict input name -> array with a leading batch of 1.
        mode: ``"local"``: each layer's own shift, (W_q - W) E[x_q], with E[x_q] its input's
            per-channel mean in the quantized model (Nagel et al.'s bias correction, the input
            mean measured); ``"total"``: the whole measured shift E[y_q] - E[y] of each layer
            (upstream errors included; correcting every layer at once from it over-corrects).
        passes: correction passes (each one run of the quantized model over ``feeds``).
        dst: where to write the corrected model (default: ``qdq_path``).

    Returns:
        ``{"layers": corrected layers, "passes": passes, "mode": mode}``.
    """
    q = onnx.load(str(qdq_path))
    f = onnx.load(str(float_path))
    g = q.graph
    made_by = {o: n for n in g.node for o in n.output}
    inits = {t.name: t for t in g.initializer}
    f_inits = {t.name: t for t in f.graph.initializer}
    f_nodes = {n.name: n for n in f.graph.node}
    layers = []
    for n in g.node:
        if n.op_type not in BIAS_OPS or n.name not in f_nodes or len(n.input) < 3:
            continue
        dq, wdq = made_by.get(n.input[2]), made_by.get(n.input[1])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits \
                or dq.input[1] not in inits or inits[dq.input[0]].data_type != onnx.TensorProto.INT32:
            continue
        if wdq is None or wdq.op_type != "DequantizeLinear" or wdq.input[0] not in inits \
                or f_nodes[n.name].input[1] not in f_inits:
            continue
        dw = _dequant(wdq, inits) - numpy_helper.to_array(f_inits[f_nodes[n.name].input[1]])
        layers.append(_Layer(n, f_nodes[n.name].output[0], inits[dq.input[0]],
                             numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64), dw))
    result = {"layers": len(layers), "passes": passes, "mode": mode}
    if layers and passes:
        f_means = {}
        if mode == "total":
            axes = {x.ref: x.axis for x in layers}
            f_means = _channel_means(_with_outputs(f, list(axes)), axes, feeds)
        for _ in range(passes):
            if mode == "total":
                axes = {x.node.output[0]: x.axis for x in layers}
            else:
                axes = {x.node.input[0]: x.in_axis for x in layers}
            means = _channel_means(_with_outputs(q, list(axes)), axes, feeds)
            for x in layers:
                if mode == "total":
                    shift = means[x.node.output[0]] - f_means[x.ref]
                else:
                    shift = _weight_shift(x.node, x.dw, means[x.node.input[0]])
                x.shift(shift, base=mode == "local")  # local: the whole own shift each pass
    onnx.save(q, str(dst or qdq_path))
    return result


class _Layer:
    """One bias-corrected layer of the quantized model."""

    def __init__(self, node, ref: str, bias: onnx.TensorProto, scale: np.ndarray, dw: np.ndarray):
        self.node, self.ref, self.bias, self.scale, self.dw = node, ref, bias, scale, dw
        self.orig = numpy_helper.to_array(bias).astype(np.int64)
        self.axis = 1 if node.op_type == "Conv" else -1  # output channels
        self.in_axis = 1 if node.op_type == "Conv" else -1  # input channels

    def shift(self, delta: np.ndarray, base: bool = False) -> None:
        """Subtract ``delta`` (output units, per channel) from the INT32 bias (from the
        quantizer's bias if ``base``, else from the current one)."""
        start = self.orig if base else numpy_helper.to_array(self.bias).astype(np.int64)
        arr = start - np.rint(delta / self.scale).astype(np.int64)
        lim = np.iinfo(np.int32)
        self.bias.CopyFrom(numpy_helper.from_array(np.clip(arr, lim.min, lim.max).astype(np.int32),
                                                   self.bias.name))
