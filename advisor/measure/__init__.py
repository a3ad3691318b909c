"""Measurement of models on this device: latency, size, accuracy or fidelity, memory, energy.

Every figure the advisor shows as *measured* comes from here. Example:

    >>> ms = measure_models([baseline, candidate], splits, compress_seconds=[0.0, 1.2])  # doctest: +SKIP
    >>> ms[1].latency.p50_ms <= ms[1].latency.p90_ms  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from advisor.data import DataSplits
from advisor.errors import InputError
from advisor.measure.energy import energy_sensor
from advisor.measure.latency import sample_feed, time_models
from advisor.measure.memory import peak_memory_bytes
from advisor.measure.size import file_sizes
from advisor.progress import RunContext
from advisor.types import LatencyStats, Measurement, QualityFigure

if TYPE_CHECKING:  # types only: `advisor profile` imports advisor.measure without torch and scipy.stats (start-up)
    from advisor.measure.quality import OutputScoring
    from advisor.models import Model

__all__ = [
    "MeasureSettings",
    "measure_models",
    "measure_model",
    "time_all",
    "Reference",
    "reference_outputs",
    "quality_of",
    "time_models",
    "file_sizes",
    "peak_memory_bytes",
    "energy_sensor",
    "sample_feed",
]


@dataclass(frozen=True)
class MeasureSettings:
    """How to time: intra-op ``threads`` and ``spinning`` for the reported latency; optionally a
    second timing at ``all_threads``; about ``seconds`` of timed runs per model."""

    threads: int = 1
    spinning: bool = False
    all_threads: int | None = None
    seconds: float = 0.4
    memory: bool = True

    def __post_init__(self) -> None:
        """Raises :class:`~advisor.errors.InputError` naming the field (one line)."""
        for name, lo in (("threads", 1), ("all_threads", 1)):
            v = getattr(self, name)
            if v is None and name == "all_threads":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise InputError(f"measure setting '{name}' must be an integer >= {lo}, got {v!r}")
        s = self.seconds
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
            raise InputError(f"measure setting 'seconds' must be a finite number > 0, got {s!r}")


@dataclass(frozen=True)
class Reference:
    """The original model's outputs on the validation and test splits (what fidelity is measured
    against) and how each output is scored (:func:`~advisor.measure.quality.choose_scoring`)."""

    names: tuple[str, ...]
    val: list[np.ndarray]
    test: list[np.ndarray]
    scoring: tuple[OutputScoring, ...]

    def describe(self) -> str:
        """E.g. ``emb: cosine (rows of unit L2 norm (an embedding))``, one per scored output."""
        return "; ".join(f"{s.name}: {s.metric} ({s.rule})" for s in self.scoring)


def reference_outputs(baseline: Model, data: DataSplits, metric: str | None = None) -> Reference:
    """Run the original on the validation and test splits and choose each output's metric.

    ``metric`` is the user's ``--metric`` (default: ``data.metric_override``). Raises
    :class:`~advisor.errors.InputError` when it does not fit the outputs or the data.
    """
    from advisor.measure.quality import choose_scoring, run_outputs  # start-up: scipy.stats loads when scoring

    names = tuple(o.name for o in baseline.outputs)
    val = run_outputs(baseline.onnx_path, data.val)
    test = run_outputs(baseline.onnx_path, data.test)
    scoring = choose_scoring(names, test, labelled=data.labelled,
                             override=metric if metric is not None else data.metric_override)
    return Reference(names, val, test, scoring)


def quality_of(model: Model, data: DataSplits, reference: Reference, split: str = "validation"
               ) -> tuple[QualityFigure, dict[str, dict]]:
    """Accuracy (labelled) or fidelity to ``reference`` on the ``validation`` or ``test`` split,
    with its 95% interval, and per-output detail."""
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    from advisor.measure.quality import run_outputs, score  # start-up: scipy.stats loads when scoring

    part, ref = (data.val, reference.val) if split == "validation" else (data.test, reference.test)
    outs = run_outputs(model.onnx_path, part)
    return score(outs, ref, reference.scoring, reference.names, split=split, labels=part.labels)


def measure_model(
    model: Model,
    data: DataSplits,
    *,
    reference: Reference,
    latency: LatencyStats,
    latency_all_threads: LatencyStats | None = None,
    compress_seconds: float = 0.0,
    settings: MeasureSettings = MeasureSettings(),
    extra: dict | None = None,
) -> Measurement:
    """Everything but latency (given, from an interleaved timing): quality, sizes, memory.

    ``quality``/``selection`` come from the validation split (what choosing uses), ``reported``
    from the test split (what the advice reports; it takes no part in choosing).
    """
    raw, gz = file_sizes(model.onnx_path)
    selection, _ = quality_of(model, data, reference, "validation")
    reported, detail = quality_of(model, data, reference, "test")
    return Measurement(
        metric=data.metric,
        quality=selection.value,
        size_bytes=raw,
        size_compressed_bytes=gz,
        latency=latency,
        latency_all_threads=latency_all_threads,
        peak_memory_bytes=peak_memory_bytes(model.onnx_path, settings.threads) if settings.memory else -1,
        compress_seconds=float(compress_seconds),
        extra={**(extra or {}), "quality_detail": detail},
        selection=selection,
        reported=reported,
    )


def measure_models(
    models: Sequence[Model],
    data: DataSplits,
    *,
    reference: Reference,
    compress_seconds: Sequence[float] | None = None,
    settings: MeasureSettings = MeasureSettings(),
    ctx: RunContext | None = None,
    extras: Sequence[dict] | None = None,
) -> list[Measurement]:
    """Measure ``models`` on this device; latencies are timed interleaved in one run."""
    ctx = ctx or RunContext()
    lat, lat_all = time_all(models, data, settings, ctx)
    out = []
    for k, m in enumerate(models):
        ctx.check()
        ctx.report("measure", k / len(models), f"accuracy and size of {m.onnx_path.name}")
        out.append(measure_model(
            m, data, reference=reference, latency=lat[k], latency_all_threads=None if lat_all is None else lat_all[k],
            compress_seconds=0.0 if compress_seconds is None else compress_seconds[k], settings=settings,
            extra=None if extras is None else extras[k],
        ))
    return out


def time_all(
    models: Sequence[Model], data: DataSplits, settings: MeasureSettings, ctx: RunContext | None = None
) -> tuple[list[LatencyStats], list[LatencyStats] | None]:
    """Interleaved latency of ``models`` at ``settings.threads`` (and at ``all_threads`` if set)."""
    feed = sample_feed(models[0].inputs, data.test.inputs, batch=1)
    paths = [m.onnx_path for m in models]
    lat = time_models(paths, feed, threads=settings.threads, spinning=settings.spinning,
                      seconds=settings.seconds, ctx=ctx)
    lat_all = None
    if settings.all_threads and settings.all_threads != settings.threads:
        lat_all = time_models(paths, feed, threads=settings.all_threads, spinning=settings.spinning,
                              seconds=settings.seconds, ctx=ctx)
    return lat, lat_all
