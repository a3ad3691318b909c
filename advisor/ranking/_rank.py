"""Rank every strategy for this model, device and budget, before any trial: predicted outcomes
with calibrated intervals from the knowledge base's regression, the chance to meet each limit,
rule firings, and the order (:mod:`advisor.ranking.order`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.budget import Budget
from advisor.profiling import DeviceFacts
from advisor.ranking.dataset import candidate_features, scale_of
from advisor.ranking.features import device_features
from advisor.ranking.order import apply_firing, assign_ranks
from advisor.ranking.ranker import Predictions, Ranker
from advisor.ranking.rules import RuleContext, fire_rules
from advisor.strategies import Strategy
from advisor.types import Measurement, Reason

__all__ = ["Interval", "RankedStrategy", "Ranking", "rank_strategies", "BASIS_WORDS"]

#: What each latency basis means, for every surface.
BASIS_WORDS = {
    "shares": "the original's per-node times measured here x the profile's per-operator ratios",
    "profile": "the device profile alone (the original not timed on that device)",
    "none": "no device profile: learned from knowledge-base records only",
}


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _p_below(mean: float, std: float, limit: float) -> float:
    if std <= 1e-12:
        return 1.0 if mean <= limit else 0.0
    return _phi((limit - mean) / std)


@dataclass(frozen=True)
class Interval:
    """A predicted figure: ``mean`` with an interval ``[lo, hi]`` of nominal ``coverage`` (``None``
    for a figure that is known, not predicted: the original's)."""

    mean: float
    lo: float
    hi: float
    coverage: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mean": round(self.mean, 6), "lo": round(self.lo, 6), "hi": round(self.hi, 6),
                "coverage": self.coverage}

    def label(self, fmt: str = "{:.3g}") -> str:
        """``2.01 [1.71, 2.36] (90%)``."""
        cov = f" ({self.coverage:.0%})" if self.coverage else ""
        return f"{fmt.format(self.mean)} [{fmt.format(self.lo)}, {fmt.format(self.hi)}]{cov}"


@dataclass
class RankedStrategy:
    """One strategy in a ranking.

    ``unknown`` holds why there is no prediction (its dry run failed): then ``predicted`` is
    empty and ``p_meets`` is not a chance (shown as "unknown"). ``last`` is set by a rule that
    ranks the strategy after every other one (e.g. training from scratch on too little data).
    ``speedup`` is the predicted p50 speed-up over the original timed in the same run (the
    inverse of the latency ratio), with its interval; ``learned_from`` says what the prediction
    rests on (latency basis, records, calibration).
    """

    strategy: str
    predicted: dict[str, Interval] = field(default_factory=dict)
    p_each: dict[str, float] = field(default_factory=dict)
    p_meets: float = 0.0
    excluded: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    shift: float = 0.0
    score: float = math.inf
    rank: int | None = None
    std: dict[str, float] = field(default_factory=dict)  # std-equivalent spread per outcome (log units / points)
    shifts: list[tuple[float, str]] = field(default_factory=list)  # (shift, aspect) of each rule firing
    unknown: str | None = None
    last: bool = False
    speedup: Interval | None = None
    learned_from: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "strategy": self.strategy,
            "prediction": "unknown" if self.unknown is not None else "predicted",
            "unknown_reason": self.unknown,
            "predicted": {k: v.to_dict() for k, v in self.predicted.items()},
            "speedup": self.speedup.to_dict() if self.speedup is not None else None,
            "p_meets_budget": None if self.unknown is not None else round(self.p_meets, 4),
            "p_each": {k: round(v, 4) for k, v in self.p_each.items()},
            "excluded": self.excluded,
            "ranked_last": self.last,
            "rule_shift": round(self.shift, 3),
            "learned_from": self.learned_from,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass
