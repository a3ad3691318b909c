"""From measured candidates to advice: the pick and how sure it is, the Pareto front, the binding
constraint when nothing fits, and the reasons, as one typed value (:class:`Advice`).

Every surface renders this one value: ``advice.md`` and ``pareto.png`` (:mod:`advisor.report`), the
CLI's summary and the TUI's advice screen (both from :meth:`Advice.headline`, :meth:`Advice.rows`,
:func:`row_cells` and :meth:`Advice.comparison`); :meth:`Advice.to_dict` is only for ``advice.json``.
:func:`advisor.explain.build_advice` makes it, with its reasons.

The advice has one of three states (:data:`STATUSES`), each with its exit code:

- ``confirmed`` (0): the pick meets every limit on validation and the untouched test split
  confirms its accuracy limit;
- ``unconfirmed`` (3): a pick meets the budget on validation, but the test split breaks its
  accuracy limit or cannot resolve it: no surface says "Use" plainly, and the nearest confirmed
  option is named when one of the next candidates confirms;
- ``nothing fits`` (1): no candidate meets the budget on validation.

Every figure says where it comes from: latency "measured here, same run", "measured here, earlier
run" or "predicted for profile P" (:meth:`~advisor.types.LatencyStats.label`); speed-ups are ratios
to the original timed in the same run, with their interval; accuracy is the paired drop against the
original with one-sided bounds at the budget's confidence (validation chose, test confirms).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import onnxruntime as ort
import psutil

from advisor.budget import Budget
from advisor.choice import Choice, Confirmation, baseline_evaluation
from advisor.decide import (
    Verdict,
    drop_of,
    judge,
    reference_latency,
    speed,
)
from advisor.measure.paired import resolvable_limit
from advisor.problem import Evaluation, Problem
from advisor.types import LatencyStats, Measurement, QualityFigure, RatioFigure, Reason

if TYPE_CHECKING:  # types only: advice sits below ranking and profiling, which pass their values in
    from advisor.profiling import DeviceProfile
    from advisor.ranking import Ranking

__all__ = ["Advice", "PICK_RULES", "unconfirmed_why", "resolvable_limits", "figure_words", "MEASURED",
           "latency_words", "latency_label", "quality_words", "speedup", "figures_source", "pareto_front",
           "device_summary", "Row", "row_cells", "TABLE_COLUMNS", "STATUSES", "EXIT_CODES", "speed_cell",
           "drop_cell"]

STATUSES = ("confirmed", "unconfirmed", "nothing fits")
#: The exit code of ``advisor advise`` for each state (2: bad input, 130: interrupted).
EXIT_CODES = {"confirmed": 0, "nothing fits": 1, "unconfirmed": 3}

_TIES = ("speeds within measured noise of each other (paired blocks of one run) or within 3% are ties, which go to "
         "the smaller accuracy drop (by more than 0.1 pt), then the smaller file")
PICK_RULES = {
    "latency": "fastest (same-run p50 speed-up over the original) among candidates that meet every limit, none "
               "measured slower than the original; " + _TIES,
    "size": "smallest file (within 1%) among candidates that meet every limit; ties go to the faster "
            "(same-run speed-up), then the smaller accuracy drop",
    "accuracy": "smallest accuracy drop (within 0.1 pt) among candidates that meet every limit; ties go to the "
                "faster (same-run speed-up), then the smaller file",
}
MEASURED = "measured on this device (onnxruntime CPU, interleaved with the original)"


def latency_label(lat: LatencyStats) -> str:
    """Short label of where a latency comes from, for table headers and columns."""
    return lat.label()


def latency_words(lat: LatencyStats) -> str:
    """``p90 0.123 ms (measured here, same run)`` or ``predicted p90 0.123 ms for profile P (...)``."""
    if lat.source == "predicted":
        iv = ("" if lat.interval_ms is None
              else f" (p50 95% interval {lat.interval_ms[0]:.3g}-{lat.interval_ms[1]:.3g} ms)")
        return f"predicted p90 {lat.p90_ms:.3f} ms for profile {lat.profile or '?'}{iv}"
    return f"p90 {lat.p90_ms:.3f} ms ({lat.label()})"


def speedup(baseline: Measurement, m: Measurement) -> tuple[float, LatencyStats]:
    """p50 speed-up of ``m`` over the original, and the original's timing it is against: the one
    from ``m``'s own run (interleaved) when there is one."""
    ref = reference_latency(baseline, m)
    return (ref.p50_ms / m.latency.p50_ms if m.latency.p50_ms > 0 else float("nan")), ref


