"""Apply a strategy to a model: run its steps in order, time the whole, collect each step's notes.

Example:
    >>> result = compress(model, splits, Strategy.parse("FIQ"), workdir=tmp)  # doctest: +SKIP
    >>> result.model.onnx_path.name, result.seconds > 0  # doctest: +SKIP
    ('fiq.onnx', True)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from advisor.data import DataSplits
from advisor.errors import AdvisorError, NotApplicable, TechniqueError
from advisor.models import Model, describe
from advisor.progress import RunContext
from advisor.strategies import Strategy
from advisor.techniques import ApplyContext, get_technique
from advisor.training import seconds_per_sample

__all__ = ["Compressed", "compress", "predict_seconds", "validate"]


@dataclass(frozen=True)
class Compressed:
    """The outcome of one strategy: the model, every parameter used, wall time, and step notes."""

    strategy: Strategy
    params: dict[str, Any]
    model: Model
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)


def compress(
    model: Model,
    data: DataSplits,
    strategy: Strategy,
    params: dict[str, Any] | None = None,
    *,
    workdir: Path,
    ctx: RunContext | None = None,
    train_scale: float = 1.0,
    teacher_cache: dict | None = None,
) -> Compressed:
    """Run ``strategy`` on ``model``; ``seconds`` is the wall time of all its steps.

    Raises:
        InputError: a parameter is unknown or out of range (before any work is done).
        NotApplicable: a step cannot apply to this model/data (its message says why).
        TechniqueError: a step failed.
        Cancelled: ``ctx`` was cancelled.
    """
    ctx = ctx or RunContext()
    configs = strategy.configs(params)  # validate everything first
    validate(model, strategy, params)
    reason = strategy.why_not(model, data, configs)
    if reason:
        raise NotApplicable(reason)
    used: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    current = model
    if strategy.trains or any(t.needs_torch_with(c) for t, c in zip(strategy.techniques, configs, strict=True)):
        notes["torch_threads"] = ctx.apply_torch_threads()
    t0 = time.perf_counter()
    deadline = None if ctx.compress_limit is None else time.monotonic() + ctx.compress_limit
    for step, cfg in zip(strategy.steps, configs, strict=True):
        ctx.check()
        ctx.report(step, 0.0, f"{strategy.name}: {step}")
        step_dir = workdir / f"{len(used)}-{step.lower()}"
        step_dir.mkdir(parents=True, exist_ok=True)
        actx = ApplyContext(run=ctx, workdir=step_dir, original=model, train_scale=train_scale,
                            teacher_cache=teacher_cache if teacher_cache is not None else {}, deadline=deadline)
        try:
            actx.check()
            current = get_technique(step).run(current, data, cfg, actx)
        except AdvisorError:
            raise
        except MemoryError:
            raise TechniqueError(f"{step} ran out of memory on this device") from None
        except Exception as e:  # noqa: BLE001 - a bug in one technique must not end the search
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise TechniqueError(f"{step} failed: {type(e).__name__}: {first}") from e
        used.update({f"{step}.{k}": v for k, v in cfg.to_dict().items()})
        notes.update({f"{step}.{k}": v for k, v in actx.notes.items()})
        ctx.report(step, 1.0, f"{strategy.name}: {step} done")
    seconds = time.perf_counter() - t0
    _check_onnx(current.onnx_path, strategy.name)
    return Compressed(strategy, used, current, seconds, notes)


def validate(model: Model, strategy: Strategy, params: dict[str, Any] | None = None) -> None:
    """Check ``params`` against ``model`` before any work or output (each step's
    :meth:`~advisor.techniques.Technique.validate`); raises :class:`~advisor.errors.InputError`."""
    for step, cfg in zip(strategy.steps, strategy.configs(params), strict=True):
        get_technique(step).validate(model, cfg)


_ASSUMED_FLOPS = 2e9  # training FLOP/s assumed for a model without a PyTorch module (no timing)


def predict_seconds(
    model: Model,
    data: DataSplits,
    strategy: Strategy,
    params: dict[str, Any] | None = None,
    *,
    train_scale: float = 1.0,
    cache: dict | None = None,
) -> tuple[float, str]:
    """Predicted compression seconds of ``strategy`` before it runs, and how it was predicted.

    The prior is FLOPs x samples x epochs: the original's multiply-adds (x 6 for forward and
    backward) times training samples times each training step's epochs. Where the PyTorch module
    exists the rate is timed on this device (a few forward+backward steps, cached in ``cache``
    per model); otherwise an assumed rate is used and the text says so. Steps that do not train
    count nothing (they take seconds, not minutes).
    """
    configs = strategy.configs(params)
    samples = len(data.train)
    epochs = [(s, c, getattr(c, "epochs", 0.0) * train_scale) for s, c in zip(strategy.steps, configs, strict=True)
              if get_technique(s).trains]
    if not epochs or samples == 0:
        return 0.0, "no training step"
    cache = cache if cache is not None else {}
    key = str(model.onnx_path)
    if key not in cache:
        if model.module is not None:
            t = seconds_per_sample(copy.deepcopy(model.module), data.train, [i.name for i in model.inputs])
            cache[key] = (t, "timed on this device")
        else:
            t = 6.0 * max(1, describe(model.onnx_path).macs) / _ASSUMED_FLOPS
            cache[key] = (t, f"from FLOPs at an assumed {_ASSUMED_FLOPS / 1e9:g} GFLOP/s")
    per_sample, how = cache[key]
    total = sum(per_sample * samples * e * get_technique(s).training_cost(c) for s, c, e in epochs)
    what = " + ".join(f"{s} {e:g} epochs" for s, _, e in epochs)
    return total, f"{what} x {samples} samples at {per_sample * 1e3:.1f} ms per sample ({how})"


def _check_onnx(path: Path, name: str) -> None:
    """Every strategy's output must be valid ONNX, not merely something onnxruntime accepts."""
    try:
        onnx.checker.check_model(str(path))
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TechniqueError(f"{name} produced an invalid ONNX model: {first}") from None
