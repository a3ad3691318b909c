"""QAT: quantization-aware fine-tuning, then onnxruntime static INT8 (QDQ) of the adapted model.

Source: Lee et al. 2022 (QAT); Jacob et al. 2018 (simulated quantization with a straight-through
estimator). The fine-tuning simulates exactly what the deployed graph does: weights symmetric
INT8 per output channel (``torch.fake_quantize_per_channel_affine``) and the input of every
Conv/Linear as per-tensor UInt8 with ranges tracked by an exponential moving average. The
adapted float model is then exported and quantized by onnxruntime's static QDQ quantizer, with
the *learned* input ranges written into the QDQ scales of those tensors (``TensorQuantOverrides``);
only the tensors training did not simulate (other operators' inputs) get min/max calibration.

Why not torchao or ``torch.ao``: ``torch.ao.quantization`` is deprecated, torchao is not a
dependency, and either route ends in a graph onnxruntime must still quantize (or that exports
to slower QOperator/fake-quant patterns); the fused QDQ kernels of onnxruntime are the fast
path on x86 (see docs/techniques/QAT.md).
"""

from __future__ import annotations

import contextlib
import json
import types
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from torch import nn
from torch.nn.utils import parametrize

from advisor.errors import TechniqueError
from advisor.fileio import atomic_write_text
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._onnxq import ArrayReader, preprocess, quiet
from advisor.techniques._registry import register
from advisor.techniques._torchutil import (
    examples,
    forward_with_hooks,
    recover,
    weight_layers,
    working_copy,
)

_ONNX_OPS = {nn.Conv1d: ("Conv",), nn.Conv2d: ("Conv",), nn.Conv3d: ("Conv",), nn.Linear: ("Gemm", "MatMul")}


@dataclass(frozen=True)
class QATConfig(TechniqueConfig):
    epochs: float = param(1.0, valid=(0.05, 100.0), search=(0.5, 3.0), step=0.5,
                          help="fine-tuning epochs with simulated INT8")
    lr: float = param(1e-4, valid=(1e-7, 0.01), search=(3e-5, 1e-3), log=True,
                      help="AdamW learning rate (small: the model is already trained)")
    calibration_size: int = param(200, valid=(1, 5000), search=(100, 500), step=50,
                                  help="calibration samples for the final static quantization")
    ema: float = param(0.05, valid=(0.001, 1.0), help="moving-average weight of each batch's activation range")


class _WeightFakeQuant(nn.Module):
    """Symmetric INT8 per output channel (axis 0), scale ``max|w| / 127.5`` as onnxruntime uses."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        amax = w.detach().abs().flatten(1).amax(1).clamp_min(1e-8)
        zero = torch.zeros(w.shape[0], dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, (amax / 127.5).float(), zero, 0, -128, 127)


class _InputFakeQuant:
    """Forward pre-hook: per-tensor UInt8 fake quantization of a layer's input (EMA range incl. 0)."""

    def __init__(self, ema: float) -> None:
        self.ema, self.lo, self.hi = ema, 0.0, None

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        if module.training:
            lo, hi = min(0.0, float(x.detach().min())), max(0.0, float(x.detach().max()))
            if self.hi is None:
                self.lo, self.hi = lo, hi
            else:
                self.lo += self.ema * (lo - self.lo)
                self.hi += self.ema * (hi - self.hi)
        if self.hi is None:
            return args
        scale, zp = self.qparams()
        return (torch.fake_quantize_per_tensor_affine(x, scale, zp, 0, 255), *args[1:])

    def qparams(self) -> tuple[float, int]:
        """UInt8 ``(scale, zero_point)`` of the learned range (the same the exported QDQ uses)."""
        scale = float(np.float32(max(self.hi - self.lo, 1e-8) / 255.0))
        return scale, int(min(255, max(0, round(-self.lo / scale))))