def speed_cell(fig: RatioFigure | None) -> str:
    """``2.01x [1.95, 2.07]``: the p50 speed-up and its bounds (the inverse of the ratio's)."""
    if fig is None:
        return "-"
    if fig.blocks == 0 or fig.hi - fig.lo < 1e-9:
        return f"{1 / fig.value:.2f}x"
    return f"{1 / fig.value:.2f}x [{1 / fig.hi:.2f}, {1 / fig.lo:.2f}]"


def drop_cell(m: Measurement, baseline: Measurement) -> str:
    """``0.50 [0.01, 1.57] n=400``: the paired drop on validation, its bounds and samples used."""
    d = drop_of(baseline, m)
    if m is baseline:
        return "0 (original)"
    used = f"n={d.n}" + (f"/{d.of}" if d.of and d.of != d.n else "")
    return f"{d.value:.2f} [{d.lo:.2f}, {d.hi:.2f}] {used}"


def quality_words(m: Measurement, metric: str, n_test: int | None = None) -> str:
    """The figure to report for ``m``: the held-out test figure with its 95% interval when
    measured (``0.962 [0.921, 0.983], n=120, test split``), else the figure selection used."""
    if m.reported is not None:
        return figure_words(m.reported)
    if m.selection is not None:
        return figure_words(m.selection)
    return f"{m.quality:.4f}" + ("" if n_test is None else f" on {n_test} test samples")


def figure_words(f: QualityFigure) -> str:
    return f"{f.value:.3f} [{f.lo:.3f}, {f.hi:.3f}], n={f.n}, {f.split} split"


def figures_source(m: Measurement) -> str:
    """A reason's ``source`` for figures about ``m``: measured here, or latency predicted."""
    if m.latency.source == "predicted":
        return (f"latency predicted for profile {m.latency.profile or '?'} by the profiler's model; "
                "accuracy, size and compression time from this run (onnxruntime CPU)")
    return MEASURED


@dataclass(frozen=True)
class Row:
    """One candidate as every table shows it (the original first)."""

    label: str
    measurement: Measurement | None
    error: str | None
    original: bool
    picked: bool
    tied: bool
    meets: bool
    verdicts: dict[str, Verdict]
    speed: RatioFigure | None
    confirmation: Confirmation | None = None

    def verdict_text(self) -> str:
        """``meets`` / ``accuracy unresolved`` / ``breaks size, latency`` plus ``pick`` / ``tie``."""
        if self.measurement is None:
            return f"failed: {self.error or ''}"[:60]
        bad = [f"{k} {v.state}" for k, v in self.verdicts.items() if not v.meets]
        noise = [k for k, v in self.verdicts.items() if v.state == "within noise"]
        text = "; ".join(bad) if bad else "meets" + (f" ({', '.join(noise)} within noise)" if noise else "")
        tag = "pick" if self.picked else ("tie" if self.tied else "")
        return f"{tag}: {text}" if tag else text


TABLE_COLUMNS = ("strategy", "drop pt (validation, paired bounds)", "size KB", "gzip KB", "p50 / p90 ms",
                 "speed-up p50 (same run)", "compress s", "verdict")


def row_cells(row: Row, baseline: Measurement) -> tuple[str, ...]:
    """The cells of :data:`TABLE_COLUMNS` for ``row`` (the same in advice.md, the CLI and the TUI)."""
    m = row.measurement
    if m is None:
        return (row.label, "-", "-", "-", "-", "-", "-", row.verdict_text())
    earlier = " (earlier run)" if row.original and m.latency.source == "earlier-run" else ""
    return (row.label, drop_cell(m, baseline), f"{m.size_bytes / 1024:.1f}", f"{m.size_compressed_bytes / 1024:.1f}",
            f"{m.latency.p50_ms:.3f} / {m.latency.p90_ms:.3f}{earlier}",
            "1.00x" if row.original else speed_cell(row.speed), f"{m.compress_seconds:.1f}", row.verdict_text())


