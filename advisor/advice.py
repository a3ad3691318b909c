"""From measured candidates to advice: the pick under the budget, the Pareto front, the binding
constraint when nothing fits, and the reasons.

The pick rule (stated in every advice): among candidates that satisfy every limit, the best on the
budget's objective -- lowest p90 latency, smallest file, or highest accuracy -- where p90
latencies within the measured noise of each other are ties (broken by accuracy, then size).

Every figure says where it comes from: latency "measured here, same run", "measured here, earlier
run" or "predicted for profile P" (:func:`latency_words`); speed-ups are against the original timed
in the same run as the candidate; accuracy/fidelity is reported from the held-out test split with
its 95% interval where measured (:func:`quality_words`), while selection used the validation split.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import onnxruntime as ort
import psutil

from advisor.budget import Budget, noise_ms, reference_latency, same_run_baseline, within_limit
from advisor.measure.intervals import resolution_warning
from advisor.problem import Evaluation, Problem
from advisor.types import LatencyStats, Measurement, QualityFigure, Reason

if TYPE_CHECKING:  # types only: advice sits below ranking and profiling, which pass their values in
    from advisor.profiling import DeviceProfile
    from advisor.ranking import Ranking

__all__ = ["Advice", "choose", "pareto_front", "build_advice", "PICK_RULES", "latency_words", "latency_label",
           "quality_words", "speedup", "figures_source"]

PICK_RULES = {
    "latency": "lowest p90 latency among candidates within every limit; p90s within measured noise are ties, "
               "which go to the more accurate (by more than 0.1 pt), then the lower p50, then the smaller file",
    "size": "smallest file among candidates within every limit; ties go to the lower p90 latency "
            "(within measured noise: the more accurate)",
    "accuracy": "highest accuracy (or fidelity) among candidates within every limit; ties go to the lower p90 "
                "(within measured noise: the smaller file)",
}
MEASURED = "measured on this device (onnxruntime CPU, interleaved with the original)"


def latency_label(lat: LatencyStats) -> str:
    """Short label of where a latency comes from, for table headers and columns."""
    if lat.source == "predicted":
        return f"predicted for profile {lat.profile or '?'}"
    return "measured here, earlier run" if lat.source == "earlier-run" else "measured here, same run"


def latency_words(lat: LatencyStats) -> str:
    """``measured p90 0.123 ms`` or ``predicted p90 0.123 ms for profile P (95% interval of p50 ...)``."""
    if lat.source == "predicted":
        iv = ("" if lat.interval_ms is None
              else f" (p50 95% interval {lat.interval_ms[0]:.3g}-{lat.interval_ms[1]:.3g} ms)")
        return f"predicted p90 {lat.p90_ms:.3f} ms for profile {lat.profile or '?'}{iv}"
    return f"p90 {lat.p90_ms:.3f} ms ({latency_label(lat)})"


def speedup(baseline: Measurement, m: Measurement) -> tuple[float, LatencyStats]:
    """p50 speed-up of ``m`` over the original, and the original's timing it is against: the one
    from ``m``'s own run (interleaved) when there is one."""
    ref = reference_latency(baseline, m)
    return (ref.p50_ms / m.latency.p50_ms if m.latency.p50_ms > 0 else float("nan")), ref


def _speedup_words(baseline: Measurement, m: Measurement) -> str:
    ratio, ref = speedup(baseline, m)
    if m.latency.source == "predicted":
        return f"{ratio:.2f}x p50 speed-up, both latencies predicted for profile {m.latency.profile or '?'}"
    if same_run_baseline(m) is not None:
        return f"{ratio:.2f}x p50 speed-up vs the original timed in the same run ({ref.p50_ms:.3f} ms p50)"
    return f"{ratio:.2f}x p50 speed-up vs the original's earlier-run timing"


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


