"""From measured candidates to advice: the pick under the budget, the Pareto front, the binding
constraint when nothing fits, and the reasons.

The pick rule (stated in every advice): among candidates that satisfy every limit, the best on the
budget's objective -- lowest p90 latency (ties: smaller file), smallest file (ties: lower p90), or
highest accuracy (ties: lower p90).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

from advisor.budget import Budget
from advisor.problem import Evaluation, Problem
from advisor.types import Measurement, Reason

__all__ = ["Advice", "choose", "pareto_front", "build_advice", "PICK_RULES"]

PICK_RULES = {
    "latency": "lowest p90 latency among candidates within every limit; ties go to the smaller file",
    "size": "smallest file among candidates within every limit; ties go to the lower p90 latency",
    "accuracy": "highest accuracy (or fidelity) among candidates within every limit; ties go to the lower p90",
}
MEASURED = "measured on this device (onnxruntime CPU, interleaved with the original)"


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
    ranking: Any | None = None  # advisor.ranking.Ranking

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
        lim = b.resolve(p.baseline)
        return {
            "schema": "compression-advisor/advice/1",
            "fits_budget": self.fits,
            "strategy": shown.strategy,
            "params": shown.params,
            "pick_rule": PICK_RULES[b.objective],
            "model": {
                "source": p.model.source,
                "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.inputs],
                "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in p.model.outputs],
                "graph": p.graph.to_dict(),
                "file": "model.onnx" if self.fits else "nearest.onnx",
            },
            "data": {"source": p.data.source, "metric": p.data.metric, "train": len(p.data.train),
                     "calibration": len(p.data.calib), "test": len(p.data.test)},
            "device": self.device,
            "budget": {**b.to_dict(), "resolved": {
                "min_quality": lim.min_quality, "max_size_bytes": lim.max_size_bytes,
                "max_latency_ms_p90": lim.max_latency_ms, "max_compress_seconds": lim.max_compress_seconds}},
            "baseline": p.baseline.to_dict(),
            "compressed": shown.measurement.to_dict() if shown.measurement else None,
            "satisfied": b.satisfied(p.baseline, shown.measurement) if shown.measurement else {},
            "binding_constraint": self.binding,
            "nearest": [_point(p, b, e) for e in self.nearest],
            "alternatives": [_point(p, b, e) for e in pareto_front(self.evaluations) if e is not shown],
            "candidates": [_point(p, b, e) for e in self.evaluations],
            "ranking": self.ranking.to_dict() if self.ranking is not None else None,
            "reasons": [r.to_dict() for r in self.reasons],
            "trials": self.trials,
        }


def _baseline_eval(p: Problem) -> Evaluation:
    return Evaluation("NQ", {}, p.baseline)


def _point(p: Problem, b: Budget, e: Evaluation) -> dict[str, Any]:
    d: dict[str, Any] = {"strategy": e.strategy, "params": e.params}
    if e.measurement is None:
        d["error"] = e.error
        return d
    m = e.measurement
    d.update({
        p.data.metric: round(m.quality, 6),
        "size_bytes": m.size_bytes,
        "size_compressed_bytes": m.size_compressed_bytes,
        "latency_ms_p50": round(m.latency.p50_ms, 5),
        "latency_ms_p90": round(m.latency.p90_ms, 5),
        "compress_seconds": round(m.compress_seconds, 3),
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


def choose(budget: Budget, baseline: Measurement, evals: list[Evaluation]) -> tuple[Evaluation | None, str | None, list[Evaluation]]:
    """The pick, the binding constraint (when nothing fits), and the nearest candidates."""
    ok = [e for e in evals if e.measurement is not None]
    feasible = [e for e in ok if budget.fits(baseline, e.measurement)]
    if feasible:
        return min(feasible, key=lambda e: budget.score(e.measurement)), None, []

    def excess(e: Evaluation) -> float:
        return sum(max(0.0, v) for v in budget.violations(baseline, e.measurement).values())

    nearest = sorted(ok, key=excess)[:3]
    binding = None
    counts: dict[str, int] = {}
    for e in ok:
        bad = [k for k, v in budget.violations(baseline, e.measurement).items() if v > 1e-12]
        if len(bad) == 1:  # removing this one limit alone would make e feasible
            counts[bad[0]] = counts.get(bad[0], 0) + 1
    if counts:
        binding = max(counts, key=counts.get)
    elif nearest:
        viol = budget.violations(baseline, nearest[0].measurement)
        binding = max(viol, key=viol.get)
    return None, binding, nearest


def device_summary(problem: Problem, profile: Any | None = None) -> dict[str, Any]:
    """Device section of the advice: the profile's key figures, or what we know without one."""
    if profile is not None and hasattr(profile, "key_figures"):
        d = profile.key_figures()
    else:
        import psutil

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
    ranking: Any | None = None,
) -> Advice:
    """Choose under ``budget`` and explain: measurements first, then rules and research."""
    base = problem.baseline
    all_evals = [_baseline_eval(problem), *evals]
    chosen, binding, nearest = choose(budget, base, all_evals)
    reasons: list[Reason] = []
    shown = chosen or (nearest[0] if nearest else None)
    metric = problem.data.metric
    if chosen is not None:
        m = chosen.measurement
        reasons.append(Reason(
            f"{chosen.strategy} is the pick: {PICK_RULES[budget.objective]}.",
            f"{sum(1 for e in all_evals if e.ok and budget.fits(base, e.measurement))} of "
            f"{sum(1 for e in all_evals if e.ok)} measured candidates fit: {budget.describe()}",
            "advisor pick rule",
        ))
        reasons.append(Reason(
            f"{chosen.strategy} measured p90 {m.latency.p90_ms:.3f} ms vs {base.latency.p90_ms:.3f} ms original "
            f"({base.latency.p50_ms / m.latency.p50_ms:.2f}x p50 speed-up), file {m.size_bytes / 1024:.0f} KB vs "
            f"{base.size_bytes / 1024:.0f} KB ({base.size_bytes / m.size_bytes:.1f}x smaller).",
            f"p50 {m.latency.p50_ms:.3f} ms over {m.latency.runs} runs at {m.latency.threads} thread(s); "
            f"{metric} {m.quality:.4f} vs {base.quality:.4f} on {len(problem.data.test)} test samples; "
            f"compression took {m.compress_seconds:.1f} s",
            MEASURED,
        ))
    else:
        viol = budget.violations(base, shown.measurement) if shown else {}
        reasons.append(Reason(
            f"Nothing fits the budget; the binding constraint is {binding}.",
            f"nearest: {shown.strategy if shown else 'none'} misses by "
            + ", ".join(f"{k} {v:+.2f}" for k, v in viol.items() if v > 0) + f" ({budget.describe()})",
            "advisor pick rule",
        ))
    for e in evals:
        if e.error:
            reasons.append(Reason(f"{e.strategy} was not measured: {e.error}", "technique check or failure", "advisor"))
        elif e.measurement is not None and e is not chosen and not budget.fits(base, e.measurement):
            bad = [k for k, ok in budget.satisfied(base, e.measurement).items() if not ok]
            mm = e.measurement
            reasons.append(Reason(
                f"{e.strategy} breaks the {', '.join(bad)} limit.",
                f"{metric} {mm.quality:.4f}, p90 {mm.latency.p90_ms:.3f} ms, {mm.size_bytes / 1024:.0f} KB, "
                f"compression {mm.compress_seconds:.1f} s",
                MEASURED,
            ))
    reasons.extend(extra_reasons or [])
    if ranking is not None:
        reasons.extend(_ranking_reasons(ranking, shown, metric, base.quality))
    if budget.tier:
        picks = {"low": "PRQ", "mid": "PRN", "high": "F16 or PRN"}
        reasons.append(Reason(
            f"For the {budget.tier}-end tier Lee et al. picked {picks[budget.tier]} on their device; "
            "this advice measured the options here instead of assuming their device's behaviour.",
            "Lee et al. 2022, section 4.3, strategy per AIoT service tier",
            "Lee et al. 2022, Sensors 22(19):7344",
        ))
    return Advice(problem, budget, evals, chosen, binding, nearest, reasons, device, trials, ranking)


