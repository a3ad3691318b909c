"""From measured candidates to advice: the pick and how sure it is, the Pareto front, the binding
constraint when nothing fits, and the reasons, as one typed value (:class:`Advice`).

Every surface renders this one value: ``advice.md`` and ``pareto.png`` (:mod:`advisor.report`), the
CLI's summary and the TUI's advice screen (both from :meth:`Advice.headline`, :meth:`Advice.rows`,
:func:`row_cells` and :meth:`Advice.comparison`); :meth:`Advice.to_dict` is only for ``advice.json``.

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
from advisor.choice import Choice, Confirmation, FinalRace, baseline_evaluation, choose
from advisor.decide import (
    KEYS,
    Verdict,
    binding,
    drop_of,
    excess,
    judge,
    reference_latency,
    speed,
)
from advisor.measure.latency import LATENCY_RESOLUTION
from advisor.measure.paired import resolvable_limit
from advisor.problem import Evaluation, Problem
from advisor.types import LatencyStats, Measurement, QualityFigure, RatioFigure, Reason

if TYPE_CHECKING:  # types only: advice sits below ranking and profiling, which pass their values in
    from advisor.profiling import DeviceProfile
    from advisor.ranking import Ranking

__all__ = ["Advice", "build_advice", "PICK_RULES", "latency_words", "latency_label", "quality_words", "speedup",
           "figures_source", "pareto_front", "device_summary", "Row", "row_cells", "TABLE_COLUMNS", "STATUSES",
           "EXIT_CODES", "speed_cell", "drop_cell"]

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
        return _figure(m.reported)
    if m.selection is not None:
        return _figure(m.selection)
    return f"{m.quality:.4f}" + ("" if n_test is None else f" on {n_test} test samples")


def _figure(f: QualityFigure) -> str:
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
            why = _unconfirmed_why(c, metric)
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
                     "resolvable_limit_pts": _resolvable(p, b)},
            "device": self.device,
            "budget": {**b.to_dict(), "resolved": {
                "min_quality": lim.min_quality, "max_size_bytes": lim.max_size_bytes,
                "max_latency_ms_p90": lim.max_latency_ms, "max_compress_seconds": lim.max_compress_seconds,
                "latency_ratio_against": f"the original's p90 {ref.p90_ms:.5g} ms ({ref.describe_source()})"}},
            "latency_source": m.latency.describe_source() if m is not None else None,
            "selection_split": "validation",
            "baseline": {**p.baseline.to_dict(), "latency_source": p.baseline.latency.describe_source()},
            "compressed": _measured(p, m),
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


def _unconfirmed_why(c: Confirmation | None, metric: str) -> str:
    if c is None:
        return "its model file is not here to check it on the test split"
    if c.state == "breaks":
        return f"the untouched test split breaks the accuracy limit ({metric} {c.drop.describe()})"
    more = f"; about {c.more} more test samples would likely resolve it" if c.more else ""
    return (f"the untouched test split cannot confirm the accuracy limit ({metric} {c.drop.describe()}: the "
            f"interval straddles {c.limit:g} pt{more})")


def _resolvable(p: Problem, b: Budget) -> dict[str, float]:
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


def build_advice(
    problem: Problem,
    budget: Budget,
    evals: list[Evaluation],
    *,
    device: dict[str, Any],
    trials: dict[str, Any],
    extra_reasons: list[Reason] | None = None,
    ranking: Ranking | None = None,
    choice: Choice | None = None,
    reproducibility: dict[str, Any] | None = None,
) -> Advice:
    """Choose under ``budget`` (:func:`advisor.choice.choose` unless ``choice`` is given) and explain:
    measurements first, then rules and research."""
    if choice is None:
        choice = choose(problem, budget, evals)
    base = problem.baseline
    measured = [e for e in choice.candidates if e.measurement is not None]
    nearest: list[Evaluation] = []
    bind = None
    if choice.pick is None:
        nearest = sorted((e for e in measured if e.measurement is not base),
                         key=lambda e: excess(budget, base, e.measurement))[:3]
        bind = binding(budget, base, [e.measurement for e in measured])
    advice = Advice(problem, budget, choice, bind, nearest, [], device, trials, ranking, reproducibility or {},
                    failed=[e for e in evals if not e.ok])
    advice.reasons.extend(_reasons(advice))
    advice.reasons.extend(extra_reasons or [])
    if ranking is not None:
        advice.reasons.extend(_ranking_reasons(ranking, advice.shown, problem.data.metric, base.quality))
    if budget.tier:
        picks = {"low": "PRQ", "mid": "PRN", "high": "F16 or PRN"}
        how = ("measured the options here" if base.latency.measured else
               f"compared the options for profile {base.latency.profile} (latency predicted from its profile)")
        advice.reasons.append(Reason(
            f"For the {budget.tier}-end tier Lee et al. picked {picks[budget.tier]} on their device; "
            f"this advice {how} instead of assuming their device's behaviour.",
            "Lee et al. 2022, section 4.3, strategy per AIoT service tier",
            "Lee et al. 2022, Sensors 22(19):7344",
        ))
    return advice


def _reasons(a: Advice) -> list[Reason]:
    """The measured reasons: the pick and its ties, its figures, its confirmation, and every other
    candidate's verdicts."""
    p, b, ch = a.problem, a.budget, a.choice
    base, metric = p.baseline, p.data.metric
    out: list[Reason] = []
    rows = a.rows()
    n_ok = sum(1 for r in rows if r.measurement is not None)
    if ch.pick is not None:
        m = ch.pick.measurement
        d = drop_of(base, m)
        out.append(Reason(
            f"{ch.pick.label} is the pick on validation: {PICK_RULES[b.objective]}.",
            f"{len(ch.feasible)} of {n_ok} measured candidates (the original included) meet every limit: "
            f"{b.describe()}; chosen on the validation split ({metric} {d.describe()})",
            "advisor pick rule (docs/measurement.md, the decision rule)"))
        if ch.ties:
            out.append(_tie_reason(a))
        if ch.race is not None:
            out.append(_race_reason(a, ch.race))
        ref = reference_latency(base, m)
        fig = speed(base, m)
        out.append(Reason(
            f"{ch.pick.label}: {latency_words(m.latency)} vs {ref.p90_ms:.3f} ms original; p50 speed-up "
            f"{speed_cell(fig)} against the original timed in the same run; file {m.size_bytes / 1024:.0f} KB vs "
            f"{base.size_bytes / 1024:.0f} KB ({base.size_bytes / m.size_bytes:.1f}x smaller).",
            _latency_evidence(m.latency) + f"; {metric} {d.describe()}; compression took {m.compress_seconds:.1f} s",
            figures_source(m)))
        out.append(_confirmation_reason(a))
    else:
        shown = a.shown
        js = judge(b, base, shown.measurement) if shown.measurement is not None else {}
        out.append(Reason(
            f"Nothing meets the budget; the binding constraint is {a.binding}.",
            f"nearest: {shown.label}: " + "; ".join(f"{k} {v.state} ({v.figure} vs {v.limit})"
                                                     for k, v in js.items() if not v.meets) + f" ({b.describe()})",
            "advisor pick rule (docs/measurement.md, the decision rule)"))
    for r in rows:
        if r.measurement is None:
            out.append(Reason(f"{r.label} was not measured: {r.error}", "technique check or failure", "advisor"))
        elif not r.meets and not r.original:
            bad = {k: v for k, v in r.verdicts.items() if not v.meets}
            more = [f"about {v.more} more validation samples would resolve its accuracy" for v in bad.values()
                    if v.more]
            out.append(Reason(
                f"{r.label}: " + ", ".join(f"{k} {v.state}" for k, v in bad.items()) + (f" ({more[0]})" if more else "")
                + ".",
                "; ".join(f"{k}: {v.figure} vs {v.limit}" for k, v in bad.items())
                + f"; {latency_words(r.measurement.latency)}",
                figures_source(r.measurement)))
    for e in ch.slower:
        fig = speed(base, e.measurement)
        out.append(Reason(
            f"{e.label} meets every limit but measured slower than the original ({speed_cell(fig)} p50 speed-up, "
            "same run): never the pick of a latency objective.",
            f"p50 ratio {fig.value:.3f} [{fig.lo:.3f}, {fig.hi:.3f}] over {fig.blocks} paired blocks",
            MEASURED))
    limits = _resolvable(p, b)
    if b.max_accuracy_drop is not None and limits["test"] > b.max_accuracy_drop:
        out.append(Reason(
            f"The test split ({len(p.data.test)} samples) cannot confirm a {b.max_accuracy_drop:g} pt limit even for "
            f"a candidate that never differs from the original: the smallest limit it can show is "
            f"{limits['test']:.2f} pt at {b.confidence:.0%} confidence. Give more data.",
            f"resolvable limits: validation {limits['validation']:.2f} pt, test {limits['test']:.2f} pt "
            f"({p.data.summary()})",
            "advisor: one-sided bounds of a zero drop (docs/measurement.md)"))
    return out


