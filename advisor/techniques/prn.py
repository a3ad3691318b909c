"""PRN: unstructured magnitude pruning, raised gradually while fine-tuning, exported dense.

Source: Lee et al. 2022 (PRN: magnitude pruning with sparsity raised over ~60-70 steps during
training; PRQ = PRN then BLQ); Zhu & Gupta 2017's polynomial schedule
``s_t = s_f * (1 - (1 - t)^3)``; ``torch.nn.utils.prune`` for the masks.

Zeros shrink neither the dense ONNX file nor its latency: PRN's gain is the *compressed* size
(gzip), which the measurement reports next to the raw size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn.utils import prune

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import recover, weight_layers, working_copy


@dataclass(frozen=True)
class PRNConfig(TechniqueConfig):
    sparsity: float = param(0.8, valid=(0.0, 0.99), search=(0.5, 0.95), step=0.05,
                            help="fraction of Conv/Linear weights set to zero at the end")
    epochs: float = param(3.0, valid=(0.0, 100.0), search=(1.0, 6.0), step=0.5,
                          help="fine-tuning epochs while sparsity rises (0: one-shot, no training)")
    lr: float = param(5e-4, valid=(1e-6, 0.1), search=(2e-4, 2e-3), log=True,
                      help="AdamW learning rate of the fine-tuning (cosine decay)")
    ramp: float = param(0.6, valid=(0.05, 1.0), help="fraction of the fine-tuning over which sparsity rises")
    updates: int = param(64, valid=(1, 1000), help="pruning updates along the ramp (Lee et al.: ~60-70)")
    scope: str = param("global", choices=("global", "layer"), search=("global",),
                       help="rank weights by magnitude across all layers, or within each layer")


def _zeros(module: torch.nn.Module) -> int:
    return int((module.weight_mask == 0).sum()) if hasattr(module, "weight_mask") else 0


def prune_to(layers: list[torch.nn.Module], sparsity: float, scope: str) -> None:
    """Raise the magnitude-pruning masks of ``layers`` to ``sparsity`` (never un-prunes)."""
    if scope == "global":
        total = sum(m.weight.numel() for m in layers)
        extra = int(round(sparsity * total)) - sum(_zeros(m) for m in layers)
        if extra > 0:
            prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured,
                                      amount=extra)
        return
    for m in layers:
        extra = int(round(sparsity * m.weight.numel())) - _zeros(m)
        if extra > 0:
            prune.l1_unstructured(m, "weight", amount=extra)


def measured_sparsity(layers: list[torch.nn.Module]) -> float:
    total = sum(m.weight.numel() for m in layers)
    return sum(int((m.weight == 0).sum()) for m in layers) / max(1, total)


class _Schedule:
    """Zhu & Gupta's cubic ramp, applied in ``updates`` increments over the first ``ramp`` of training."""

    def __init__(self, layers, cfg: PRNConfig) -> None:
        self.layers, self.cfg, self.done = layers, cfg, -1

    def __call__(self, step: int, total: int) -> None:
        ramp_steps = max(1, int(math.ceil(self.cfg.ramp * total)))
        k = min(self.cfg.updates, int(math.ceil((step + 1) / ramp_steps * self.cfg.updates)))
        if k > self.done:
            self.done = k
            target = self.cfg.sparsity * (1.0 - (1.0 - k / self.cfg.updates) ** 3)
            with torch.no_grad():
                prune_to(self.layers, target, self.cfg.scope)


@register
class PRN(Technique):
    name = "PRN"
    title = "magnitude pruning (unstructured, gradual)"
    source = "Lee et al. 2022 (PRN); Zhu & Gupta 2017 (gradual schedule); torch.nn.utils.prune"
    Config = PRNConfig
    changes = "zeros"
    needs_torch = True
    trains = True
    keeps_torch = True
    then = ("FIQ", "BLQ")  # PRN+BLQ is Lee et al.'s PRQ

    def apply(self, model, data, config: PRNConfig, ctx: ApplyContext):
        module = working_copy(model, self.name)
        # Depthwise/grouped kernels hold few weights and each one is a whole channel's filter:
        # pruning them cripples compact (MobileNet-style) models for almost no size gain.
        layers = [m for _, m in weight_layers(module) if getattr(m, "groups", 1) == 1]
        if not layers:
            raise TechniqueError("PRN found no Conv or Linear weights to prune")
        schedule = _Schedule(layers, config)
        trained = recover(module, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr,
                          on_step=schedule if config.sparsity > 0 else None)
        with torch.no_grad():
            prune_to(layers, config.sparsity, config.scope)  # one-shot, or the last increments
        for m in layers:
            if prune.is_pruned(m):
                prune.remove(m, "weight")
        module.eval()
        achieved = measured_sparsity(layers)
        ctx.notes.update(
            sparsity=round(achieved, 4),
            prunable_weights=sum(m.weight.numel() for m in layers),
            schedule="one-shot" if trained is None else f"cubic ramp, {config.updates} updates",
        )
        return ctx.export(module, model)
