"""Apply a strategy to a model: run its steps in order, time the whole, collect each step's notes.

Example:
    >>> result = compress(model, splits, Strategy.parse("FIQ"), workdir=tmp)  # doctest: +SKIP
    >>> result.model.onnx_path.name, result.seconds > 0  # doctest: +SKIP
    ('fiq.onnx', True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.data import DataSplits
from advisor.errors import AdvisorError, NotApplicable, TechniqueError
from advisor.models import Model
from advisor.progress import RunContext
from advisor.strategies import Strategy
from advisor.techniques import ApplyContext, get_technique

__all__ = ["Compressed", "compress"]


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
    reason = strategy.why_not(model, data)
    if reason:
        raise NotApplicable(reason)
    used: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    current = model
    if strategy.trains or any(get_technique(s).needs_torch for s in strategy.steps):
        notes["torch_threads"] = ctx.apply_torch_threads()
    t0 = time.perf_counter()
    for step, cfg in zip(strategy.steps, configs, strict=True):
        ctx.check()
        ctx.report(step, 0.0, f"{strategy.name}: {step}")
        step_dir = workdir / f"{len(used)}-{step.lower()}"
        step_dir.mkdir(parents=True, exist_ok=True)
        actx = ApplyContext(run=ctx, workdir=step_dir, original=model, train_scale=train_scale,
                            teacher_cache=teacher_cache if teacher_cache is not None else {})
        try:
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


def _check_onnx(path: Path, name: str) -> None:
    """Every strategy's output must be valid ONNX, not merely something onnxruntime accepts."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TechniqueError(f"{name} produced an invalid ONNX model: {first}") from None
