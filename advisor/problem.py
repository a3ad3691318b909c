"""A compression problem: the user's model and data loaded, the original measured once.

Everything downstream (single compressions, the ranking, the search, the TUI) works on a
:class:`Problem`, so loading and validation happen in exactly one place and fail before anything
is written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from advisor.artifacts import ArtifactRef
from advisor.budget import DEFAULT_CONFIDENCE, Budget
from advisor.compress import Compressed, compress
from advisor.data import DIGITS_INPUT_SHAPE, DataSplits, load_data
from advisor.decide import BASELINE_LATENCY_KEY
from advisor.errors import InputError, TechniqueError
from advisor.measure import (
    MeasureSettings,
    Reference,
    measure_model,
    measure_models,
    original_drop,
    paired_quality,
    reference_outputs,
    sample_feed,
    time_all,
)
from advisor.measure.latency import race_models
from advisor.measure.onboard import Board
from advisor.measure.size import file_sizes
from advisor.models import BUILTIN_MODELS, GraphInfo, Model, describe, is_factory_spec, load_model
from advisor.profiling import predict_latency
from advisor.progress import RunContext
from advisor.strategies import Strategy
from advisor.types import LatencyStats, Measurement

if TYPE_CHECKING:  # types only: advisor.profiling is loaded where a profile is used
    from advisor.measure.remote import Target
    from advisor.profiling import DeviceProfile

__all__ = ["Problem", "Evaluation", "open_problem", "problem_from_parts", "earlier_run", "PREDICTION_FACTOR"]

# Without an interval from the predictor, a predicted p50 gets [p50 / 2.5, p50 * 2.5]: the worst
# errors measured for the predictor were 2.46x over (tiny MLPs) -- docs/profiles.md.
PREDICTION_FACTOR = 2.5


@dataclass(frozen=True)
class Evaluation:
    """One measured candidate: what was done and what it measured, or why it failed.

    ``strategy`` is the canonical strategy name (``KD+FIQ``) and ``params`` its parameters: what
    re-runs the candidate. :attr:`label` (``KD+FIQ(width=0.5) #3``) is for display only.
    """

    strategy: str
    params: dict
    measurement: Measurement | None
    error: str | None = None
    notes: dict = field(default_factory=dict)  # the technique's notes
    model_path: Path | None = None
    trial: int | None = None  # the study's trial number
    train_scale: float = 1.0  # the training budget it was measured at (x the technique's epochs)
    variant: str = ""  # display: the strategy with its non-default parameters; default ``strategy``
    artifact: ArtifactRef | None = None  # the measured model in the study's artifact store

    def __post_init__(self) -> None:
        if not self.variant:
            object.__setattr__(self, "variant", self.strategy)

    @property
    def ok(self) -> bool:
        return self.measurement is not None

    @property
    def label(self) -> str:
        """``PRN(sparsity=0.9) #4``: the variant and its trial number, for display only."""
        return self.variant if self.trial is None else f"{self.variant} #{self.trial}"


@dataclass
class Problem:
    """The loaded model and data, the original's measurement and outputs, and a scratch folder."""

    model: Model
    data: DataSplits
    reference: Reference  # the original's outputs on validation and test, and each output's metric
    baseline: Measurement
    graph: GraphInfo
    settings: MeasureSettings
    workdir: Path
    _owns_workdir: bool = True
    _counter: int = 0
    target: DeviceProfile | None = None  # a DeviceProfile of a device not at hand: latency is predicted for it
    teacher_cache: dict = field(default_factory=dict)  # the original's outputs on the training split
    # the ranking's dry runs of this problem, (strategy, profile name) -> (static facts, why it failed)
    dry_runs: dict[tuple[str, str | None], tuple[dict[str, float] | None, str | None]] = field(default_factory=dict)
    board: Board | None = None  # a measuring target: every figure is measured there (advisor.measure.remote)

    def retarget(self, profile: DeviceProfile) -> None:
        """Report latency for ``profile``'s device, which is not this one: every latency (the
        original's and each candidate's) becomes the profiler's prediction for that device
        (``source="predicted"`` with its 95% interval), scaled to p90 by the p90/p50 spread
        measured here. Accuracy, size and compression time stay measured. The measured-here
        figures are kept in ``extra``."""
        self.target = profile
        self.baseline = self._predicted(self.model, self.baseline)

    def _predicted(self, model: Model, m: Measurement) -> Measurement:
        threads = self.target.derived.suggested_threads
        pred = predict_latency(model.onnx_path, self.target, threads=threads)
        iv = getattr(pred, "interval_ms", None)
        how = "the predictor's 95% interval"
        if iv is None:  # no interval from the predictor: the conservative default (docs/measurement.md)
            iv = (pred.p50_ms / PREDICTION_FACTOR, pred.p50_ms * PREDICTION_FACTOR)
            how = f"conservative default: predicted p50 / {PREDICTION_FACTOR:g} to x {PREDICTION_FACTOR:g}"
        spread = m.latency.p90_ms / m.latency.p50_ms if m.latency.p50_ms > 0 else 1.0
        lat = LatencyStats(pred.p50_ms, pred.p50_ms * spread, 0, threads, self.target.derived.suggested_spinning,
                           source="predicted", profile=self.target.name,
                           interval_ms=(float(iv[0]), float(iv[1])))
        extra = dict(m.extra, latency_source=f"predicted for profile {self.target.name}",
                     latency_interval=how, latency_measured_here=m.latency.to_dict())
        if BASELINE_LATENCY_KEY in m.extra:  # a candidate: its ratio is to the original's prediction
            extra["baseline_latency_measured_here"] = extra.pop(BASELINE_LATENCY_KEY)
            extra["latency_ratio_measured_here"] = extra.pop("latency_ratio", None)
            extra[BASELINE_LATENCY_KEY] = self.baseline.latency.to_dict()
            extra["latency_ratio"] = round(lat.p50_ms / self.baseline.latency.p50_ms, 4)
        return replace(m, latency=lat, latency_all_threads=None, extra=extra)

    def close(self) -> None:
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Problem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def new_dir(self, label: str) -> Path:
        self._counter += 1
        d = self.workdir / f"c{self._counter:04d}-{label.replace('+', '_').lower()}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def evaluate(
        self,
        strategy: Strategy | str,
        params: dict | None = None,
        *,
        ctx: RunContext | None = None,
        train_scale: float = 1.0,
        budget: Budget | None = None,
        test: bool = True,
    ) -> tuple[Compressed, Measurement]:
        """Compress with ``strategy`` and measure the result, timed interleaved with the original.

        The candidate's latency comes from the same run as a fresh timing of the original: that
        timing is the candidate's same-run baseline (``extra["baseline_latency"]``, read with
        :func:`advisor.decide.same_run_baseline`; speed-ups and the latency-ratio limit use it),
        and ``extra["latency_ratio"]`` holds candidate p50 / original p50 from that run. With
        ``budget``, validation is raced against its accuracy limit at its confidence; with ``test``
        the test split is measured too (a search leaves it for its pick: :meth:`confirm`).
        """
        ctx = ctx or RunContext()
        s = Strategy.parse(strategy) if isinstance(strategy, str) else strategy
        if s.is_baseline:
            return Compressed(s, {}, self.model, 0.0, {}), self.baseline
        result = compress(self.model, self.data, s, params, workdir=self.new_dir(s.name), ctx=ctx,
                          train_scale=train_scale, teacher_cache=self.teacher_cache)
        if self.board is not None:
            return result, self._on_board(s, result, budget, test)
        lat, lat_all = time_all([self.model, result.model], self.data, self.settings, ctx)
        ratio = lat[1].p50_ms / lat[0].p50_ms
        extra = dict(result.notes, latency_ratio=round(ratio, 4))
        extra[BASELINE_LATENCY_KEY] = lat[0].to_dict()
        if s.trains:
            extra["trained_on"] = self.data.trained_on
        if lat_all is not None:
            extra["latency_ratio_all_threads"] = round(lat_all[1].p50_ms / lat_all[0].p50_ms, 4)
        m = measure_model(result.model, self.data, reference=self.reference, latency=lat[1],
                          latency_all_threads=None if lat_all is None else lat_all[1],
                          compress_seconds=result.seconds, settings=self.settings, extra=extra,
                          max_drop_pts=None if budget is None else budget.max_accuracy_drop,
                          confidence=DEFAULT_CONFIDENCE if budget is None else budget.confidence, test=test)
        if self.target is not None:
            m = self._predicted(result.model, m)
        return result, m

    def _on_board(self, s: Strategy, result: Compressed, budget: Budget | None, test: bool) -> Measurement:
        """The candidate measured on the measuring target (timed with the original there, scored
        with the board's numerics); sizes and compression time from here."""
        confidence = DEFAULT_CONFIDENCE if budget is None else budget.confidence
        splits = ("validation", "test") if test else ("validation",)
        (orig, cand), figs, memory = self.board.measure(result.model.onnx_path, splits=splits, confidence=confidence,
                                                        label=s.name)
        drop, selection, detail = figs["validation"]
        extra = dict(result.notes, latency_ratio=round(cand.p50_ms / orig.p50_ms, 4), measured_on=self.board.device)
        extra[BASELINE_LATENCY_KEY] = orig.to_dict()
        if s.trains:
            extra["trained_on"] = self.data.trained_on
        raw, gz = file_sizes(result.model.onnx_path)
        reported = confirmation = None
        if test:
            confirmation, reported, detail = figs["test"]
        return Measurement(self.data.metric, selection.value, raw, gz, cand, memory, result.seconds,
                           extra={**extra, "quality_detail": detail}, selection=selection, reported=reported,
                           drop=drop, confirmation=confirmation)

    def race(self, paths: Sequence[Path], resolved, ctx: RunContext | None = None) -> list[LatencyStats]:
        """The final race: the original (first) and the models at ``paths`` timed together,
        interleaved, in rounds until ``resolved(figures)`` or four rounds (see
        :func:`advisor.measure.latency.race_models`). Figures for a device not at hand stay predicted."""
        if self.board is not None:
            return self.board.race(list(paths))
        feed = sample_feed(self.model.inputs, self.data.test.inputs, batch=1)
        return race_models([self.model.onnx_path, *paths], feed, resolved, threads=self.settings.threads,
                           spinning=self.settings.spinning, seconds=self.settings.seconds, ctx=ctx,
                           device=self.settings.device)

    def confirm(self, model: Model | Path, confidence: float = DEFAULT_CONFIDENCE) -> tuple:
        """The untouched test split's verdict material for ``model``: its paired drop against the
        original there (one look, all of the split) and its own figure with the 95% interval."""
        m = model if isinstance(model, Model) else Model(str(model), Path(model), self.model.inputs,
                                                          self.model.outputs, None)
        if self.board is not None:
            return self.board.confirm(m.onnx_path, confidence)
        drop, figure, _ = paired_quality(m, self.data, self.reference, "test", confidence=confidence)
        return drop, figure