def _tie_reason(a: Advice) -> Reason:
    p, ch = a.problem, a.choice
    base = p.baseline
    key = KEYS[a.budget.objective][0]
    group = [ch.pick, *ch.ties]
    what = {"speed": "speed (same-run speed-ups within measured noise or within 3%)",
            "accuracy": "accuracy drop (within 0.1 pt)", "size": "size (within 1%)"}[key]
    return Reason(
        f"{ch.pick.label} is tied on {what} with {', '.join(e.label for e in ch.ties)}; the tie-break decided "
        f"({PICK_RULES[a.budget.objective].split('; ', 1)[-1]}). A rerun may pick any of them.",
        "; ".join(f"{e.label}: speed-up {speed_cell(speed(base, e.measurement))}, {p.data.metric} drop "
                  f"{drop_of(base, e.measurement).value:.2f} pt, {e.measurement.size_bytes / 1024:.0f} KB"
                  for e in group),
        "advisor pick rule: ties within measured noise (docs/measurement.md)")


def _race_reason(a: Advice, race: FinalRace) -> Reason:
    return Reason(
        f"Final race: {', '.join(race.finalists)} and the original were timed again together, interleaved, over "
        f"{race.blocks} paired blocks" + ("" if race.resolved else
                                          " (still within noise of each other when the rounds ran out)") + ".",
        f"{race.retimed} block(s) timed again because the machine was busy; speeds within "
        f"{LATENCY_RESOLUTION:.0%} are ties",
        MEASURED)


