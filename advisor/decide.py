"""Decisions on measured figures: every budget limit judged on an interval, a candidate's speed as a
ratio to the original timed in the same run, and the pick. The one home of the decision rule
(docs/measurement.md, "The decision rule").

- **Accuracy** is judged on the paired drop's one-sided bounds at the budget's confidence
  (:class:`~advisor.types.DropFigure`): ``fits`` / ``unresolved`` / ``breaks``; only ``fits`` meets
  the limit.
- **Latency** is judged on the candidate / original ratio timed in the same run (its p90 for a
  ratio limit; the candidate's own p90 blocks for a limit in ms): ``fits`` / ``within noise`` /
  ``breaks``; figures within :data:`~advisor.measure.latency.LATENCY_RESOLUTION` of the limit are
  within noise and meet it, since no timing on this machine separates them.
- **Size** and **compression time** are exact: ``fits`` / ``breaks``.

The pick (:func:`pick`): among candidates that meet every limit (for a latency objective, none
measured slower than the original), the best on the objective's keys in order -- latency: speed,
accuracy, size; size: size, speed, accuracy; accuracy: accuracy, speed, size -- where at each key
every candidate *tied* with the best stays in and the next key decides: speeds tied within measured
noise (paired blocks of one run, else overlapping intervals of each one's own same-run speed-up),
drops within :data:`ACCURACY_RESOLUTION_PTS`, sizes within :data:`SIZE_RESOLUTION`. The candidates
tied at the first key are the pick's *ties*: a rerun can only pick among them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from advisor.budget import Budget
from advisor.measure.latency import LATENCY_RESOLUTION, compare, median_bounds, ratio_figure
from advisor.measure.paired import more_samples
from advisor.types import DropFigure, LatencyStats, Measurement, RatioFigure

__all__ = ["Verdict", "judge", "meets", "violations", "speed", "pick", "Pick", "same_run_baseline",
           "reference_latency", "BASELINE_LATENCY_KEY", "ACCURACY_RESOLUTION_PTS", "SIZE_RESOLUTION", "drop_of",
           "KEYS", "tied", "finalists", "binding", "excess", "score"]

# ``Measurement.extra[BASELINE_LATENCY_KEY]``: the original's LatencyStats (as a dict) timed in the
# same run as the candidate, interleaved with it (set by ``Problem.evaluate`` and the final race).
BASELINE_LATENCY_KEY = "baseline_latency"
#: Drops closer than this (points) are equal when breaking a tie: far inside any split's interval.
ACCURACY_RESOLUTION_PTS = 0.1
#: Files within 1% of each other are the same size when size is the objective.
SIZE_RESOLUTION = 0.01
#: The pick's keys per objective, in order.
KEYS = {"latency": ("speed", "accuracy", "size"), "size": ("size", "speed", "accuracy"),
        "accuracy": ("accuracy", "speed", "size")}


def same_run_baseline(m: Measurement) -> LatencyStats | None:
    """The original's latency timed in the same run as ``m`` (interleaved), or ``None`` (the
    original itself, or a record from before same-run baselines were kept)."""
    d = m.extra.get(BASELINE_LATENCY_KEY) if m.extra else None
    return LatencyStats.from_dict(d) if isinstance(d, dict) else None


def reference_latency(baseline: Measurement, m: Measurement) -> LatencyStats:
    """The original's latency that ``m`` is compared with: the same-run timing when there is one,
    else the original's own (``m`` is the original, or an old record)."""
    return same_run_baseline(m) or baseline.latency


def speed(baseline: Measurement, m: Measurement, stat: str = "p50", confidence: float = 0.95) -> RatioFigure:
    """``m``'s latency over the original's from the same run (below 1: faster); the original itself: 1."""
    if m is baseline:
        return RatioFigure(1.0, 1.0, 1.0, 0, stat, confidence)
    return ratio_figure(m.latency, reference_latency(baseline, m), stat, confidence)


def drop_of(baseline: Measurement, m: Measurement) -> DropFigure:
    """``m``'s paired drop on validation; a record without one gets its point drop, zero-width."""
    if m.drop is not None:
        return m.drop
    pts = 0.0 if m is baseline else 100 * (baseline.quality - m.quality)
    n = m.selection.n if m.selection is not None else 0
    return DropFigure(pts, pts, pts, n, m.metric, "validation", "point (no paired figure recorded)", 0.95, of=n)


@dataclass(frozen=True)
class Verdict:
    """One limit judged on one candidate.

    Attributes:
        constraint: ``accuracy``, ``size``, ``latency`` or ``compress_time``.
        state: ``fits``, ``unresolved`` (accuracy: the interval straddles the limit), ``within noise``
            (latency: the same) or ``breaks``.
        meets: whether the candidate may be picked under this limit.
        excess: how far the pessimistic end is over the limit (accuracy: points; others: relative;
            <= 0 when it meets): the Optuna constraint value and the binding-constraint measure.
        figure: the figure judged, in words; ``limit``: the limit, in words.
        more: for an unresolved accuracy: about how many more samples would resolve it.
    """

    constraint: str
    state: str
    meets: bool
    excess: float
    figure: str
    limit: str
    more: int | None = None


