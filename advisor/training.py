"""The one training loop every training-based technique uses (fine-tuning, distillation, QAT).

It honours the :class:`~advisor.progress.RunContext` (progress and cancellation), counts its own
wall time, and is deterministic for a given seed and thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advisor.data import Dataset
from advisor.errors import TechniqueError
from advisor.progress import RunContext

__all__ = ["fit", "FitResult", "predict_logits", "kd_loss", "evaluate_accuracy"]


@dataclass(frozen=True)
class FitResult:
    steps: int
    seconds: float
    final_loss: float


def _tensors(data: Dataset) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    xs = [torch.from_numpy(np.ascontiguousarray(v)) for v in data.inputs.values()]
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


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None, T: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s response-based loss: ``alpha * T^2 * KL(soft) + (1 - alpha) * CE(hard)``.

    Without labels only the soft term is used (distillation needs no labels).
    """
    soft = F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher / T, 1), reduction="batchmean") * T * T
    if labels is None or alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student, labels)


def fit(
    module: nn.Module,
    data: Dataset,
    *,
    epochs: float,
    lr: float,
    ctx: RunContext,
    stage: str,
    teacher_logits: np.ndarray | None = None,
    temperature: float = 4.0,
    alpha: float = 0.7,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    augment_pixels: int = 2,
    on_step: Callable[[int, int], None] | None = None,
    max_steps: int | None = None,
) -> FitResult:
    """Train ``module`` in place for ``epochs`` passes (fractions allowed) with AdamW and a cosine rate.

    Args:
        teacher_logits: if given, distil from them (:func:`kd_loss`); else cross-entropy on labels.
        on_step: called as ``on_step(step, total_steps)`` before each optimiser step (pruning
            schedules hook in here).
        max_steps: cap on optimiser steps, whatever ``epochs`` says (the search's step budget).

    Raises:
        TechniqueError: no labels and no teacher, or the loss became NaN.
        Cancelled: the context was cancelled.
    """
    if epochs <= 0 or (max_steps is not None and max_steps <= 0):
        module.eval()
        return FitResult(0, 0.0, float("nan"))  # a structural dry run: no training at all
    xs, y = _tensors(data)
    if y is None and teacher_logits is None:
        raise TechniqueError(f"{stage} needs labelled data or a teacher to train from")
    t_logits = None if teacher_logits is None else torch.from_numpy(np.asarray(teacher_logits, dtype=np.float32))
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
    module.train()
    t0 = time.perf_counter()
    step, loss_v = 0, float("nan")
    while step < total:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            if step >= total:
                break
            ctx.check()
            idx = order[start : start + batch_size]
            batch = [x[idx] for x in xs]
            if augment_pixels and len(batch) == 1:
                batch = [_shift(batch[0], gen, augment_pixels)]
            if on_step is not None:
                on_step(step, total)
            out = module(*batch)
            labels = None if y is None else y[idx]
            if t_logits is not None:
                loss = kd_loss(out, t_logits[idx], labels, temperature, alpha)
            else:
                loss = F.cross_entropy(out, labels)
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


@torch.no_grad()
def predict_logits(module: nn.Module, data: Dataset, batch_size: int = 256) -> np.ndarray:
    """Outputs of ``module`` (eval mode) on every sample of ``data``."""
    module.eval()
    outs = []
    for inputs, _ in data.batches(batch_size):
        outs.append(module(*[torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()]).numpy())
    return np.concatenate(outs)


def evaluate_accuracy(module: nn.Module, data: Dataset) -> float:
    """Top-1 accuracy of ``module`` on labelled ``data`` (torch, for training-time checks only)."""
    if data.labels is None:
        raise TechniqueError("accuracy needs labels")
    return float((predict_logits(module, data).argmax(1) == data.labels).mean())
