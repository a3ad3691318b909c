"""The one training loop every training-based technique uses (fine-tuning, distillation, QAT).

It trains any model the intake accepts: every input is fed (in the model's input order), and the
loss is summed over the outputs, each with the loss that fits it (:func:`output_kinds`): class
logits get Hinton et al.'s temperature-softened KL to the teacher (plus cross-entropy when labels
exist); embeddings, regression and state outputs get a scale-free MSE plus a cosine term. It
honours the :class:`~advisor.progress.RunContext` (progress and cancellation) and a compression
deadline: after a few timed steps it predicts when it will end and stops early, with the figure,
when that is past the deadline; past the deadline it stops at once. It counts its own wall time,
and is deterministic for a given seed and thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advisor.data import Dataset
from advisor.errors import OverTime, TechniqueError
from advisor.progress import RunContext

__all__ = [
    "fit",
    "FitResult",
    "output_kinds",
    "predict_outputs",
    "predict_logits",
    "kd_loss",
    "dense_loss",
    "evaluate_accuracy",
    "seconds_per_sample",
    "recalibrate_norms",
    "LOGITS",
    "DENSE",
    "SKIP",
]

LOGITS, DENSE, SKIP = "logits", "dense", "skip"
_TIMED_STEPS = 3  # steps timed (after the first, which warms up) before predicting the end


@dataclass(frozen=True)
class FitResult:
    steps: int
    seconds: float
    final_loss: float


def output_kinds(outputs: Sequence, *, classifier: bool, num_classes: int | None = None) -> list[str]:
    """The loss kind of each model output (``TensorSpec``-like: ``.shape``, ``.dtype``).

    ``logits`` for class scores (the model is a classifier, or labels name ``num_classes`` classes
    and the first output is ``(N, num_classes)``); ``dense`` for any other float output
    (embeddings, regression values, next state); ``skip`` for integer/bool outputs (no gradient).
    """
    kinds = []
    for i, o in enumerate(outputs):
        shape = tuple(o.shape)
        if np.dtype(o.dtype).kind != "f":
            kinds.append(SKIP)
        elif (classifier and i == 0) or (
            i == 0 and num_classes and len(shape) == 2 and shape[1] == num_classes and num_classes > 1
        ):
            kinds.append(LOGITS)
        else:
            kinds.append(DENSE)
    return kinds


def _tensors(data: Dataset, input_names: Sequence[str] | None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    names = list(input_names) if input_names else list(data.inputs)
    xs = [torch.from_numpy(np.ascontiguousarray(data.inputs[k])) for k in names]
    y = None if data.labels is None else torch.from_numpy(data.labels)
    return xs, y


def _shift(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (pad and crop), for image batches only."""
    if x.dim() != 4 or pad <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return xp[:, :, dy : dy + h, dx : dx + w]


def kd_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None, T: float, alpha: float
) -> torch.Tensor:
    """Hinton et al.'s response-based loss: ``alpha * T^2 * KL(soft) + (1 - alpha) * CE(hard)``.

    The hard targets are the labels, or without labels the teacher's top-1 class (hard
    distillation, as in Touvron et al. 2021): what agreement with the teacher measures.
    """
    s, t = student.reshape(len(student), -1), teacher.reshape(len(teacher), -1)
    soft = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    if alpha >= 1.0:
        return soft
    hard = t.argmax(1) if labels is None else labels
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(s, hard)