@dataclass
class Advice:
    """Everything the advice says, typed; :meth:`to_dict` is ``advice.json``'s content."""

    problem: Problem
    budget: Budget
    choice: Choice
    binding: str | None
    nearest: list[Evaluation]
    reasons: list[Reason]
    device: dict[str, Any]
    trials: dict[str, Any]
    ranking: Ranking | None = None
    reproducibility: dict[str, Any] = field(default_factory=dict)
    failed: list[Evaluation] = field(default_factory=list)  # candidates that failed: no measurement

    @property
    def evaluations(self) -> list[Evaluation]:
        """Every measured or failed candidate (not the original), with final-race figures in place."""
        return [e for e in self.choice.candidates if e.measurement is not self.problem.baseline] + self.failed

    @property
    def chosen(self) -> Evaluation | None:
        """The pick made on validation (confirmed or not)."""
        return self.choice.pick

    @property
    def fits(self) -> bool:
        """Some candidate meets the budget on validation."""
        return self.choice.pick is not None

    @property
    def status(self) -> str:
        if self.choice.pick is None:
            return "nothing fits"
        return "confirmed" if self.choice.confirmed else "unconfirmed"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def shown(self) -> Evaluation:
        """The pick, or the nearest candidate when nothing fits."""
        if self.choice.pick is not None:
            return self.choice.pick
        return self.nearest[0] if self.nearest else baseline_evaluation(self.problem)

    @property
    def model_file(self) -> str:
        """What the shipped file is called: ``model.onnx`` only for a confirmed pick."""
        return {"confirmed": "model.onnx", "unconfirmed": "unconfirmed.onnx", "nothing fits": "nearest.onnx"}[
            self.status]

    def headline(self) -> str:
        """The first line of every surface (plain text; advice.md adds the bold)."""
        shown, c = self.shown, self.choice.confirmation
        metric = self.problem.data.metric
        if self.status == "confirmed":
            check = ("" if c is None or self.budget.max_accuracy_drop is None else
                     f"; the untouched test split confirms it ({metric} {c.drop.describe()}, "
                     f"limit {self.budget.max_accuracy_drop:g} pt)")
            return f"Use {shown.label}: it meets the budget{check}."
        if self.status == "unconfirmed":
            why = unconfirmed_why(c, metric)
            alt, checked = self.choice.fallback, self.choice.checked
            nxt = (f" Nearest confirmed option: {alt.label} ({metric} {alt.drop.describe()})." if alt is not None
                   else f" None of the next {len(checked)} candidate(s) confirms either." if checked
                   else " No other candidate meets the budget on validation.")
            return f"Unconfirmed: {shown.label} meets the budget on validation, but {why}.{nxt}"
        unresolved = sum(1 for r in self.rows() if r.verdicts.get("accuracy") is not None
                         and r.verdicts["accuracy"].state == "unresolved")
        more = f" ({unresolved} candidate(s) unresolved on accuracy: more data would settle them)" if unresolved else ""
        return (f"Nothing fits the budget: the binding constraint is {self.binding}{more}. "
                f"Nearest option: {shown.label}.")

    def rows(self) -> list[Row]:
        """The original first, then every candidate, as the tables show them."""
        base, b = self.problem.baseline, self.budget
        pick = self.choice.pick
        ties = {id(e) for e in self.choice.ties}
        checks = {c.label: c for c in ((self.choice.confirmation,) if self.choice.confirmation else ())
                  + self.choice.checked}
        out = []
        for e in (*self.choice.candidates, *self.failed):
            m = e.measurement
            original = m is base
            verdicts = judge(b, base, m) if m is not None else {}
            out.append(Row("NQ (original)" if original else e.label, m, e.error, original, e is pick,
                           id(e) in ties, m is not None and all(v.meets for v in verdicts.values()), verdicts,
                           None if m is None else speed(base, m), checks.get(e.label)))
        return out

    def comparison(self) -> list[tuple[str, str, str, str, str]]:
        """Original vs the shown candidate vs the budget, one row per figure:
        ``(figure, original, candidate, limit, verdict)``; the original's latency is its timing in
        the candidate's own run."""
        p, b = self.problem, self.budget
        base = p.baseline
        m = self.shown.measurement or base
        ref = reference_latency(base, m)
        js = judge(b, base, m)
        tag = m.latency.label()

        def state(k: str) -> str:
            return js[k].state if k in js else ""

        c = self.choice.confirmation if self.shown is self.choice.pick else None
        drop_limit = f"<= {b.max_accuracy_drop:g}" if b.max_accuracy_drop is not None else "-"
        rows = [(f"{p.data.metric} drop pt (validation)", "0", drop_cell(m, base), drop_limit, state("accuracy"))]
        if c is not None:
            test = f"{c.drop.value:.2f} [{c.drop.lo:.2f}, {c.drop.hi:.2f}] n={c.drop.n}"
            rows.append((f"{p.data.metric} drop pt (test)", "0", test, drop_limit,
                         "confirmed" if c.confirmed else f"not confirmed ({c.state})"))
        lim = b.resolve(base, ref.p90_ms)
        rows += [
            ("size KB", f"{base.size_bytes / 1024:.1f}", f"{m.size_bytes / 1024:.1f}",
             f"<= {lim.max_size_bytes / 1024:.1f}" if lim.max_size_bytes is not None else "-", state("size")),
            ("gzip KB", f"{base.size_compressed_bytes / 1024:.1f}", f"{m.size_compressed_bytes / 1024:.1f}", "-", ""),
            (f"p50 ms ({tag})", f"{ref.p50_ms:.3f}", f"{m.latency.p50_ms:.3f}", "-", ""),
            ("speed-up p50 (same run)", "1.00x", speed_cell(speed(base, m)) if m is not base else "1.00x", "-", ""),
            (f"p90 ms ({tag})", f"{ref.p90_ms:.3f}", f"{m.latency.p90_ms:.3f}",
             f"<= {lim.max_latency_ms:.3f}" if lim.max_latency_ms is not None else "-", state("latency")),
            ("compress s", "0.0", f"{m.compress_seconds:.1f}",
             f"<= {b.max_compress_seconds:g}" if b.max_compress_seconds is not None else "-", state("compress_time")),
        ]
        return rows

    def to_dict(self) -> dict[str, Any]:
        p, b = self.problem, self.budget
        shown = self.shown
        m = shown.measurement
        ref = reference_latency(p.baseline, m) if m is not None else p.baseline.latency
        lim = b.resolve(p.baseline, ref.p90_ms)
        verdicts = judge(b, p.baseline, m) if m is not None else {}
        ch = self.choice
        return {
            "schema": "compression-advisor/advice/2",
            "status": self.status,
            "exit_code": self.exit_code,
            "headline": self.headline(),
            "fits_budget": self.fits,
            "confirmed": self.status == "confirmed",
            "strategy": shown.label,
            "params": shown.params,
            "pick_rule": PICK_RULES[b.objective],
            "model": {
                "source": p.model.source,
                "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.inputs],
                "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.outputs],
                "graph": p.graph.to_dict(),
                "file": self.model_file,
            },
            "data": {"source": p.data.source, "metric": p.data.metric, "policy": p.data.policy,
                     "train": len(p.data.train), "trained_on": p.data.trained_on,
                     "calibration": len(p.data.calib), "validation": len(p.data.val), "test": len(p.data.test),
                     "grouped": p.data.grouped, "summary": p.data.summary(),
                     "resolvable_limit_pts": resolvable_limits(p, b)},
            "device": self.device,
            "budget": {**b.to_dict(), "resolved": {
                "min_quality": lim.min_quality, "max_size_bytes": lim.max_size_bytes,
                "max_latency_ms_p90": lim.max_latency_ms, "max_compress_seconds": lim.max_compress_seconds,
                "latency_ratio_against": f"the original's p90 {ref.p90_ms:.5g} ms ({ref.describe_source()})"}},
            "latency_source": m.latency.describe_source() if m is not None else None,
            "selection_split": "validation",
            "baseline": {**p.baseline.to_dict(), "latency_source": p.baseline.latency.describe_source()},
            "compressed": _measured(p, m),
            "shipped": _shipped(shown, p),
            "satisfied": {k: v.meets for k, v in verdicts.items()},
            "verdicts": {k: {"state": v.state, "meets": v.meets, "figure": v.figure, "limit": v.limit,
                             "more_samples": v.more} for k, v in verdicts.items()},
            "confirmation": ch.confirmation.to_dict() if ch.confirmation is not None else None,
            "checked_on_test": [c.to_dict() for c in ch.checked],
            "nearest_confirmed": ch.fallback.label if ch.fallback is not None else None,
            "ties": [e.label for e in ch.ties],
            "final_race": ch.race.to_dict() if ch.race is not None else None,
            "binding_constraint": self.binding,
            "nearest": [_point(p, b, e) for e in self.nearest],
            "alternatives": [_point(p, b, e) for e in pareto_front(self.evaluations, p.baseline) if e is not shown],
            "candidates": [_point(p, b, e) for e in self.evaluations],
            "ranking": self.ranking.to_dict() if self.ranking is not None else None,
            "reasons": [r.to_dict() for r in self.reasons],
            "trials": self.trials,
            "reproducibility": self.reproducibility,
        }