@dataclass
class Advice:
    """Everything ``advice.json`` holds; :meth:`to_dict` is the file's content."""

    problem: Problem
    budget: Budget
    evaluations: list[Evaluation]
    chosen: Evaluation | None
    binding: str | None
    nearest: list[Evaluation]
    reasons: list[Reason]
    device: dict[str, Any]
    trials: dict[str, Any]
    ranking: Ranking | None = None

    @property
    def fits(self) -> bool:
        return self.chosen is not None

    @property
    def exit_code(self) -> int:
        return 0 if self.fits else 1

    @property
    def shown(self) -> Evaluation:
        """The chosen candidate, or the nearest one when nothing fits."""
        if self.chosen is not None:
            return self.chosen
        return self.nearest[0] if self.nearest else _baseline_eval(self.problem)

    def to_dict(self) -> dict[str, Any]:
        p, b = self.problem, self.budget
        shown = self.shown
        lim = b.resolve(p.baseline, shown.measurement)
        ref = reference_latency(p.baseline, shown.measurement) if shown.measurement else p.baseline.latency
        return {
            "schema": "compression-advisor/advice/1",
            "fits_budget": self.fits,
            "strategy": shown.label,
            "params": shown.params,
            "pick_rule": PICK_RULES[b.objective],
            "model": {
                "source": p.model.source,
                "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.inputs],
                "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.outputs],
                "graph": p.graph.to_dict(),
                "file": "model.onnx" if self.fits else "nearest.onnx",
            },
            "data": {"source": p.data.source, "metric": p.data.metric, "policy": p.data.policy,
                     "train": len(p.data.train), "trained_on": p.data.trained_on,
                     "calibration": len(p.data.calib), "validation": len(p.data.val), "test": len(p.data.test),
                     "summary": p.data.summary()},
            "device": self.device,
            "budget": {**b.to_dict(), "resolved": {
                "min_quality": lim.min_quality, "max_size_bytes": lim.max_size_bytes,
                "max_latency_ms_p90": lim.max_latency_ms, "max_compress_seconds": lim.max_compress_seconds,
                "latency_ratio_against": f"the original's p90 {ref.p90_ms:.5g} ms ({ref.describe_source()})"}},
            "latency_source": shown.measurement.latency.describe_source() if shown.measurement else None,
            "selection_split": _selection_split(shown.measurement),
            "baseline": {**p.baseline.to_dict(), "latency_source": p.baseline.latency.describe_source()},
            "compressed": _measured(p, shown.measurement),
            "satisfied": b.satisfied(p.baseline, shown.measurement) if shown.measurement else {},
            "held_out_check": held_out_check(b, p.baseline, shown.measurement) if shown.measurement else None,
            "binding_constraint": self.binding,
            "nearest": [_point(p, b, e) for e in self.nearest],
            "alternatives": [_point(p, b, e) for e in pareto_front(self.evaluations) if e is not shown],
            "candidates": [_point(p, b, e) for e in self.evaluations],
            "ranking": self.ranking.to_dict() if self.ranking is not None else None,
            "reasons": [r.to_dict() for r in self.reasons],
            "trials": self.trials,
        }


def _selection_split(m: Measurement | None) -> str | None:
    return None if m is None or m.selection is None else m.selection.split


def _measured(p: Problem, m: Measurement | None) -> dict[str, Any] | None:
    """A measurement for ``advice.json``, with where its latency comes from and its same-run ratio."""
    if m is None:
        return None
    ratio, ref = speedup(p.baseline, m)
    return {**m.to_dict(), "latency_source": m.latency.describe_source(),
            "baseline_latency": ref.to_dict(), "speedup_p50": round(ratio, 4),
            "speedup_against": ref.describe_source()}


def _baseline_eval(p: Problem) -> Evaluation:
    return Evaluation("NQ", {}, p.baseline)


def _point(p: Problem, b: Budget, e: Evaluation) -> dict[str, Any]:
    d: dict[str, Any] = {"strategy": e.label, "params": e.params}
    if e.measurement is None:
        d["error"] = e.error
        return d
    m = e.measurement
    if m.reported is not None:
        d["reported"] = m.reported.to_dict()
    d.update({
        p.data.metric: round(m.quality, 6),
        "size_bytes": m.size_bytes,
        "size_compressed_bytes": m.size_compressed_bytes,
        "latency_ms_p50": round(m.latency.p50_ms, 5),
        "latency_ms_p90": round(m.latency.p90_ms, 5),
        "compress_seconds": round(m.compress_seconds, 3),
        "latency_source": m.latency.describe_source(),
        "speedup_p50": round(speedup(p.baseline, m)[0], 4),
        "satisfied": b.satisfied(p.baseline, m),
        "fits": b.fits(p.baseline, m),
    })
    return d


def _dominates(a: Measurement, b: Measurement) -> bool:
    ka = (-a.quality, a.latency.p90_ms, a.size_bytes)
    kb = (-b.quality, b.latency.p90_ms, b.size_bytes)
    return all(x <= y for x, y in zip(ka, kb, strict=True)) and ka != kb


def pareto_front(evals: list[Evaluation]) -> list[Evaluation]:
    """Candidates no other candidate beats on accuracy, p90 latency and size at once."""
    ok = [e for e in evals if e.measurement is not None]
    return [e for e in ok if not any(_dominates(o.measurement, e.measurement) for o in ok if o is not e)]


