"""PyTorch helpers shared by the training-based techniques (PRN, SPR, QAT, KD, CA, LR).

Everything here works on a *copy* of the caller's module: techniques never mutate the model
they were given (a search applies many strategies to the same original).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from advisor.errors import NotApplicable, TechniqueError
from advisor.training import FitResult, fit

if TYPE_CHECKING:
    from advisor.data import DataSplits
    from advisor.models import Model
    from advisor.techniques._base import ApplyContext

__all__ = [
    "working_copy",
    "weight_layers",
    "count_params",
    "set_submodule",
    "recover",
    "classifier_reason",
    "student_reason",
    "build_student",
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
) -> FitResult | None:
    """Fine-tune ``module`` for ``epochs * ctx.train_scale`` epochs; ``None`` when that is zero.

    With ``distill`` the loss is distillation from the *original* model's outputs (computed by
    onnxruntime, so it works for any teacher) plus cross-entropy on labels weighted by ``alpha``;
    without it (or when there is no teacher) plain cross-entropy on labels.
    """
    scaled = epochs * ctx.train_scale
    if scaled <= 0:
        return None
    teacher = ctx.teacher_logits(data) if distill else None
    result = fit(
        module, data.train, epochs=scaled, lr=lr, ctx=ctx.run, stage=stage, teacher_logits=teacher,
        temperature=temperature, alpha=alpha, augment_pixels=augment_pixels, on_step=on_step,
    )
    ctx.notes["train_steps"] = result.steps
    ctx.notes["train_seconds"] = round(result.seconds, 3)
    ctx.notes["train_epochs"] = round(scaled, 3)
    return result


def classifier_reason(technique: str, model: Model) -> str | None:
    """Why fine-tuning with class scores cannot apply to ``model``, or ``None``."""
    if not model.is_classifier:
        return (
            f"{technique} fine-tunes on class scores (labels or the original's soft outputs), and this "
            f"model's output is not one (N, classes) tensor"
        )
    return None


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
    from advisor.models.zoo import DSCNN, MLP

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
    from advisor.models import describe

    try:
        return describe(model.onnx_path).params
    except Exception as e:  # noqa: BLE001 - a broken graph would have failed at load time
        raise TechniqueError(f"cannot count the parameters of {model.onnx_path.name}: {e}") from None