def unconfirmed_why(c: Confirmation | None, metric: str) -> str:
    if c is None:
        return "its model file is not here to check it on the test split"
    if c.state == "breaks":
        return f"the untouched test split breaks the accuracy limit ({metric} {c.drop.describe()})"
    more = f"; about {c.more} more test samples would likely resolve it" if c.more else ""
    return (f"the untouched test split cannot confirm the accuracy limit ({metric} {c.drop.describe()}: the "
            f"interval straddles {c.limit:g} pt{more})")


def resolvable_limits(p: Problem, b: Budget) -> dict[str, float]:
    """The smallest accuracy-drop limit each split can show a lossless candidate meets."""
    metric = p.reference.scoring[0].metric
    return {"validation": round(resolvable_limit(len(p.data.val), metric, b.confidence), 3),
            "test": round(resolvable_limit(len(p.data.test), metric, b.confidence), 3)}


def _measured(p: Problem, m: Measurement | None) -> dict[str, Any] | None:
    """A measurement for ``advice.json``, with where its latency comes from and its same-run ratio."""
    if m is None:
        return None
    ratio, ref = speedup(p.baseline, m)
    fig = speed(p.baseline, m)
    return {**m.to_dict(), "latency_source": m.latency.describe_source(),
            "baseline_latency": ref.to_dict(), "speedup_p50": round(ratio, 4),
            "speedup_p50_interval": [round(1 / fig.hi, 4), round(1 / fig.lo, 4)],
            "speedup_against": ref.describe_source()}


