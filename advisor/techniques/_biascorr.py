"""Empirical bias correction of a static-INT8 (QDQ) model.

Source: Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction", section 4.2; the same correction as AIMET's bias correction and OpenVINO POT's
"FastBiasCorrection"): rounding a layer's weights shifts the mean of its output,
E[(W_q - W) x] = (W_q - W) E[x] per output channel, and the next layers see a biased input (worst
in depthwise convolutions: 9 weights per channel do not average their rounding out). For each
quantized Conv/Gemm/MatMul whose bias is an INT32 initializer behind a DequantizeLinear, that
shift -- with E[x] the per-channel mean of the layer's *quantized* input, measured by one run of
the quantized model on calibration samples -- is subtracted from the INT32 bias (in units of its
scale). Every layer is corrected from the same run: each correction removes only its own layer's
shift, so they do not add up.

Measured on EfficientNet-Lite1 (docs/techniques/FIQ.md): the alternative that subtracts each
layer's whole measured output shift E[y_q] - E[y] (its own plus everything upstream) from every
layer at once over-corrects -- the upstream part is removed once per layer downstream -- and
diverged (agreement 0.758 -> 0.125 after one pass, 0 after two); doing it layer by layer would
need one run of the model per layer.
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


def correct_bias(qdq_path: Path, float_path: Path, feeds: list[dict], passes: int = 1,
                 sequential: list[dict] | None = None, dst: Path | None = None) -> dict:
    """Bias correction of the QDQ model at ``qdq_path`` against the float model at
    ``float_path`` (the pre-processed model it was quantized from; node names match).

    Each layer's own shift is (W_q - W) E[x_q]: its weight rounding error times its input's
    per-channel mean, measured in the quantized model on ``feeds`` (padding ignored).

    Args:
        qdq_path: the static-INT8 QDQ model (corrected in place unless ``dst`` is given).
        float_path: the float model it was quantized from.
        feeds: calibration samples, each a dict input name -> array (one sample).
        passes: runs of the quantized model; each later pass re-measures the input means after
            the earlier correction (on EfficientNet-Lite1 a second pass changed nothing).
        sequential: if given, samples for a second, layer-by-layer stage: in topological order,
            each layer's remaining output shift E[y_q] - E[y] (its pre-activation output in the
            quantized model, all earlier layers already corrected, against the float model) is
            subtracted from its bias; this also removes shifts that activation quantization
            causes. One run of the quantized model per layer.
        dst: where to write the corrected model (default: ``qdq_path``).

    Returns:
        ``{"layers": corrected layers, "passes": passes, "sequential": layers corrected one by one}``.
    """
    q = onnx.load(str(qdq_path))
    f = onnx.load(str(float_path), load_external_data=True)
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
                             numpy_helper.to_array(inits[dq.input[1]]), dw))
    for _ in range(passes if layers else 0):
        axes = {x.node.input[0]: x.in_axis for x in layers}
        means = _channel_means(_with_outputs(q, list(axes)), axes, feeds)
        for x in layers:
            x.set_shift(_weight_shift(x.node, x.dw, means[x.node.input[0]]))
    if sequential and layers:
        axes = {x.ref: x.out_axis for x in layers}
        ref = _channel_means(_with_outputs(f, list(axes)), axes, sequential)
        for x in layers:
            name = x.node.output[0]
            got = _channel_means(_with_outputs(q, [name]), {name: x.out_axis}, sequential)[name]
            x.set_shift(got - ref[x.ref], base=False)
    onnx.save(q, str(dst or qdq_path))
    return {"layers": len(layers), "passes": passes, "sequential": len(layers) if sequential else 0}


class _Layer:
    """One bias-corrected layer of the quantized model."""

    def __init__(self, node: onnx.NodeProto, ref: str, bias: onnx.TensorProto, scale: np.ndarray,
                 dw: np.ndarray):
        self.node, self.ref, self.bias, self.dw = node, ref, bias, dw
        self.scale = scale.astype(np.float64)
        self.orig = numpy_helper.to_array(bias).astype(np.int64)
        self.in_axis = 1 if node.op_type == "Conv" else -1  # input channels
        self.out_axis = 1 if node.op_type == "Conv" else -1  # output channels

    def set_shift(self, delta: np.ndarray, base: bool = True) -> None:
        """The INT32 bias minus ``delta`` (output units, per channel): the quantizer's bias if
        ``base``, else the current one."""
        start = self.orig if base else numpy_helper.to_array(self.bias).astype(np.int64)
        arr = start - np.rint(delta / self.scale).astype(np.int64)
        lim = np.iinfo(np.int32)
        self.bias.CopyFrom(numpy_helper.from_array(np.clip(arr, lim.min, lim.max).astype(np.int32),
                                                   self.bias.name))