def _confirmation_reason(a: Advice) -> Reason:
    p, b, ch = a.problem, a.budget, a.choice
    c, metric = ch.confirmation, p.data.metric
    if c is None:
        return Reason(f"{ch.pick.label} was not checked on the test split: its model file is not here.",
                      "no model file for the pick on this machine", "advisor: choose on validation, confirm on test")
    if c.confirmed:
        text = (f"Confirmed on the untouched test split: {metric} {c.drop.describe()}"
                + (f", within the {b.max_accuracy_drop:g} pt limit." if b.max_accuracy_drop is not None else "."))
    else:
        alt = ch.fallback
        text = (f"Not confirmed: {_unconfirmed_why(c, metric)}. "
                + (f"The nearest confirmed option is {alt.label} ({metric} {alt.drop.describe()})."
                   if alt is not None else "No confirmed option among the next candidates."))
    checked = f"; then checked on test: {', '.join(f'{x.label} ({x.state})' for x in ch.checked)}" if ch.checked else ""
    return Reason(text, f"test figure {_figure(c.figure)}; paired against the original's test outputs{checked}"
                  + ("; the test split was consulted more than once, so these checks are optimistic"
                     if ch.checked else ""),
                  "advisor: choose on validation, confirm on the untouched test split (docs/measurement.md)")


def _latency_evidence(lat: LatencyStats) -> str:
    if lat.source == "predicted":
        return (f"p50 {lat.p50_ms:.3f} ms predicted for profile {lat.profile or '?'} at {lat.threads} thread(s) "
                "(no run on that device; p90 scaled by the p90/p50 ratio of this run)")
    noise = "" if lat.spread is None else f", run-to-run noise +-{100 * lat.spread:.1f}%"
    retimed = f", {lat.retimed} block(s) re-timed (busy machine)" if lat.retimed else ""
    return f"p50 {lat.p50_ms:.3f} ms over {lat.runs} runs at {lat.threads} thread(s){noise}{retimed}"


def _ranking_reasons(ranking: Ranking, shown: Evaluation | None, metric: str, base_quality: float) -> list[Reason]:
    """Rules that fired for the shown strategy, general rule notes, exclusions, and how the
    ranker's prediction compares with what was measured."""
    out: list[Reason] = []
    items = {i.strategy: i for i in ranking.items}
    name = shown.strategy if shown is not None else None
    item = items.get(name) if name else None
    if item is not None:
        out.extend(item.reasons)
        if getattr(item, "unknown", None) is not None:
            out.append(Reason(f"No prediction was made for {name} before the trials (unknown): {item.unknown}.",
                              "the strategy's dry run without training failed", "advisor ranker"))
        elif item.predicted and shown is not None and shown.measurement is not None:
            m = shown.measurement
            pr = item.predicted
            lat, size, acc = pr["latency_ms_p90"], pr["size_bytes"], pr["accuracy_drop_pts"]
            drop = (base_quality - m.quality) * 100 if m.drop is None else m.drop.value
            got = "this run" if m.latency.measured else f"this run (latency predicted for profile {m.latency.profile})"
            out.append(Reason(
                f"Predicted before any trial (rank {item.rank}, {item.p_meets:.0%} chance to fit) vs {got}: "
                f"p90 {lat.mean:.3f} ms [{lat.lo:.3f}, {lat.hi:.3f}] vs {m.latency.p90_ms:.3f} ms; "
                f"size {size.mean / 1024:.0f} KB [{size.lo / 1024:.0f}, {size.hi / 1024:.0f}] "
                f"vs {m.size_bytes / 1024:.0f} KB; "
                f"{metric} drop {acc.mean:+.2f} pt [{acc.lo:+.2f}, {acc.hi:+.2f}] vs {drop:+.2f} pt.",
                f"ranker trained on {ranking.kb_records} knowledge-base records; "
                f"baseline latency {ranking.baseline_latency_source}",
                "advisor ranker (rules + random-forest regression) vs " + (
                    "measurement on this device" if m.latency.measured else "this run's figures"),
            ))
    out.extend(ranking.reasons)
    for i in ranking.items:
        if i.excluded is not None:
            out.append(Reason(f"{i.strategy} was not tried: {i.excluded}", "rule or technique requirement",
                              i.reasons[0].source if i.reasons else "advisor"))
        elif getattr(i, "unknown", None) is not None and i is not item:
            out.append(Reason(f"{i.strategy}: prediction unknown ({i.unknown}).", "ranking before any trial",
                              "advisor ranker"))
    return out