def _latency_interval(m: Measurement, confidence: float) -> tuple[float, float, float]:
    """``m``'s p90 and its bounds in ms: the median bounds of its per-block p90s (exact for a
    predicted figure, widened by the run's noise for a record without blocks)."""
    lat = m.latency
    if not lat.measured:
        return lat.p90_ms, lat.p90_ms, lat.p90_ms
    if not lat.blocks_p90:
        noise = lat.spread or 0.0
        return lat.p90_ms, lat.p90_ms * (1 - noise), lat.p90_ms * (1 + noise)
    lo, hi = median_bounds(lat.blocks_p90, confidence)
    return lat.p90_ms, min(lo, lat.p90_ms), max(hi, lat.p90_ms)


def _three(lo: float, hi: float, limit: float) -> str:
    edge = limit * (1 + LATENCY_RESOLUTION)
    return "fits" if hi <= edge else ("breaks" if lo > edge else "within noise")


def judge(budget: Budget, baseline: Measurement, m: Measurement) -> dict[str, Verdict]:
    """Every limit of ``budget`` judged on ``m`` (``baseline``: the original's measurement)."""
    out: dict[str, Verdict] = {}
    c = budget.confidence
    if budget.max_accuracy_drop is not None:
        limit = budget.max_accuracy_drop
        d = drop_of(baseline, m)
        state = d.verdict(limit)
        out["accuracy"] = Verdict("accuracy", state, state == "fits", d.hi - limit, d.describe(),
                                  f"drop <= {limit:g} pt", more_samples(d, limit) if state == "unresolved" else None)
    lim = budget.resolve(baseline)
    if lim.max_size_bytes is not None:
        v = m.size_bytes / lim.max_size_bytes - 1
        out["size"] = Verdict("size", "fits" if v <= 1e-12 else "breaks", v <= 1e-12, v,
                              f"{m.size_bytes / 1024:.1f} KB", f"<= {lim.max_size_bytes / 1024:.1f} KB")
    lat_checks: list[Verdict] = []
    if budget.max_latency_ratio is not None:
        r = budget.max_latency_ratio
        fig = speed(baseline, m, "p90", c)
        state = _three(fig.lo, fig.hi, r)
        lat_checks.append(Verdict("latency", state, state != "breaks", fig.lo / (r * (1 + LATENCY_RESOLUTION)) - 1,
                                  f"p90 {fig.value:.3f}x the original's [{fig.lo:.3f}, {fig.hi:.3f}] (same run)",
                                  f"p90 <= {r:.0%} of the original"))
    if budget.max_latency_ms is not None:
        ms = budget.max_latency_ms
        p90, lo, hi = _latency_interval(m, c)
        state = _three(lo, hi, ms)
        lat_checks.append(Verdict("latency", state, state != "breaks", lo / (ms * (1 + LATENCY_RESOLUTION)) - 1,
                                  f"p90 {p90:.3f} ms [{lo:.3f}, {hi:.3f}]", f"p90 <= {ms:g} ms"))
    if lat_checks:
        order = {"breaks": 0, "within noise": 1, "fits": 2}
        out["latency"] = min(lat_checks, key=lambda v: (order[v.state], -v.excess))
    if budget.max_compress_seconds is not None:
        v = m.compress_seconds / budget.max_compress_seconds - 1
        out["compress_time"] = Verdict("compress_time", "fits" if v <= 1e-12 else "breaks", v <= 1e-12, v,
                                       f"{m.compress_seconds:.1f} s", f"<= {budget.max_compress_seconds:g} s")
    return out


def meets(budget: Budget, baseline: Measurement, m: Measurement) -> bool:
    """Whether ``m`` meets every limit (accuracy: fits at the confidence; latency: fits or within noise)."""
    return all(v.meets for v in judge(budget, baseline, m).values())


def violations(budget: Budget, baseline: Measurement, m: Measurement) -> dict[str, float]:
    """Per limit, the excess of the pessimistic end over it (<= 0: meets): Optuna's constraints."""
    return {k: v.excess for k, v in judge(budget, baseline, m).items()}


