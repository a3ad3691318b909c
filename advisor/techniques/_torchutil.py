"""PyTorch helpers shared by the training-based techniques (PRN, SPR, QAT, KD, CA, LR).

Everything here works on a *copy* of the caller's module: techniques never mutate the model
they were given (a search applies many strategies to the same original).
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from advisor.errors import NotApplicable, TechniqueError
from advisor.models import describe
from advisor.models.zoo import DSCNN, MLP
from advisor.training import FitResult, fit, recalibrate_norms

if TYPE_CHECKING:
    from advisor.data import DataSplits
    from advisor.models import Model
    from advisor.techniques._base import ApplyContext

__all__ = [
    "forward_with_hooks",
    "working_copy",
    "weight_layers",
    "count_params",
    "set_submodule",
    "recover",
    "student_reason",
    "build_student",
    "examples",
    "output_shapes",
    "output_layers",
    "prune_channels",
    "onnx_params",
]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def working_copy(model: Model, technique: str) -> nn.Module:
    """A deep copy of ``model.module`` in eval mode with every parameter trainable."""
    if model.module is None:
        raise NotApplicable(f"{technique} needs the PyTorch model, and this step has only an ONNX graph")
    module = copy.deepcopy(model.module).eval()
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def weight_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of every convolution and fully-connected layer, in definition order."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (*_CONV, nn.Linear))]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the sub-module at dotted path ``name`` (``body.0.conv1.0``) by ``new``."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def recover(
    module: nn.Module,
    data: DataSplits,
    ctx: ApplyContext,
    *,
    stage: str,
    epochs: float,
    lr: float,
    temperature: float = 4.0,
    alpha: float = 0.5,
    distill: bool = True,
    augment_pixels: int = 0,
    on_step=None,
    batch_size: int = 32,
    recalibrate: bool = False,
) -> FitResult | None:
    """Fine-tune ``module`` for ``epochs * ctx.train_scale`` epochs; ``None`` when that is zero.

    With ``distill`` the loss is distillation from the *original* model's outputs (computed by
    onnxruntime, so it works for any teacher), one term per output (:mod:`advisor.training`),
    plus cross-entropy on labels weighted by ``1 - alpha`` for class logits; without it plain
    cross-entropy on labels. Every input of the model is fed; training stops at ``ctx.deadline``.
    Batches of 32: fine-tuning a trained model on a few hundred samples needs steps more than
    large batches. Batch-norms are frozen (:func:`~advisor.training.fit`'s ``freeze_norms``);
    with ``recalibrate`` (after channels or blocks were removed) their running statistics are
    first re-estimated on the training split.
    """
    scaled = epochs * ctx.train_scale
    if scaled <= 0:
        return None
    names = [i.name for i in ctx.original.inputs]
    if recalibrate:
        recalibrate_norms(module, data.train, names)
    teacher = ctx.teacher_outputs(data) if distill else None
    result = fit(
        module, data.train, epochs=scaled, lr=lr, ctx=ctx.run, stage=stage, teacher=teacher,
        kinds=ctx.output_kinds(data), input_names=names, freeze_norms=True,
        temperature=temperature, alpha=alpha, augment_pixels=augment_pixels, on_step=on_step,
        deadline=ctx.deadline, batch_size=batch_size,
    )
    ctx.notes["train_steps"] = result.steps
    ctx.notes["train_seconds"] = round(result.seconds, 3)
    ctx.notes["train_epochs"] = round(scaled, 3)
    return result


def examples(model: Model, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Zero tensors for every input of ``model`` (tracing and shape checks)."""
    return tuple(torch.zeros(s.concrete(batch=batch), dtype=getattr(torch, s.dtype)) for s in model.inputs)


def output_shapes(out) -> list[tuple[int, ...]]:
    """Shapes of a module's output(s) (a tensor, tuple, list or dict)."""
    if isinstance(out, dict):
        out = list(out.values())
    return [tuple(o.shape) for o in (out if isinstance(out, (tuple, list)) else (out,))]


def forward_with_hooks(module: nn.Module, inputs: tuple[torch.Tensor, ...], hooks: list, *, grad: bool = False):
    """One forward pass of ``module`` with ``hooks`` (handles from ``register_forward_*hook``)
    in place, removed afterwards even if the pass fails; returns the module's output."""
    try:
        with torch.set_grad_enabled(grad):
            return module(*inputs)
    finally:
        for h in hooks:
            h.remove()


def output_layers(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[nn.Module]:
    """Layers whose outputs reach a model output without passing through another weight layer
    (directly, or through activations, reshapes, normalisation...): their output channels must stay.

    Found by walking the autograd graph back from each output to the nearest layer outputs.
    """
    produced: dict[object, nn.Module] = {}

    def hook(mod, _i, out):
        if isinstance(out, torch.Tensor) and out.grad_fn is not None:
            produced[out.grad_fn] = mod

    out = forward_with_hooks(module, inputs, [m.register_forward_hook(hook) for _, m in weight_layers(module)],
                             grad=True)
    if isinstance(out, dict):
        out = list(out.values())
    outs = out if isinstance(out, (tuple, list)) else (out,)
    found: list[nn.Module] = []
    seen: set = set()
    stack = [o.grad_fn for o in outs if isinstance(o, torch.Tensor) and o.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if fn in produced:
            if produced[fn] not in found:
                found.append(produced[fn])
            continue
        stack.extend(f for f, _ in fn.next_functions)
    return found


def prune_channels(module: nn.Module, model: Model, ratio: float, round_to: int, technique: str) -> None:
    """Remove ``ratio`` of the channels of every prunable layer of ``module`` in place, by L2
    magnitude, with torch-pruning's dependency graph (residual additions, depthwise groups and
    batch-norms stay consistent); the layers producing model outputs keep their channels.

    Raises:
        TechniqueError: tracing or pruning failed, the output shapes changed, or nothing was removed.
    """
    inputs = examples(model)
    with torch.no_grad():
        before_shapes = output_shapes(module(*inputs))
    before = count_params(module)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruner = tp.pruner.BasePruner(
                module, inputs if len(inputs) > 1 else inputs[0],
                importance=tp.importance.MagnitudeImportance(p=2),
                pruning_ratio=ratio, ignored_layers=output_layers(module, inputs),
                round_to=round_to if round_to > 1 else None,
            )
            pruner.step()
        with torch.no_grad():
            after_shapes = output_shapes(module(*inputs))
    except Exception as e:  # noqa: BLE001 - tracing/pruning failures of arbitrary models
        raise TechniqueError(
            f"{technique}: torch-pruning could not prune this model: {str(e).splitlines()[0][:240]}"
        ) from None
    if after_shapes != before_shapes:
        raise TechniqueError(f"{technique}: pruning changed the model's output shape {before_shapes} -> {after_shapes}")
    if count_params(module) >= before:
        raise TechniqueError(f"{technique} found no channels it could remove from this model")


def student_reason(technique: str, model: Model) -> str | None:
    """Why the built-in student family (DSCNN for images, MLP for feature vectors) cannot replace
    ``model``, or ``None``."""
    if len(model.inputs) != 1:
        return f"{technique} builds a student with one input; this model has {len(model.inputs)} inputs"
    if not model.is_classifier:
        return (
            f"{technique} trains a compact classifier, and this model's output is not one "
            f"(N, classes) tensor of class scores"
        )
    spec = model.inputs[0]
    if np.dtype(spec.dtype).kind != "f":
        return f"{technique} students take float inputs; this model's input is {spec.dtype}"
    dims = spec.shape[1:]
    if any(d is None for d in dims) or len(dims) not in (1, 3):
        return (
            f"{technique} students take images (N, C, H, W) or feature vectors (N, F) of fixed size; "
            f"this model's input has shape {list(spec.shape)}"
        )
    return None


def build_student(model: Model, width: float, seed: int) -> nn.Module:
    """The compact student for ``model``'s input: a MobileNet-style DSCNN for images, else an MLP."""
    reason = student_reason("the student", model)
    if reason:
        raise NotApplicable(reason)
    torch.manual_seed(seed)
    dims = model.inputs[0].shape[1:]
    classes = model.num_outputs_per_sample
    if len(dims) == 3:
        c, h, w = dims
        return DSCNN(in_channels=c, num_classes=classes, width=width, stride_stem=2 if min(h, w) >= 32 else 1)
    hidden = max(8, int(round(64 * width)))
    return MLP(in_features=dims[0], num_classes=classes, hidden=(hidden, hidden))


def onnx_params(model: Model) -> int:
    """Parameters of ``model``'s ONNX graph (works for ONNX-only teachers)."""
    try:
        return describe(model.onnx_path).params
    except Exception as e:  # noqa: BLE001 - a broken graph would have failed at load time
        raise TechniqueError(f"cannot count the parameters of {model.onnx_path.name}: {e}") from None