def open_problem(
    model: str,
    data: str | None = None,
    *,
    weights: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    settings: MeasureSettings | None = None,
    ctx: RunContext | None = None,
    workdir: Path | None = None,
    train_data: str | None = None,
    metric: str | None = None,
    strategies: Sequence[str] | None = None,
    trains: bool | None = None,
    measure_on: Target | None = None,
) -> Problem:
    """Load and check model and data, then measure the original. Raises :class:`InputError`.

    ``measure_on``: a measuring target (:class:`advisor.measure.remote.Target`): the original and every
    candidate are measured there, not here.

    ``train_data`` gives training its own data (``data`` is then split only into calibration /
    validation / test); ``metric`` is ``--metric``. Whether the data keeps a training share is
    ``trains``, by default: the model has a PyTorch source and some candidate in ``strategies``
    (default: any) trains.
    """
    ctx = ctx or RunContext()
    owns = workdir is None
    work = Path(tempfile.mkdtemp(prefix="advisor-")) if workdir is None else workdir
    try:
        ctx.report("load", 0.0, f"loading {model}")
        if data is None:
            if not model.startswith("builtin:"):
                raise InputError("--data is required for a model that is not built in")

            data = (BUILTIN_MODELS[model.removeprefix("builtin:")].data
                    if model.removeprefix("builtin:") in BUILTIN_MODELS else "builtin:digits")
        if input_shape is None and is_factory_spec(model) and not model.lower().endswith(".onnx"):
            input_shape = _shape_from_data(data)
        m = load_model(model, workdir=work, weights=weights, input_shape=input_shape)
        if trains is None:
            trains = m.has_torch and (strategies is None or any(Strategy.parse(s).trains for s in strategies))
        splits = load_data(data, m.inputs, trains=trains, train_data=train_data)
        return problem_from_parts(m, splits, settings=settings, ctx=ctx, workdir=work, owns_workdir=owns,
                                  metric=metric, measure_on=measure_on)
    except BaseException:
        if owns:
            shutil.rmtree(work, ignore_errors=True)
        raise