def tied(key: str, a: Measurement, b: Measurement, baseline: Measurement) -> bool:
    """Whether ``a`` and ``b`` are equal on one key of the pick (see the module docstring)."""
    if key == "speed":
        if a is b:
            return True
        la, lb = a.latency, b.latency
        if la.where is not None and lb.where is not None and la.where.fingerprint != lb.where.fingerprint:
            return True  # measured on two devices: never compared directly (the final race times them on one)
        if la.run is not None and la.run == lb.run:  # timed in one run: their own paired blocks
            return compare(ratio_figure(la, lb)) == "tied"
        sa, sb = speed(baseline, a), speed(baseline, b)
        return sa.lo <= sb.hi * (1 + LATENCY_RESOLUTION) and sb.lo <= sa.hi * (1 + LATENCY_RESOLUTION)
    if key == "accuracy":
        return abs(drop_of(baseline, a).value - drop_of(baseline, b).value) <= ACCURACY_RESOLUTION_PTS
    small, big = sorted((a.size_bytes, b.size_bytes))
    return big <= small * (1 + SIZE_RESOLUTION)


def score(budget: Budget, baseline: Measurement, m: Measurement) -> tuple[float, ...]:
    """Point sort key on the objective's keys (smaller is better): how the search tracks its
    incumbent while it runs. The pick itself is :func:`pick` (ties within noise)."""
    return tuple(_value(k, m, baseline) for k in KEYS[budget.objective])


def _value(key: str, m: Measurement, baseline: Measurement) -> float:
    if key == "speed":
        return speed(baseline, m).value
    if key == "accuracy":
        return drop_of(baseline, m).value
    return float(m.size_bytes)


@dataclass(frozen=True)
class Pick:
    """The pick among candidates (indices into the list given to :func:`pick`).

    ``index`` is ``None`` when nothing meets the budget; ``ties`` are the candidates tied with it at
    the objective's first key (the pick among them); ``feasible`` those that meet every limit;
    ``slower`` those left out of a latency objective because they measured slower than the original.
    """

    index: int | None
    ties: tuple[int, ...]
    feasible: tuple[int, ...]
    slower: tuple[int, ...] = ()


def pick(budget: Budget, baseline: Measurement, ms: Sequence[Measurement | None],
         names: Sequence[str] | None = None) -> Pick:
    """The best candidate under ``budget`` (see the module docstring); ``names`` break a last tie
    deterministically (default: the order given)."""
    names = list(names) if names is not None else [f"{i:06d}" for i in range(len(ms))]
    feasible = [i for i, m in enumerate(ms) if m is not None and meets(budget, baseline, m)]
    slower: list[int] = []
    if budget.objective == "latency":
        slower = [i for i in feasible if compare(speed(baseline, ms[i])) == "slower"]
        feasible = [i for i in feasible if i not in slower]
    if not feasible:
        return Pick(None, (), (), tuple(slower))
    live = list(feasible)
    ties: list[int] = []
    for step, key in enumerate(KEYS[budget.objective]):
        best = min(live, key=lambda i: (_value(key, ms[i], baseline), names[i]))
        live = [i for i in live if i == best or tied(key, ms[i], ms[best], baseline)]
        if step == 0:
            ties = list(live)
    chosen = min(live, key=lambda i: (ms[i].size_bytes, _value("accuracy", ms[i], baseline), names[i]))
    return Pick(chosen, tuple(i for i in ties if i != chosen), tuple(feasible), tuple(slower))


def finalists(budget: Budget, baseline: Measurement, ms: Sequence[Measurement | None], limit: int = 6) -> list[int]:
    """The candidates a final race times again with the original: those meeting the budget that are
    tied with the best at the first speed key (for a latency objective: the speed ties; otherwise
    the ties of the first key, when speed decides among them), at most ``limit``, fastest first."""
    p = pick(budget, baseline, ms)
    if p.index is None:
        return []
    group = [p.index, *p.ties]
    if budget.objective != "latency" and len(group) == 1:
        return []  # size or accuracy decided alone: no latency decision to make
    group.sort(key=lambda i: speed(baseline, ms[i]).value)
    return [i for i in group if ms[i] is not baseline][:limit]


def binding(budget: Budget, baseline: Measurement, ms: Sequence[Measurement]) -> str | None:
    """When nothing meets the budget: the limit that alone blocks most candidates (a tie goes to the
    one missed by least), else the nearest candidate's worst limit."""
    counts: dict[str, int] = {}
    least: dict[str, float] = {}
    for m in ms:
        bad = {k: v for k, v in judge(budget, baseline, m).items() if not v.meets}
        if len(bad) == 1:
            (k, v), = bad.items()
            counts[k] = counts.get(k, 0) + 1
            least[k] = min(least.get(k, math.inf), v.excess)
    if counts:
        return max(counts, key=lambda k: (counts[k], -least[k]))
    nearest = sorted(ms, key=lambda m: excess(budget, baseline, m))
    if not nearest:
        return None
    js = judge(budget, baseline, nearest[0])
    return max(js, key=lambda k: js[k].excess) if js else None


def excess(budget: Budget, baseline: Measurement, m: Measurement) -> float:
    """Sum of the positive excesses over the limits (0 when every limit is met): nearness."""
    return sum(max(0.0, v.excess) for v in judge(budget, baseline, m).values() if not v.meets)
