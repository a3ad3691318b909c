"""QAT: quantization-aware fine-tuning, then onnxruntime static INT8 (QDQ) of the adapted model.

Source: Lee et al. 2022 (QAT); Jacob et al. 2018 (simulated quantization with a straight-through
estimator). The fine-tuning simulates exactly what the deployed graph does: weights symmetric
INT8 per output channel (``torch.fake_quantize_per_channel_affine``) and the input of every
Conv/Linear as per-tensor UInt8 with ranges tracked by an exponential moving average. The
adapted float model is then exported and quantized by onnxruntime's static QDQ quantizer
(:func:`~advisor.techniques.fiq.quantize_fiq`), whose calibration sees the QAT-adapted weights.

Why not torchao or ``torch.ao``: ``torch.ao.quantization`` is deprecated, torchao is not a
dependency, and either route ends in a graph onnxruntime must still quantize (or that exports
to slower QOperator/fake-quant patterns); the fused QDQ kernels of onnxruntime are the fast
path on x86 (see docs/techniques/QAT.md).
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import classifier_reason, recover, weight_layers, working_copy
from advisor.techniques.fiq import FIQConfig, quantize_fiq


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
        scale = max(self.hi - self.lo, 1e-8) / 255.0
        zp = int(min(255, max(0, round(-self.lo / scale))))
        return (torch.fake_quantize_per_tensor_affine(x, scale, zp, 0, 255), *args[1:])


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
    needs_torch = True
    needs_calibration = True
    trains = True
    keeps_torch = False

    def why_not(self, model, data, *, torch_available=None):
        return super().why_not(model, data, torch_available=torch_available) or classifier_reason(self.name, model)

    def apply(self, model, data, config: QATConfig, ctx: ApplyContext):
        module = working_copy(model, self.name)
        layers = [m for _, m in weight_layers(module) if _quantizable(m)]
        hooks = []
        for m in layers:
            parametrize.register_parametrization(m, "weight", _WeightFakeQuant())
            hooks.append(m.register_forward_pre_hook(_InputFakeQuant(config.ema)))
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
        fp32 = ctx.export(module, model, "qat_fp32.onnx")
        out = ctx.workdir / "qat.onnx"
        fiq = FIQConfig(calibration_size=config.calibration_size, method="minmax", per_channel=True)
        ctx.notes["calibration_samples"] = quantize_fiq(fp32.onnx_path, out, data, fiq,
                                                        [i.name for i in model.inputs])
        ctx.notes["fake_quantized_layers"] = len(layers)
        fp32.onnx_path.unlink(missing_ok=True)
        return model.derive(out, None)