@contextlib.contextmanager
def frozen_batchnorm(module: nn.Module):
    """Batch-norms keep their running statistics while the rest trains: the exported graph folds
    them into the convolutions, and per-channel weight scales commute with that folding only if
    the statistics do not move under the simulated quantization."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.eval()
        m.train = types.MethodType(lambda self, mode=True: self, m)  # fit() calls module.train()
    try:
        yield
    finally:
        for m in norms:
            del m.train


def _quantizable(m: nn.Module) -> bool:
    return isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))


@register
class QAT(Technique):
    name = "QAT"
    title = "quantization-aware training, then static INT8"
    source = "Lee et al. 2022 (QAT); Jacob et al. 2018; onnxruntime static quantization (QDQ)"
    Config = QATConfig
    precision = "int8"
    needs_torch = True
    needs_calibration = True
    trains = True
    keeps_torch = False

    def training_cost(self, config: QATConfig) -> float:
        return 1.5  # fake quantization on every layer

    def apply(self, model, data, config: QATConfig, ctx: ApplyContext):
        module = working_copy(model, self.name)
        layers = [m for _, m in weight_layers(module) if _quantizable(m)]
        hooks, observers = [], {}
        for m in layers:
            parametrize.register_parametrization(m, "weight", _WeightFakeQuant())
            observers[m] = _InputFakeQuant(config.ema)
            hooks.append(m.register_forward_pre_hook(observers[m]))
        try:
            with frozen_batchnorm(module):
                recover(module, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr, alpha=0.5,
                        augment_pixels=0)
        finally:
            for h in hooks:
                h.remove()
            for m in layers:  # keep the trained weights on their INT8 grid
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        module.eval()
        order = call_order(module, layers, examples(model))
        fp32 = ctx.export(module, model, "qat_fp32.onnx")
        out = ctx.workdir / "qat.onnx"
        pre = preprocess(fp32.onnx_path, ctx.workdir / "qat_pre.onnx")
        ranges = learned_ranges(pre, [(m, observers[m]) for m in order])
        used = _quantize(pre, out, data, config, [i.name for i in model.inputs], ranges)
        atomic_write_text(ctx.workdir / "learned_ranges.json", json.dumps(
            {k: {"scale": float(v["scale"]), "zero_point": int(v["zero_point"])} for k, v in ranges.items()}))
        ctx.notes.update(calibration_samples=used, fake_quantized_layers=len(layers),
                         learned_ranges_used=len(ranges))
        for f in {fp32.onnx_path, pre}:
            f.unlink(missing_ok=True)
        return model.derive(out, None)


def call_order(module: nn.Module, layers: list[nn.Module], inputs) -> list[nn.Module]:
    """``layers`` in the order a forward pass calls them (each call listed once per call)."""
    seen: list[nn.Module] = []
    forward_with_hooks(module, inputs, [m.register_forward_pre_hook(lambda mod, _a: seen.append(mod)) for m in layers])
    return seen


def learned_ranges(onnx_path, calls: list[tuple[nn.Module, _InputFakeQuant]]) -> dict[str, dict]:
    """QDQ overrides ``{tensor: {"scale", "zero_point"}}`` for the input of each fake-quantized layer.

    The exported graph has one Conv/Gemm/MatMul node per layer call, in call order; the i-th
    call's learned range goes to the i-th such node's data input. When the graph does not line up
    (a layer exported as several nodes, or fused away), nothing is overridden and every tensor is
    calibrated instead (the caller reports how many ranges were used).
    """
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    nodes = [n for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    if len(nodes) != len(calls):
        return {}
    for n, (m, _) in zip(nodes, calls, strict=True):
        if n.op_type not in next(ops for kind, ops in _ONNX_OPS.items() if isinstance(m, kind)):
            return {}
    out: dict[str, dict] = {}
    for node, (_, obs) in zip(nodes, calls, strict=True):
        if obs.hi is None or node.input[0] in out:
            continue
        scale, zp = obs.qparams()
        out[node.input[0]] = {"scale": np.array(scale, dtype=np.float32), "zero_point": np.array(zp, dtype=np.uint8)}
    return out


def _quantize(src, dst, data, config: QATConfig, input_names: list[str], ranges: dict[str, dict]) -> int:
    """Static INT8 QDQ (per-channel weights, UInt8 activations) of ``src`` with ``ranges`` fixed."""
    reader = ArrayReader(data.calib, config.calibration_size, input_names)
    if reader.count == 0:
        raise TechniqueError("QAT needs calibration samples and the data set has none")
    try:
        with quiet():
            quantize_static(
                str(src), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"TensorQuantOverrides": {k: [v] for k, v in ranges.items()}},
            )
    except Exception as e:  # noqa: BLE001 - onnxruntime raises many types; the trial records it
        raise TechniqueError(f"QAT: onnxruntime static quantization failed: {str(e).splitlines()[0][:240]}") from None
    return reader.count
