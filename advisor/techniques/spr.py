"""SPR: structured channel pruning that physically removes channels, then fine-tuning.

Source: the overview (structured pruning: remove whole filters/channels so dense kernels get
faster) and research.md ("the speed-up needs structured removal"); torch-pruning 1.6's
dependency graph (Fang et al. 2023, DepGraph) keeps residual additions, depthwise groups and
batch-norms consistent. Multiply-adds are counted from the exported ONNX graph, not by
torch-pruning's counter (it under-counts on Conv2d subclasses).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from advisor.errors import TechniqueError
from advisor.models import describe
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import (
    classifier_reason,
    count_params,
    recover,
    weight_layers,
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


def _examples(model) -> tuple[torch.Tensor, ...]:
    return tuple(torch.zeros(s.concrete(batch=2), dtype=getattr(torch, s.dtype)) for s in model.inputs)


def _output_layers(module: torch.nn.Module, examples) -> list[torch.nn.Module]:
    """Layers whose output *is* a model output: their output channels must stay."""
    produced: dict[int, torch.nn.Module] = {}
    hooks = [m.register_forward_hook(lambda mod, _i, out: produced.__setitem__(id(out), mod))
             for _, m in weight_layers(module)]
    try:
        with torch.no_grad():
            out = module(*examples)
    finally:
        for h in hooks:
            h.remove()
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [produced[id(o)] for o in outs if id(o) in produced]


def _shapes(out) -> list[tuple[int, ...]]:
    return [tuple(o.shape) for o in (out if isinstance(out, (tuple, list)) else (out,))]


@register
class SPR(Technique):
    name = "SPR"
    title = "structured channel pruning"
    source = "the overview (structured pruning); torch-pruning 1.6 (DepGraph, Fang et al. 2023)"
    Config = SPRConfig
    needs_torch = True
    trains = True
    keeps_torch = True

    def why_not(self, model, data, *, torch_available=None):
        return super().why_not(model, data, torch_available=torch_available) or classifier_reason(self.name, model)

    def apply(self, model, data, config: SPRConfig, ctx: ApplyContext):
        import torch_pruning as tp

        module = working_copy(model, self.name)
        examples = _examples(model)
        with torch.no_grad():
            before_shapes = _shapes(module(*examples))
        before = count_params(module)
        ignored = _output_layers(module, examples)
        ctx.run.report(self.name, 0.0, f"removing {config.pruning_ratio:.0%} of the channels")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pruner = tp.pruner.BasePruner(
                    module, examples if len(examples) > 1 else examples[0],
                    importance=tp.importance.MagnitudeImportance(p=2),
                    pruning_ratio=config.pruning_ratio, ignored_layers=ignored,
                    round_to=config.round_to if config.round_to > 1 else None,
                )
                pruner.step()
            with torch.no_grad():
                after_shapes = _shapes(module(*examples))
        except Exception as e:  # noqa: BLE001 - tracing/pruning failures of arbitrary models
            raise TechniqueError(f"SPR: torch-pruning could not prune this model: {str(e).splitlines()[0][:240]}") from None
        if after_shapes != before_shapes:
            raise TechniqueError(f"SPR: pruning changed the model's output shape {before_shapes} -> {after_shapes}")
        after = count_params(module)
        if after >= before:
            raise TechniqueError("SPR found no channels it could remove from this model")
        recover(module, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr)
        module.eval()
        out = ctx.export(module, model)
        macs_before, macs_after = describe(model.onnx_path).macs, describe(out.onnx_path).macs
        ctx.notes.update(params_before=before, params_after=after, params_kept=round(after / before, 4),
                         macs_before=macs_before, macs_after=macs_after,
                         macs_kept=round(macs_after / max(1, macs_before), 4))
        return out