def _shipped(e: Evaluation, p: Problem) -> dict[str, Any]:
    """Which file the advice ships: the measured trial's artifact (id, sha256) or the original."""
    if e.measurement is p.baseline or e.strategy == "NQ":
        return {"what": "the original model", "artifact": None}
    return {"what": f"the model {e.label} measured", "trial": e.trial,
            "artifact": None if e.artifact is None else e.artifact.to_dict()}


def _point(p: Problem, b: Budget, e: Evaluation) -> dict[str, Any]:
    d: dict[str, Any] = {"strategy": e.label, "params": e.params}
    if e.measurement is None:
        d["error"] = e.error
        return d
    m = e.measurement
    if m.reported is not None:
        d["reported"] = m.reported.to_dict()
    js = judge(b, p.baseline, m)
    fig = speed(p.baseline, m)
    d.update({
        p.data.metric: round(m.quality, 6),
        "drop": drop_of(p.baseline, m).to_dict(),
        "size_bytes": m.size_bytes,
        "size_compressed_bytes": m.size_compressed_bytes,
        "latency_ms_p50": round(m.latency.p50_ms, 5),
        "latency_ms_p90": round(m.latency.p90_ms, 5),
        "compress_seconds": round(m.compress_seconds, 3),
        "latency_source": m.latency.describe_source(),
        "speedup_p50": round(speedup(p.baseline, m)[0], 4),
        "speedup_p50_interval": [round(1 / fig.hi, 4), round(1 / fig.lo, 4)],
        "satisfied": {k: v.meets for k, v in js.items()},
        "verdicts": {k: v.state for k, v in js.items()},
        "fits": all(v.meets for v in js.values()),
    })
    return d


def _objectives(baseline: Measurement, m: Measurement) -> tuple[float, float, float]:
    return drop_of(baseline, m).value, speed(baseline, m, "p90").value, float(m.size_bytes)


def pareto_front(evals: list[Evaluation], baseline: Measurement) -> list[Evaluation]:
    """Candidates no other candidate beats at once on the paired accuracy drop, the same-run p90
    ratio and the file size."""
    ok = [e for e in evals if e.measurement is not None]
    keys = {id(e): _objectives(baseline, e.measurement) for e in ok}

    def dominates(a: tuple, b: tuple) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [e for e in ok if not any(dominates(keys[id(o)], keys[id(e)]) for o in ok if o is not e)]


def device_summary(problem: Problem, profile: DeviceProfile | None = None) -> dict[str, Any]:
    """Device section of the advice: the profile's key figures, or what we know without one."""
    if profile is not None and hasattr(profile, "key_figures"):
        d = profile.key_figures()
    else:
        d = {"profile": None, "cpu": platform.processor() or platform.machine(),
             "cores_logical": psutil.cpu_count(), "os": platform.platform(terse=True)}
    d.update({"onnxruntime": ort.__version__, "threads": problem.settings.threads,
              "spinning": problem.settings.spinning})
    return d