def problem_from_parts(
    model: Model,
    data: DataSplits,
    *,
    settings: MeasureSettings | None = None,
    ctx: RunContext | None = None,
    workdir: Path | None = None,
    owns_workdir: bool = True,
    metric: str | None = None,
    measure_on: Target | None = None,
) -> Problem:
    """A :class:`Problem` from a model and data already in memory: checks labels, chooses how each
    output is scored (``metric`` overrides, see :mod:`advisor.measure.quality`), measures the original."""
    ctx = ctx or RunContext()
    if metric is not None:
        data = replace(data, metric_override=metric)
    if data.metric == "accuracy":
        _check_labels(model, data)
    ctx.report("load", 0.5, "measuring the original model")
    try:
        reference = reference_outputs(model, data)
    except TechniqueError as e:  # the user's own model misbehaves on the user's data
        raise InputError(f"the original model cannot be measured: {e}") from None
    settings = settings or MeasureSettings()
    work = Path(tempfile.mkdtemp(prefix="advisor-")) if workdir is None else workdir
    board = None
    if measure_on is not None:
        ctx.report("load", 0.6, f"measuring the original on {measure_on.device}")
        board = Board(measure_on, model.onnx_path, model.inputs, data, reference.scoring, settings.threads,
                      settings.spinning, settings.seconds)
        baseline = _original_on_board(board, model, data, reference)
    else:
        (baseline,) = measure_models([model], data, reference=reference, settings=settings, ctx=ctx)
    baseline = replace(earlier_run(baseline), drop=original_drop(reference, data, "validation", DEFAULT_CONFIDENCE),
                       confirmation=original_drop(reference, data, "test", DEFAULT_CONFIDENCE))
    graph = describe(model.onnx_path)
    ctx.report("load", 1.0, "original measured")
    return Problem(model, data, reference, baseline, graph, settings, work, owns_workdir, board=board)