def dense_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Embeddings, regression and state outputs: MSE relative to the teacher's mean square (so
    outputs of any scale weigh alike) plus ``1 - cosine`` per sample."""
    s, t = student.reshape(len(student), -1).float(), teacher.reshape(len(teacher), -1).float()
    mse = F.mse_loss(s, t) / (t.pow(2).mean() + 1e-8)
    if s.shape[1] < 2:
        return mse
    return mse + (1.0 - F.cosine_similarity(s, t, dim=1, eps=1e-8)).mean()


def _as_list(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return list(out.values())
    return list(out)


def _loss(outs, teacher, kinds, labels, T, alpha) -> torch.Tensor:
    outs = _as_list(outs)
    if len(outs) != len(kinds):
        raise TechniqueError(f"the module returns {len(outs)} outputs, the model has {len(kinds)}")
    total = None
    for k, (o, kind) in enumerate(zip(outs, kinds, strict=True)):
        if kind == SKIP:
            continue
        if teacher is None:
            if kind != LOGITS or labels is None:
                continue
            term = F.cross_entropy(o.reshape(len(o), -1), labels)
        elif kind == LOGITS:
            term = kd_loss(o, teacher[k], labels, T, alpha)
        else:
            term = dense_loss(o, teacher[k])
        total = term if total is None else total + term
    if total is None:
        raise TechniqueError("no output of this model can be trained (no float output with a target)")
    return total


def fit(
    module: nn.Module,
    data: Dataset,
    *,
    epochs: float,
    lr: float,
    ctx: RunContext,
    stage: str,
    teacher: Sequence[np.ndarray] | None = None,
    kinds: Sequence[str] | None = None,
    input_names: Sequence[str] | None = None,
    temperature: float = 4.0,
    alpha: float = 0.7,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    augment_pixels: int = 2,
    on_step: Callable[[int, int], None] | None = None,
    max_steps: int | None = None,
    deadline: float | None = None,
    freeze_norms: bool = False,
) -> FitResult:
    """Train ``module`` in place for ``epochs`` passes (fractions allowed) with AdamW and a cosine rate.

    Args:
        teacher: the original model's outputs on ``data`` (one array per output); if given, distil
            from them, else cross-entropy on labels.
        kinds: each output's loss kind (:func:`output_kinds`); default: one ``logits`` output.
        input_names: the model's inputs in call order (default: the data's order).
        on_step: called as ``on_step(step, total_steps)`` before each optimiser step (pruning
            schedules hook in here).
        max_steps: cap on optimiser steps, whatever ``epochs`` says (the search's step budget).
        deadline: a ``time.monotonic()`` value training must end by (the compression-time limit).
        freeze_norms: batch-norms keep their running statistics (eval mode; their scale and shift
            still train). Fine-tuning a trained model on a few hundred samples needs it: with
            batch statistics in training and running ones at inference the model learns under
            one normalisation and is deployed under another.

    Raises:
        TechniqueError: no labels and no teacher, or the loss became NaN.
        OverTime: the deadline passed, or a few timed steps predict it cannot be met.
        Cancelled: the context was cancelled.
    """
    if epochs <= 0 or (max_steps is not None and max_steps <= 0):
        module.eval()
        return FitResult(0, 0.0, float("nan"))  # a structural dry run: no training at all
    xs, y = _tensors(data, input_names)
    if y is None and teacher is None:
        raise TechniqueError(f"{stage} needs labelled data or a teacher to train from")
    kinds = list(kinds or [LOGITS])
    t_out = None if teacher is None else [torch.from_numpy(np.asarray(t)) for t in teacher]
    if t_out is not None:
        t_out = [t.float() if t.is_floating_point() else t for t in t_out]
    n = len(data)
    if n == 0:
        raise TechniqueError(f"{stage}: the training split is empty")
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    total = max(1, int(round(epochs * steps_per_epoch)))
    if max_steps is not None:
        total = max(1, min(total, max_steps))
    gen = torch.Generator().manual_seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    augment = augment_pixels if len(xs) == 1 and xs[0].is_floating_point() else 0
    module.train()
    if freeze_norms:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    t0 = time.perf_counter()
    t_warm = None
    step, loss_v = 0, float("nan")
    while step < total:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            if step >= total:
                break
            ctx.check()
            if step == 1:
                t_warm = time.monotonic()  # step 0 warmed up: time the next few
            if deadline is not None:
                per_step = (time.monotonic() - t_warm) / _TIMED_STEPS if step == 1 + _TIMED_STEPS else None
                _check_deadline(stage, deadline, step, total, per_step)
            idx = order[start : start + batch_size]
            batch = [x[idx] for x in xs]
            if augment:
                batch = [_shift(batch[0], gen, augment)]
            if on_step is not None:
                on_step(step, total)
            labels = None if y is None else y[idx]
            loss = _loss(module(*batch), None if t_out is None else [t[idx] for t in t_out], kinds, labels,
                         temperature, alpha)
            if not torch.isfinite(loss):
                raise TechniqueError(f"{stage}: training diverged (loss is {loss.item()}) at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_v = float(loss.item())
            if step % 5 == 0 or step == total:
                ctx.report(stage, step / total, f"step {step}/{total}, loss {loss_v:.3f}")
    module.eval()
    return FitResult(step, time.perf_counter() - t0, loss_v)


def _check_deadline(stage: str, deadline: float, step: int, total: int, per_step: float | None) -> None:
    """Raise :class:`OverTime` past ``deadline``, or when ``per_step`` (seconds per step, timed on
    this device) predicts the remaining steps cannot end by it."""
    now = time.monotonic()
    if now >= deadline:
        raise OverTime(f"{stage}: stopped at the compression-time limit after {step} of {total} training steps")
    if per_step is not None and now + per_step * (total - step) > deadline:
        raise OverTime(
            f"{stage}: {total - step} more training steps at {per_step:.2f} s each (timed on this device) "
            f"predict {per_step * (total - step):.0f} s, and the compression-time limit leaves {deadline - now:.0f} s"
        )


def seconds_per_sample(
    module: nn.Module, data: Dataset, input_names: Sequence[str] | None = None, *, steps: int = 2, batch_size: int = 16
) -> float:
    """Measured seconds of one training step's forward and backward pass per sample, on this
    device (the module is not changed: its gradients are cleared and its mode restored)."""
    xs, _ = _tensors(data.take(slice(0, batch_size)), input_names)
    was_training = module.training
    module.train()
    best = float("inf")
    try:
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            outs = _as_list(module(*xs))
            loss = sum(o.float().pow(2).mean() for o in outs if o.is_floating_point())
            if isinstance(loss, torch.Tensor) and loss.requires_grad:
                loss.backward()
            best = min(best, time.perf_counter() - t0)
    finally:
        module.zero_grad(set_to_none=True)
        module.train(was_training)
    return best / max(1, len(xs[0]))


@torch.no_grad()
def recalibrate_norms(module: nn.Module, data: Dataset, input_names: Sequence[str] | None = None, *,
                      samples: int = 256, batch_size: int = 32) -> int:
    """Re-estimate every batch-norm's running statistics on ``data`` (a cumulative average over
    up to ``samples`` samples; weights unchanged), after a structural change such as removed
    channels or blocks made the stored ones stale. Returns the number of batch-norms."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(data) == 0:
        return 0
    was_training = module.training
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    module.train()
    try:
        names = list(input_names) if input_names else list(data.inputs)
        for inputs, _ in data.take(slice(0, samples)).batches(batch_size):
            module(*[torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in names])
    finally:
        for m, mom in zip(norms, saved, strict=True):
            m.momentum = mom
        module.train(was_training)
    return len(norms)


@torch.no_grad()
def predict_outputs(module: nn.Module, data: Dataset, input_names: Sequence[str] | None = None,
                    batch_size: int = 256) -> list[np.ndarray]:
    """Every output of ``module`` (eval mode) on every sample of ``data``."""
    module.eval()
    names = list(input_names) if input_names else list(data.inputs)
    chunks: list[list[np.ndarray]] = []
    for inputs, _ in data.batches(batch_size):
        outs = _as_list(module(*[torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in names]))
        if not chunks:
            chunks = [[] for _ in outs]
        for c, o in zip(chunks, outs, strict=True):
            c.append(o.numpy())
    return [np.concatenate(c) for c in chunks]


def predict_logits(module: nn.Module, data: Dataset, batch_size: int = 256) -> np.ndarray:
    """The first output of ``module`` (eval mode) on every sample of ``data``."""
    return predict_outputs(module, data, batch_size=batch_size)[0]


def evaluate_accuracy(module: nn.Module, data: Dataset) -> float:
    """Top-1 accuracy of ``module`` on labelled ``data`` (torch, for training-time checks only)."""
    if data.labels is None:
        raise TechniqueError("accuracy needs labels")
    return float((predict_logits(module, data).argmax(1) == data.labels).mean())