class Ranking:
    """The ranked strategies, general reasons, and what the predictions rest on.

    Attributes:
        kb_records: knowledge-base records the ranker was fitted on.
        coverage: nominal coverage of every predicted interval (e.g. 0.9).
        device_records: records of this device among them (same CPU), when known.
        latency_basis: how candidates' latency ratios were estimated before the regression
            (``shares``, ``profile`` or ``none``; :data:`BASIS_WORDS`).
    """

    items: list[RankedStrategy]
    reasons: list[Reason]
    infeasible: bool
    binding: str | None
    kb_records: int
    baseline_latency_source: str
    coverage: float = 0.9
    device_records: int | None = None
    latency_basis: str = "none"

    def order(self) -> list[str]:
        return [i.strategy for i in self.items if i.rank is not None]

    def item(self, strategy: str) -> RankedStrategy | None:
        """The entry of ``strategy`` (its canonical name), or ``None``."""
        return next((i for i in self.items if i.strategy == strategy), None)

    def learned_from(self) -> str:
        """One line: what the predictions rest on."""
        dev = "" if self.device_records is None else f", {self.device_records} of this device"
        seen = any((i.learned_from or {}).get("intervals_from", "").startswith("held-out records") for i in self.items)
        return (f"{self.kb_records} knowledge-base records{dev}; latency from {BASIS_WORDS[self.latency_basis]}; "
                f"{self.coverage:.0%} intervals calibrated on held-out "
                + ("records (the knowledge base holds this model)" if seen else "model families"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order(),
            "infeasible": self.infeasible,
            "binding_constraint": self.binding,
            "knowledge_base_records": self.kb_records,
            "device_records": self.device_records,
            "coverage": self.coverage,
            "latency_basis": self.latency_basis,
            "learned_from": self.learned_from(),
            "baseline_latency_source": self.baseline_latency_source,
            "strategies": [i.to_dict() for i in self.items],
            "reasons": [r.to_dict() for r in self.reasons],
        }


def rank_strategies(
    *,
    ranker: Ranker,
    strategies: Sequence[str],
    excluded: dict[str, str],
    model: dict[str, float],
    baseline: Measurement,
    baseline_p90_ms: float,
    baseline_latency_source: str,
    budget: Budget,
    facts: DeviceFacts | None,
    threads: int,
    static: dict[str, dict[str, float] | None] | None = None,
    failed: dict[str, str] | None = None,
    device_records: int | None = None,
) -> Ranking:
    """The ranking: predictions with intervals, chance to meet the budget, rules, order.

    Works from features alone (``model``: :func:`~advisor.ranking.features.model_features`), so
    the benchmark can rank models it only knows from knowledge-base records.

    Args:
        ranker: a fitted :class:`Ranker`.
        static: each strategy's static facts (dry run, predicted latency ratios).
        failed: strategies whose dry run failed, with why: they get no prediction (``unknown``),
            never one read from blank static figures, and rank after every predicted strategy.
        device_records: records of this device the ranker learned from (for the surfaces).
    """
    failed = failed or {}
    static = static or {}
    df = device_features(facts, threads)
    parsed = [Strategy.parse(s) for s in strategies]
    predictable = [s for s in parsed if s.name not in failed]
    ctx = RuleContext(model=model, budget=budget, facts=facts or DeviceFacts(), baseline=baseline,
                      labelled=bool(model.get("m_labelled", 1.0)), kb_similar=ranker.similar(model))
    firings = fire_rules(ctx, parsed)
    rows = [candidate_features(model, df, s.name, static.get(s.name)) for s in predictable]
    lim = budget.resolve(baseline)
    items: list[RankedStrategy] = [_baseline_item(baseline, baseline_p90_ms, lim)]
    basis = "none"
    if rows:
        pred = ranker.predict_interval(rows)
        basis = pred.latency_basis[0]
        for k, s in enumerate(predictable):
            items.append(_item(s.name, pred, k, baseline, baseline_p90_ms, lim, ranker, rows[k],
                               faster=budget.objective == "latency"))
    for s in parsed:
        if s.name in failed:
            items.append(_unknown_item(s.name, failed[s.name]))
    for name, why in excluded.items():
        why_not = Reason(f"{name} cannot apply: {why}", "technique requirements", "advisor technique registry")
        items.append(RankedStrategy(name, excluded=why, reasons=[why_not]))
    general: list[Reason] = []
    by_name = {i.strategy: i for i in items}
    for f in firings:
        apply_firing(f, by_name, general)
    items = assign_ranks(items, budget)
    live = [i for i in items if i.rank is not None]
    known = [i for i in live if i.unknown is None]
    # A strategy without a prediction might fit: the ranking cannot call the budget infeasible.
    infeasible = not live or (len(known) == len(live) and max(i.p_meets for i in known) < 0.05)
    binding = None
    if infeasible and known:
        keys = {k for i in known for k in i.p_each}
        binding = min(keys, key=lambda k: max(i.p_each.get(k, 1.0) for i in known)) if keys else None
        general.insert(0, Reason(
            f"Infeasible: no strategy is predicted to meet the budget; the binding limit is {binding}.",
            f"best chance {max(i.p_meets for i in known):.1%} ({budget.describe()})", "advisor ranker"))
    return Ranking(items, general, infeasible, binding, int(getattr(ranker, "n_records_", 0)),
                   baseline_latency_source, coverage=float(ranker.coverage), device_records=device_records,
                   latency_basis=basis)


def _baseline_item(base: Measurement, p90: float, lim) -> RankedStrategy:
    """The original model: its figures are known, not predicted."""
    size = base.size_bytes
    pred = {"accuracy_drop_pts": Interval(0, 0, 0), "size_bytes": Interval(size, size, size),
            "latency_ms_p90": Interval(p90, p90, p90), "compress_seconds": Interval(0, 0, 0)}
    p: dict[str, float] = {}
    if lim.min_quality is not None:
        p["accuracy"] = 1.0
    if lim.max_size_bytes is not None:
        p["size"] = float(base.size_bytes <= lim.max_size_bytes)
    if lim.max_latency_ms is not None:
        p["latency"] = float(p90 <= lim.max_latency_ms)
    if lim.max_compress_seconds is not None:
        p["compress_time"] = 1.0
    return RankedStrategy("NQ", predicted=pred, p_each=p, p_meets=_product(p), speedup=Interval(1.0, 1.0, 1.0),
                          learned_from={"latency_basis": "measured"})


def _unknown_item(name: str, why: str) -> RankedStrategy:
    """A strategy with no prediction: its dry run failed, so its size and latency are unknown."""
    return RankedStrategy(name, unknown=f"dry run failed: {why}", reasons=[Reason(
        f"No prediction for {name}: its dry run failed, so the ranker has no size or latency to start from "
        "(unknown, not a guess); the search measures it after the predicted strategies.",
        f"dry run without training: {why}", "advisor ranker (static dry run)")])


def _item(name: str, pred: Predictions, k: int, base: Measurement, p90: float, lim, ranker: Ranker,
          row: dict[str, float], faster: bool = False) -> RankedStrategy:
    """A strategy's predicted figures (calibrated intervals) and its chance to meet each limit;
    with ``faster`` (a latency objective, whose pick is never slower than the original) also its
    chance to run faster than the original, so a strategy predicted slower is not tried first."""
    mean, lo, hi, std, cov = pred.mean[k], pred.lo[k], pred.hi[k], pred.std[k], pred.coverage
    e = math.exp
    acc_m, size_m, lat_m, time_m = (float(v) for v in mean)
    acc_s, size_s, lat_s, time_s = (float(v) for v in std)
    predicted = {
        "accuracy_drop_pts": Interval(acc_m, float(lo[0]), float(hi[0]), cov),
        "size_bytes": Interval(base.size_bytes * e(size_m), base.size_bytes * e(lo[1]), base.size_bytes * e(hi[1]),
                               cov),
        "latency_ms_p90": Interval(p90 * e(lat_m), p90 * e(lo[2]), p90 * e(hi[2]), cov),
        "compress_seconds": Interval(max(0.0, e(time_m) - 0.1), max(0.0, e(lo[3]) - 0.1), max(0.0, e(hi[3]) - 0.1),
                                     cov),
    }
    p: dict[str, float] = {}
    if lim.min_quality is not None:
        p["accuracy"] = _p_below(acc_m, acc_s, (base.quality - lim.min_quality) * 100)
    if lim.max_size_bytes is not None:
        p["size"] = _p_below(size_m, size_s, math.log(lim.max_size_bytes / base.size_bytes))
    if lim.max_latency_ms is not None:
        p["latency"] = _p_below(lat_m, lat_s, math.log(lim.max_latency_ms / p90))
    if lim.max_compress_seconds is not None:
        p["compress_time"] = _p_below(time_m, time_s, math.log(lim.max_compress_seconds + 0.1))
    if faster:
        p["faster"] = _p_below(lat_m, lat_s, 0.0)
    basis = pred.latency_basis[k]
    learned = {"latency_basis": basis, "latency_estimate": BASIS_WORDS[basis],
               "static_latency_ratio": _static_ratio(row, basis), "scale": scale_of(row),
               "calibration_records": {o: int(pred.calibrated[k, j]) for j, o in
                                       enumerate(("accuracy", "size", "latency", "compress_time"))},
               "similar_records": ranker.similar(row), "records": int(getattr(ranker, "n_records_", 0)),
               "intervals_from": ("held-out records of models already in the knowledge base (this one included)"
                                  if pred.seen and pred.seen[k] else "held-out model families")}
    return RankedStrategy(name, predicted=predicted, p_each=p, p_meets=_product(p),
                          std={"accuracy": acc_s, "size": size_s, "latency": lat_s, "time": time_s},
                          speedup=Interval(e(-lat_m), e(-float(hi[2])), e(-float(lo[2])), cov), learned_from=learned)


def _static_ratio(row: dict[str, float], basis: str) -> float | None:
    key = {"shares": "x_log_pred_shares", "profile": "x_log_pred_profile"}.get(basis)
    return round(math.exp(row[key]), 4) if key and row.get(key) else None


def _product(p: dict[str, float]) -> float:
    return float(np.prod(list(p.values()))) if p else 1.0