def choose(
    budget: Budget, baseline: Measurement, evals: list[Evaluation]
) -> tuple[Evaluation | None, str | None, list[Evaluation]]:
    """The pick, the binding constraint (when nothing fits), and the nearest candidates."""
    ok = [e for e in evals if e.measurement is not None]
    feasible = [e for e in ok if budget.fits(baseline, e.measurement)]
    if feasible:
        best, _ = budget.pick([e.measurement for e in feasible])
        return feasible[best], None, []

    def excess(e: Evaluation) -> float:
        return sum(max(0.0, v) for v in budget.violations(baseline, e.measurement).values())

    nearest = sorted(ok, key=excess)[:3]
    binding = None
    counts: dict[str, int] = {}
    least: dict[str, float] = {}  # the smallest excess over each such limit
    for e in ok:
        viol = budget.violations(baseline, e.measurement)
        bad = [k for k, v in viol.items() if not within_limit(v)]
        if len(bad) == 1:  # removing this one limit alone would make e feasible
            counts[bad[0]] = counts.get(bad[0], 0) + 1
            least[bad[0]] = min(least.get(bad[0], math.inf), viol[bad[0]])
    if counts:  # the limit that blocks the most candidates alone; on a tie, the one missed by least
        binding = max(counts, key=lambda k: (counts[k], -least[k]))
    elif nearest:
        viol = budget.violations(baseline, nearest[0].measurement)
        binding = max(viol, key=viol.get)
    return None, binding, nearest


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
) -> Advice:
    """Choose under ``budget`` and explain: measurements first, then rules and research."""
    base = problem.baseline
    all_evals = [_baseline_eval(problem), *evals]
    chosen, binding, nearest = choose(budget, base, all_evals)
    reasons: list[Reason] = []
    shown = chosen or (nearest[0] if nearest else None)
    metric = problem.data.metric
    n_test = len(problem.data.test)
    if chosen is not None:
        m = chosen.measurement
        feasible = [e for e in all_evals if e.ok and budget.fits(base, e.measurement)]
        reasons.append(Reason(
            f"{chosen.label} is the pick: {PICK_RULES[budget.objective]}.",
            f"{len(feasible)} of {sum(1 for e in all_evals if e.ok)} measured candidates fit: {budget.describe()}"
            + (f"; chosen on the {m.selection.split} split ({metric} {m.selection.value:.4f}, n={m.selection.n})"
               if m.selection is not None else "")
            + (f"; reported on the {m.reported.split} split, which took no part in choosing"
               if m.reported is not None else ""),
            "advisor pick rule",
        ))
        tie = _tie_reason(budget, feasible, chosen, metric)
        if tie is not None:
            reasons.append(tie)
        ref = reference_latency(base, m)
        reasons.append(Reason(
            f"{chosen.label}: {latency_words(m.latency)} vs {ref.p90_ms:.3f} ms original "
            f"({_speedup_words(base, m)}), file {m.size_bytes / 1024:.0f} KB vs "
            f"{base.size_bytes / 1024:.0f} KB ({base.size_bytes / m.size_bytes:.1f}x smaller).",
            _latency_evidence(m.latency) + f"; {metric} {quality_words(m, metric, n_test)} vs "
            f"{quality_words(base, metric, n_test)} original; compression took {m.compress_seconds:.1f} s",
            figures_source(m),
        ))
        held_out = held_out_check(budget, base, m)
        if held_out is not None and not held_out["passes"]:
            r = m.reported
            reasons.append(Reason(
                f"Held-out check failed: on the test split {chosen.label} scores {metric} {r.value:.4f} "
                f"[{r.lo:.4f}, {r.hi:.4f}], below the limit {held_out['limit']:.4f}; the validation figure that "
                f"chose it ({m.quality:.4f}) was optimistic. Treat the limit as unproven: more data (a larger test "
                "split) or a stricter limit would settle it.",
                f"selection: {metric} {m.quality:.4f} on {m.selection.n if m.selection else '?'} validation samples; "
                f"report: {r.value:.4f} on {r.n} test samples (95% {r.method} interval); {budget.describe()}",
                "advisor: choose on validation, report on test (docs/measurement.md)",
            ))
        warning = _resolution_warning(m, budget)
        if warning:
            reasons.append(Reason(warning, f"{metric} {quality_words(m, metric, n_test)}; {budget.describe()}",
                                  "advisor: 95% interval of the test figure (docs/measurement.md)"))
    else:
        viol = budget.violations(base, shown.measurement) if shown else {}
        reasons.append(Reason(
            f"Nothing fits the budget; the binding constraint is {binding}.",
            f"nearest: {shown.label if shown else 'none'} misses by "
            + ", ".join(f"{k} {v:+.2f}" for k, v in viol.items() if v > 0) + f" ({budget.describe()})",
            "advisor pick rule",
        ))
    for e in evals:
        if e.error:
            reasons.append(Reason(f"{e.label} was not measured: {e.error}", "technique check or failure", "advisor"))
        elif e.measurement is not None and e is not chosen and not budget.fits(base, e.measurement):
            bad = [k for k, ok in budget.satisfied(base, e.measurement).items() if not ok]
            mm = e.measurement
            reasons.append(Reason(
                f"{e.label} breaks the {', '.join(bad)} limit.",
                f"{metric} {mm.quality:.4f}, {latency_words(mm.latency)} ({_speedup_words(base, mm)}), "
                f"{mm.size_bytes / 1024:.0f} KB, compression {mm.compress_seconds:.1f} s",
                figures_source(mm),
            ))
    reasons.extend(extra_reasons or [])
    if ranking is not None:
        reasons.extend(_ranking_reasons(ranking, shown, metric, base.quality))
    if budget.tier:
        picks = {"low": "PRQ", "mid": "PRN", "high": "F16 or PRN"}
        how = ("measured the options here" if base.latency.measured else
               f"compared the options for profile {base.latency.profile} (latency predicted from its profile)")
        reasons.append(Reason(
            f"For the {budget.tier}-end tier Lee et al. picked {picks[budget.tier]} on their device; "
            f"this advice {how} instead of assuming their device's behaviour.",
            "Lee et al. 2022, section 4.3, strategy per AIoT service tier",
            "Lee et al. 2022, Sensors 22(19):7344",
        ))
    return Advice(problem, budget, evals, chosen, binding, nearest, reasons, device, trials, ranking)