def _original_on_board(board: Board, model: Model, data: DataSplits, reference: Reference) -> Measurement:
    """The original as the measuring target measured it: its latency alone, its own scores."""
    lat, res = board.original_figures()
    (_, selection, _), (_, reported, detail) = (board.figures(res, split, DEFAULT_CONFIDENCE)
                                                for split in ("validation", "test"))
    raw, gz = file_sizes(model.onnx_path)
    return Measurement(data.metric, selection.value, raw, gz, lat, res.peak_memory_bytes, 0.0,
                       extra={"quality_detail": detail, "measured_on": board.device}, selection=selection,
                       reported=reported)


def earlier_run(m: Measurement) -> Measurement:
    """``m`` with its latencies labelled ``earlier-run``: the original's one-off timing at problem
    open, kept for the record; every candidate is compared with its own same-run timing."""

    def label(lat: LatencyStats | None) -> LatencyStats | None:
        return None if lat is None or lat.source == "predicted" else replace(lat, source="earlier-run")

    return replace(m, latency=label(m.latency), latency_all_threads=label(m.latency_all_threads))


def _check_labels(model: Model, data: DataSplits) -> None:
    if not data.labelled:
        return
    classes = model.num_outputs_per_sample
    if classes is None:
        if len(model.outputs) and len(model.outputs[0].shape) == 2 and model.outputs[0].shape[1] is None:
            return  # free class dimension: cannot check ahead
        raise InputError(
            "labels were given but the model's first output is not class scores of shape (N, classes); "
            "drop the labels to measure fidelity instead"
        )
    parts = (data.train, data.calib, data.val, data.test)
    top = max(int(s.labels.max()) for s in parts if s.labels is not None and len(s.labels))
    if top >= classes:
        raise InputError(
            f"labels go up to {top} but the model outputs {classes} classes (labels must be 0..{classes - 1})")


def _shape_from_data(data: str) -> tuple[int, ...] | None:
    if data.startswith("builtin:"):
        return DIGITS_INPUT_SHAPE
    p = Path(data)
    if p.suffix.lower() == ".npz" and p.is_file():
        try:
            with np.load(p, allow_pickle=False) as f:
                keys = [k for k in f.files if k not in ("labels", "y")]
                if len(keys) == 1:
                    return tuple(f[keys[0]].shape[1:])
        except (OSError, ValueError):
            return None
    return None