def base_strategy(e: Evaluation) -> str:
    """``PRN(sparsity=0.9) #4`` -> ``PRN``."""
    return str(e.notes.get("strategy") or e.strategy.split(" #")[0].split("(")[0])


def _ranking_reasons(ranking: Any, shown: Evaluation | None, metric: str, base_quality: float) -> list[Reason]:
    """Rules that fired for the shown strategy, general rule notes, exclusions, and how the
    ranker's prediction compares with what was measured."""
    out: list[Reason] = []
    items = {i.strategy: i for i in ranking.items}
    name = base_strategy(shown) if shown is not None else None
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
            out.append(Reason(
                f"Predicted before any trial (rank {item.rank}, {item.p_meets:.0%} chance to fit) vs measured: "
                f"p90 {lat.mean:.3f} ms [{lat.lo:.3f}, {lat.hi:.3f}] vs {m.latency.p90_ms:.3f} ms; "
                f"size {size.mean / 1024:.0f} KB [{size.lo / 1024:.0f}, {size.hi / 1024:.0f}] vs {m.size_bytes / 1024:.0f} KB; "
                f"{metric} drop {acc.mean:+.2f} pt [{acc.lo:+.2f}, {acc.hi:+.2f}] vs {drop:+.2f} pt.",
                f"ranker trained on {ranking.kb_records} knowledge-base records; baseline latency {ranking.baseline_latency_source}",
                "advisor ranker (rules + random-forest regression) vs measurement on this device",
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
