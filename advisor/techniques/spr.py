"""SPR: structured channel pruning that physically removes channels, then fine-tuning.

Source: the overview (structured pruning: remove whole filters/channels so dense kernels get
faster) and research.md ("the speed-up needs structured removal"); torch-pruning 1.6's
dependency graph (Fang et al. 2023, DepGraph) keeps residual additions, depthwise groups and
batch-norms consistent. Multiply-adds are counted from the exported ONNX graph, not by
torch-pruning's counter (it under-counts on Conv2d subclasses).
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.models import describe
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import (
    count_params,
    prune_channels,
    recover,
    working_copy,
)


@dataclass(frozen=True)
class SPRConfig(TechniqueConfig):
    pruning_ratio: float = param(0.5, valid=(0.05, 0.95), search=(0.25, 0.75), step=0.05,
                                 help="fraction of channels removed from each prunable layer")
    epochs: float = param(3.0, valid=(0.0, 100.0), search=(1.0, 6.0), step=0.5,
                          help="fine-tuning epochs after pruning (0: no recovery)")
    lr: float = param(1e-3, valid=(1e-6, 0.1), search=(3e-4, 3e-3), log=True,
                      help="AdamW learning rate of the fine-tuning (cosine decay)")
    round_to: int = param(4, valid=(1, 64), help="keep channel counts multiples of this (SIMD-friendly)")


@register
class SPR(Technique):
    name = "SPR"
    title = "structured channel pruning"
    source = "the overview (structured pruning); torch-pruning 1.6 (DepGraph, Fang et al. 2023)"
    Config = SPRConfig
    changes = "channels"
    needs_torch = True
    trains = True
    keeps_torch = True
    then = ("FIQ",)

    def apply(self, model, data, config: SPRConfig, ctx: ApplyContext):
        module = working_copy(model, self.name)
        before = count_params(module)
        ctx.run.report(self.name, 0.0, f"removing {config.pruning_ratio:.0%} of the channels")
        prune_channels(module, model, config.pruning_ratio, config.round_to, self.name)
        after = count_params(module)
        recover(module, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr, recalibrate=True)
        module.eval()
        out = ctx.export(module, model)
        macs_before, macs_after = describe(model.onnx_path).macs, describe(out.onnx_path).macs
        ctx.notes.update(params_before=before, params_after=after, params_kept=round(after / before, 4),
                         macs_before=macs_before, macs_after=macs_after,
                         macs_kept=round(macs_after / max(1, macs_before), 4))
        return out