def _latency_evidence(lat: LatencyStats) -> str:
    if lat.source == "predicted":
        return (f"p50 {lat.p50_ms:.3f} ms predicted for profile {lat.profile or '?'} at {lat.threads} thread(s) "
                "(no run on that device; p90 scaled by the p90/p50 ratio of this run)")
    noise = "" if lat.spread is None else f", run-to-run noise +-{100 * lat.spread:.1f}%"
    return f"p50 {lat.p50_ms:.3f} ms over {lat.runs} runs at {lat.threads} thread(s){noise}"


def _tie_reason(budget: Budget, feasible: list[Evaluation], chosen: Evaluation, metric: str) -> Reason | None:
    """Says so when candidates' p90 latencies were within measured noise and accuracy/size decided."""
    ms = [e.measurement for e in feasible]
    _, tied = budget.pick(ms)
    if not tied:
        return None
    others = [feasible[i] for i in tied if feasible[i] is not chosen]
    fastest = min((feasible[i] for i in tied), key=lambda e: e.measurement.latency.p90_ms)
    m, f = chosen.measurement, fastest.measurement
    if fastest is chosen:
        text = (f"{chosen.label} is the fastest, and its p90 is a tie within measured noise with "
                f"{', '.join(e.label for e in others)}; it also wins the tie-break (accuracy, then size).")
    else:
        text = (f"{chosen.label} wins a tie within measured noise: its p90 {m.latency.p90_ms:.4f} ms and "
                f"{fastest.label}'s {f.latency.p90_ms:.4f} ms differ by "
                f"{abs(m.latency.p90_ms - f.latency.p90_ms) * 1000:.1f} us, less than the noise "
                f"({(noise_ms(m) + noise_ms(f)) * 1000:.1f} us); ties go to the more accurate (by more than 0.1 pt), "
                f"then the lower p50, then the smaller file.")
    return Reason(
        text,
        "; ".join(f"{e.label}: p90 {e.measurement.latency.p90_ms:.4f} ms +- {noise_ms(e.measurement) * 1000:.1f} us "
                  f"(noise), {metric} {e.measurement.quality:.4f}, {e.measurement.size_bytes / 1024:.0f} KB"
                  for e in (feasible[i] for i in tied)),
        "advisor pick rule: noise = half-range of the per-block medians of the interleaved timing",
    )


def held_out_check(budget: Budget, baseline: Measurement, m: Measurement) -> dict[str, Any] | None:
    """Whether the held-out test figure (not only the validation figure that chose ``m``) meets
    the accuracy limit; ``None`` without a test figure or an accuracy limit."""
    lim = budget.resolve(baseline, m).min_quality
    if m.reported is None or lim is None:
        return None
    return {"limit": round(lim, 6), "test": round(m.reported.value, 6), "interval": [m.reported.lo, m.reported.hi],
            "n": m.reported.n, "passes": within_limit(lim - m.reported.value)}


def _resolution_warning(m: Measurement, budget: Budget) -> str | None:
    """Whether the test split is too small to resolve the accuracy limit (a sentence, or None)."""
    if m.reported is None or budget.max_accuracy_drop is None:
        return None
    return resolution_warning(m.reported, budget.max_accuracy_drop)


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
            drop = (base_quality - m.quality) * 100
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
