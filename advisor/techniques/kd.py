"""KD: distil the model into a smaller copy of itself (fewer channels, fewer repeated blocks).

Source: Lee et al. 2022 (KD: +4.5 points at the same size and latency); Rachmanto et al. 2024
(KD ranked best: up to 11.4x smaller, 78.67% faster); Hinton et al. 2015 (temperature-softened
targets); torch-pruning 1.6 (DepGraph, Fang et al. 2023) to thin the teacher uniformly.

The default student is the teacher itself made smaller: whole repeated blocks whose input and
output shapes match (residual blocks) are dropped down to the ``depth`` fraction, then every
prunable layer keeps the ``width`` fraction of its channels (by L2 magnitude, residual additions
and depthwise groups kept consistent). The student starts from the teacher's surviving weights
and is distilled from the original's outputs (run by onnxruntime), one loss term per output
(:mod:`advisor.training`); labels are optional. ``student`` names a factory of one's own instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advisor.errors import InputError, NotApplicable
from advisor.models import import_factory, is_factory_spec
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import (
    count_params,
    examples,
    forward_with_hooks,
    onnx_params,
    output_shapes,
    prune_channels,
    recover,
    working_copy,
)

__all__ = ["KD", "KDConfig", "Skip", "droppable_blocks", "drop_blocks", "derive_student", "check_smaller"]

_ROUND_TO = 8  # channel counts stay multiples of 8 (SIMD-friendly kernels)


@dataclass(frozen=True)
class KDConfig(TechniqueConfig):
    width: float = param(0.5, valid=(0.1, 1.0), search=(0.25, 0.75), step=0.125,
                         help="fraction of each layer's channels the student keeps (teacher-derived student)")
    depth: float = param(1.0, valid=(0.0, 1.0), search=(0.5, 1.0), step=0.25,
                         help="fraction of the repeated residual blocks the student keeps")
    epochs: float = param(5.0, valid=(0.05, 500.0), search=(3.0, 12.0), step=1.0,
                          help="distillation epochs (the student starts from the teacher's weights)")
    lr: float = param(1e-3, valid=(1e-5, 0.1), search=(3e-4, 3e-3), log=True,
                      help="AdamW learning rate (cosine decay)")
    temperature: float = param(4.0, valid=(1.0, 20.0), search=(2.0, 8.0),
                               help="softening temperature T of teacher and student class scores")
    alpha: float = param(0.9, valid=(0.0, 1.0), search=(0.5, 1.0), step=0.1,
                         help="weight of the soft (teacher) loss; 1 - alpha goes to labels if present")
    student: str = param("", help="module:factory or path/to/file.py:factory of a student of your own "
                                  "(default: derived from the teacher by width and depth)")

    def check(self) -> None:
        if self.student and not is_factory_spec(self.student):
            raise InputError(self._msg("student", "module:factory or path/to/file.py:factory", self.student))


class Skip(nn.Module):
    """A dropped block: returns its first input (extra arguments such as drop rates are ignored)."""

    def forward(self, x, *args, **kwargs):  # noqa: ARG002 - the block's call signature
        return x


def droppable_blocks(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[tuple[str, int]]:
    """Blocks the student may drop, as ``(name, index in its run)``.

    A block is a composite child of a ``Sequential``/``ModuleList`` with weights, of the same class
    as a neighbour (the network repeats it), whose output has its input's shape on ``inputs``
    (a residual block: without it the next layer still gets what it expects). The index counts
    from 1 along each run of consecutive droppable blocks, so later repeats drop first.
    """
    shapes: dict[str, tuple] = {}

    def record(full: str):
        def hook(_m, args, out) -> None:
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if full not in shapes:
                shapes[full] = (None if first is None else tuple(first.shape),
                                tuple(out.shape) if isinstance(out, torch.Tensor) else ())
        return hook

    hooks, containers = [], []
    for name, m in module.named_modules():
        if isinstance(m, (nn.Sequential, nn.ModuleList)):
            kids = [(f"{name}.{c}" if name else c, k) for c, k in m.named_children()]
            containers.append(kids)
            hooks += [k.register_forward_hook(record(full)) for full, k in kids]
    forward_with_hooks(module, inputs, hooks)
    found: list[tuple[str, int]] = []
    for kids in containers:
        run = 0
        for i, (full, k) in enumerate(kids):
            repeated = any(0 <= j < len(kids) and type(kids[j][1]) is type(k) for j in (i - 1, i + 1))
            composite = next(k.children(), None) is not None and any(True for _ in k.parameters())
            io = shapes.get(full)
            if repeated and composite and io is not None and io[0] == io[1]:
                run += 1
                found.append((full, run))
            else:
                run = 0
    return found


def drop_blocks(module: nn.Module, inputs: tuple[torch.Tensor, ...], depth: float) -> list[str]:
    """Replace all but ``depth`` of the droppable blocks by :class:`Skip`; returns the dropped names."""
    blocks = droppable_blocks(module, inputs)
    n_drop = int(round((1.0 - depth) * len(blocks)))
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i][1], -i))
    dropped: list[str] = []
    for i in order:
        if len(dropped) == n_drop:
            break
        name = blocks[i][0]
        if any(name.startswith(d + ".") or d.startswith(name + ".") for d in dropped):
            continue  # nested in (or holding) a block already dropped
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        parent._modules[child] = Skip()
        dropped.append(name)
    return dropped


def derive_student(model, width: float, depth: float, technique: str = "KD") -> tuple[nn.Module, dict]:
    """The teacher's PyTorch module made smaller (a copy; the teacher is unchanged), and notes."""
    student = working_copy(model, technique)
    inputs = examples(model)
    dropped = drop_blocks(student, inputs, depth) if depth < 1.0 else []
    if width < 1.0:
        prune_channels(student, model, 1.0 - width, _ROUND_TO, technique)
    return student, {"student": f"teacher at width {width:g}, depth {depth:g}", "blocks_dropped": len(dropped)}


