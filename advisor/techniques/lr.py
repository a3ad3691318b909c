"""LR: low-rank factorization by truncated SVD, then recovery fine-tuning by distillation.

Source: the overview (low-rank factorization: SVD of fully-connected layers, CP/Tucker for
convolutions); Denton et al. 2014 / Jaderberg et al. 2014 (a kxk convolution as a rank-r kxk
convolution followed by a 1x1 one). ``Linear(in, out)`` becomes ``Linear(in, r)`` then
``Linear(r, out)``; a ``Conv(Cin -> Cout, kxk)`` becomes ``Conv(Cin -> r, kxk)`` then
``Conv(r -> Cout, 1x1)``, from the SVD of the kernel reshaped to ``(Cout, Cin*k*k)``. A layer is
factored only when that makes it smaller. Without fine-tuning, pretrained models collapse at
rank 50% (ecosystem.md), so the factored model is distilled from the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import (
    count_params,
    examples,
    recover,
    set_submodule,
    weight_layers,
    working_copy,
)

_MIN_WEIGHTS = 1024  # smaller layers are not worth two kernels


@dataclass(frozen=True)
class LRConfig(TechniqueConfig):
    rank_ratio: float = param(0.5, valid=(0.02, 1.0), search=(0.25, 0.75), step=0.05,
                              help="rank kept per layer, as a fraction of its full rank")
    epochs: float = param(2.0, valid=(0.0, 100.0), search=(1.0, 4.0), step=0.5,
                          help="recovery fine-tuning epochs (distillation from the original)")
    lr: float = param(1e-3, valid=(1e-6, 0.1), search=(3e-4, 3e-3), log=True,
                      help="AdamW learning rate of the recovery (cosine decay)")


def _split(w2d: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``w2d (out, in) ~= A (out, r) @ B (r, in)``, singular values shared as square roots."""
    u, s, vh = torch.linalg.svd(w2d, full_matrices=False)
    root = s[:rank].sqrt()
    return u[:, :rank] * root, root[:, None] * vh[:rank]


def factor(layer: nn.Module, ratio: float) -> nn.Module | None:
    """The factored replacement of ``layer``, or ``None`` when it would not be smaller."""
    w = layer.weight.detach()
    out_dim, in_dim = w.shape[0], w[0].numel()
    if w.numel() < _MIN_WEIGHTS or (isinstance(layer, nn.Conv2d) and layer.groups != 1):
        return None
    rank = max(1, int(round(ratio * min(out_dim, in_dim))))
    if rank * (out_dim + in_dim) >= out_dim * in_dim:
        return None
    a, b = _split(w.reshape(out_dim, in_dim), rank)
    has_bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        first, second = nn.Linear(in_dim, rank, bias=False), nn.Linear(rank, out_dim, bias=has_bias)
        first.weight.data.copy_(b)
        second.weight.data.copy_(a)
    else:
        first = nn.Conv2d(layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding,
                          layer.dilation, bias=False, padding_mode=layer.padding_mode)
        second = nn.Conv2d(rank, out_dim, 1, bias=has_bias)
        first.weight.data.copy_(b.reshape(rank, *w.shape[1:]))
        second.weight.data.copy_(a.reshape(out_dim, rank, 1, 1))
    if has_bias:
        second.bias.data.copy_(layer.bias.detach())
    return nn.Sequential(first, second)


def _still_runs(module: nn.Module, examples: tuple[torch.Tensor, ...]) -> bool:
    try:
        with torch.no_grad():
            module(*examples)
        return True
    except Exception:  # noqa: BLE001 - any failure means the layer is used other than by calling it
        return False


@register
class LR(Technique):
    name = "LR"
    title = "low-rank factorization (SVD)"
    source = "the overview (low-rank factorization); Denton et al. 2014; Jaderberg et al. 2014"
    Config = LRConfig
    changes = "factors"
    needs_torch = True
    trains = True
    keeps_torch = True
    then = ("FIQ",)

    def apply(self, model, data, config: LRConfig, ctx: ApplyContext):
        module = working_copy(model, self.name)
        before = count_params(module)
        inputs = examples(model)
        factored, old_params, new_params = [], 0, 0
        for name, layer in weight_layers(module):
            ctx.check()
            new = factor(layer, config.rank_ratio) if isinstance(layer, (nn.Linear, nn.Conv2d)) else None
            if new is None:
                continue
            set_submodule(module, name, new)
            if not _still_runs(module, inputs):  # e.g. attention reads out_proj.weight directly
                set_submodule(module, name, layer)
                continue
            old_params += count_params(layer)
            new_params += count_params(new)
            factored.append(name)
        if not factored:
            raise TechniqueError(
                f"LR: no Conv2d/Linear layer gets smaller at rank_ratio {config.rank_ratio} "
                f"(layers need >= {_MIN_WEIGHTS} weights and a rank below in*out/(in+out))"
            )
        recover(module, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr)
        module.eval()
        ctx.notes.update(factored_layers=len(factored), factored_params_before=old_params,
                         factored_params_after=new_params, params_before=before, params_after=count_params(module))
        return ctx.export(module, model)
