"""The measuring of one problem here: the original's reference outputs, a candidate's figures.

Every figure the advisor shows as *measured* comes from here. Example:

    >>> ms = measure_models([baseline, candidate], splits, compress_seconds=[0.0, 1.2])  # doctest: +SKIP
    >>> ms[1].latency.p50_ms <= ms[1].latency.p90_ms  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from advisor.data import Dataset, DataSplits
from advisor.measure.energy import energy_sensor
from advisor.measure.latency import sample_feed, time_models
from advisor.measure.memory import peak_memory_bytes
from advisor.measure.paired import DEFAULT_CONFIDENCE
from advisor.measure.quality import (
    OutputScoring,
    Runner,
    choose_scoring,
    run_outputs,
    sample_scores,
    scales_of,
    score,
)
from advisor.measure.race import race
from advisor.measure.settings import MeasureSettings
from advisor.measure.size import file_sizes
from advisor.models import Model
from advisor.progress import RunContext
from advisor.types import DropFigure, LatencyStats, Measurement, QualityFigure

__all__ = [
    "MeasureSettings",
    "measure_models",
    "measure_model",
    "time_all",
    "Reference",
    "reference_outputs",
    "quality_of",
    "paired_quality",
    "original_drop",
    "DEFAULT_CONFIDENCE",
    "time_models",
    "file_sizes",
    "peak_memory_bytes",
    "energy_sensor",
    "sample_feed",
]


@dataclass(frozen=True)
class Reference:
    """The original model's outputs on the validation and test splits (what fidelity is measured
    against), how each output is scored (:func:`~advisor.measure.quality.choose_scoring`), and the
    original's own per-sample scores on each split (what a candidate's paired drop is against:
    its correctness with labels, all 1 for fidelity)."""

    names: tuple[str, ...]
    val: list[np.ndarray]
    test: list[np.ndarray]
    scoring: tuple[OutputScoring, ...]
    val_scores: dict[str, np.ndarray]
    test_scores: dict[str, np.ndarray]

    def describe(self) -> str:
        """E.g. ``emb: cosine (rows of unit L2 norm (an embedding))``, one per scored output."""
        return "; ".join(f"{s.name}: {s.metric} ({s.rule})" for s in self.scoring)

    def part(self, data: DataSplits, split: str) -> tuple[Dataset, list[np.ndarray], dict[str, np.ndarray]]:
        """The split's samples, the original's outputs on them and its per-sample scores."""
        if split == "validation":
            return data.val, self.val, self.val_scores
        if split == "test":
            return data.test, self.test, self.test_scores
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")

    @property
    def metrics(self) -> dict[str, str]:
        return {s.name: s.metric for s in self.scoring}


def reference_outputs(baseline: Model, data: DataSplits, metric: str | None = None) -> Reference:
    """Run the original on the validation and test splits and choose each output's metric.

    ``metric`` is the user's ``--metric`` (default: ``data.metric_override``). Raises
    :class:`~advisor.errors.InputError` when it does not fit the outputs or the data.
    """
    names = tuple(o.name for o in baseline.outputs)
    runner = Runner(baseline.onnx_path)
    val = runner.run(data.val)
    test = runner.run(data.test)
    scoring = choose_scoring(names, test, labelled=data.labelled,
                             override=metric if metric is not None else data.metric_override)

    def own(outs: list[np.ndarray], part: Dataset) -> dict[str, np.ndarray]:
        return sample_scores(outs, outs, scoring, names, labels=part.labels)

    return Reference(names, val, test, scoring, own(val, data.val), own(test, data.test))


def quality_of(model: Model, data: DataSplits, reference: Reference, split: str = "validation"
               ) -> tuple[QualityFigure, dict[str, dict]]:
    """Accuracy (labelled) or fidelity to ``reference`` on the ``validation`` or ``test`` split,
    with its 95% interval, and per-output detail."""
    part, ref, _ = reference.part(data, split)
    outs = run_outputs(model.onnx_path, part)
    return score(outs, ref, reference.scoring, reference.names, split=split, labels=part.labels)


def paired_quality(
    model: Model,
    data: DataSplits,
    reference: Reference,
    split: str = "validation",
    *,
    max_drop_pts: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    runner: Runner | None = None,
) -> tuple[DropFigure, QualityFigure, dict[str, dict]]:
    """The candidate's paired drop against the original on ``split``, and its own figure there.

    With ``max_drop_pts`` the split is raced (:func:`advisor.measure.race.race`): scored on growing
    chunks until the drop is clearly on one side of the limit; without, every sample once. The
    figure and the per-output detail are on the samples the race used.
    """
    part, ref, own = reference.part(data, split)
    runner = runner or Runner(model.onnx_path)
    scales = scales_of(ref, reference.scoring, reference.names)
    outs: list[list[np.ndarray]] = []

    def chunk(a: int, b: int) -> dict[str, np.ndarray]:
        got = runner.run(part.take(slice(a, b)))
        outs.append(got)
        ref_chunk = [r[a:b] for r in ref]
        labels = None if part.labels is None else part.labels[a:b]
        return sample_scores(got, ref_chunk, reference.scoring, reference.names, labels=labels, scales=scales)

    drop = race(chunk, own, metrics=reference.metrics, limit_pts=max_drop_pts, split=split,
                confidence=confidence, groups=part.groups)
    used = [np.concatenate([o[k] for o in outs]) for k in range(len(reference.names))]
    figure, detail = score(used, [r[: drop.n] for r in ref], reference.scoring, reference.names, split=split,
                           labels=None if part.labels is None else part.labels[: drop.n])
    return drop, figure, detail


def original_drop(reference: Reference, data: DataSplits, split: str, confidence: float) -> DropFigure:
    """The original against itself: a drop of exactly 0 (no uncertainty: it *is* the original)."""
    part, _, _ = reference.part(data, split)
    return DropFigure(0.0, 0.0, 0.0, len(part), reference.scoring[0].metric, split, "the original itself",
                      confidence, sd=0.0, of=len(part), output=reference.scoring[0].name)


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
    max_drop_pts: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    test: bool = True,
) -> Measurement:
    """Everything but latency (given, from an interleaved timing): quality, sizes, memory.

    ``quality``/``selection``/``drop`` come from the validation split (what choosing uses; raced
    against ``max_drop_pts`` when given); with ``test``, ``reported``/``confirmation`` from the
    test split (what the advice reports; it takes no part in choosing). A search measures test
    only for its pick (:func:`confirm`).
    """
    raw, gz = file_sizes(model.onnx_path)
    runner = Runner(model.onnx_path)
    drop, selection, detail = paired_quality(model, data, reference, "validation", max_drop_pts=max_drop_pts,
                                             confidence=confidence, runner=runner)
    reported = confirmation = None
    if test:
        confirmation, reported, detail = paired_quality(model, data, reference, "test", confidence=confidence,
                                                        runner=runner)
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
        drop=drop,
        confirmation=confirmation,
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
                      seconds=settings.seconds, ctx=ctx, device=settings.device)
    lat_all = None
    if settings.all_threads and settings.all_threads != settings.threads:
        lat_all = time_models(paths, feed, threads=settings.all_threads, spinning=settings.spinning,
                              seconds=settings.seconds, ctx=ctx, device=settings.device)
    return lat, lat_all