def named_student(spec: str, model) -> nn.Module:
    """The student ``spec`` (``module:factory`` or ``path/to/file.py:factory``, resolved as ``--model``
    is) names; its outputs must match the model's."""
    student = import_factory(spec, "KD.student")
    want = [tuple(d for d in o.concrete(batch=2)) for o in model.outputs]
    try:
        with torch.no_grad():
            got = output_shapes(student.eval()(*examples(model)))
    except Exception as e:  # noqa: BLE001 - the user's module failed on the model's inputs
        raise InputError(f"KD.student {spec} does not accept the model's inputs: {type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}") from None
    if got != want:
        raise InputError(f"KD.student {spec} must return outputs shaped like the model's {want}; it returns {got}")
    for p in student.parameters():
        p.requires_grad_(True)
    return student


def check_smaller(technique: str, student, model, what: str) -> int:
    """The student's parameter count; raises :class:`NotApplicable` unless it is smaller than ``model``."""
    n = count_params(student)
    teacher = count_params(model.module) if model.module is not None else onnx_params(model)
    if n >= teacher:
        raise NotApplicable(
            f"{technique}: the student ({what}) has {n:,} parameters, not fewer than the model's "
            f"{teacher:,}; choose a smaller width or depth"
        )
    return n


@register
class KD(Technique):
    name = "KD"
    title = "knowledge distillation into a smaller copy of the model"
    source = "Lee et al. 2022 (KD); Rachmanto et al. 2024; Hinton et al. 2015; torch-pruning (DepGraph)"
    Config = KDConfig
    changes = "student"
    needs_torch = True
    trains = True
    keeps_torch = True
    then = ("FIQ", "F16", "PRN")
    needs_torch_reason = ("KD derives its student from the model's PyTorch module and this model is an ONNX "
                          "graph only: give --model package.module:factory with --weights, or name a student "
                          "with --param KD.student=package.module:factory (CA trains a compact architecture "
                          "from scratch instead)")

    def needs_torch_with(self, config: KDConfig) -> bool:
        return not config.student  # a named student needs only the teacher's outputs

    def training_cost(self, config: KDConfig) -> float:
        # the derived student is thinner: multiply-adds scale ~ width^2, and with the blocks kept
        return 1.0 if config.student else max(0.05, config.width ** 2 * (0.5 + 0.5 * config.depth))

    def validate(self, model, config: KDConfig) -> None:
        if config.student:
            named_student(config.student, model)

    def apply(self, model, data, config: KDConfig, ctx: ApplyContext):
        if config.student:
            student, notes = named_student(config.student, model), {"student": config.student}
        else:
            ctx.run.report(self.name, 0.0, f"deriving the student (width {config.width:g}, depth {config.depth:g})")
            student, notes = derive_student(model, config.width, config.depth, self.name)
        n = check_smaller(self.name, student, model, notes["student"])
        ctx.check()
        recover(student, data, ctx, stage=self.name, epochs=config.epochs, lr=config.lr,
                temperature=config.temperature, alpha=config.alpha, recalibrate=not config.student)
        student.eval()
        ctx.notes.update(notes, student_params=n)
        ctx.notes.setdefault("train_steps", 0)
        return ctx.export(student, model)
