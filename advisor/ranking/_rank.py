"""Rank every strategy for this model, device and budget, before any trial: predicted outcomes
with intervals from the knowledge base's regression, the chance to meet each limit, rule firings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from advisor.budget import Budget
from advisor.errors import InputError
from advisor.profiling import DeviceFacts
from advisor.ranking.estimator import OutcomeRegressor
from advisor.ranking.features import device_features, strategy_features
from advisor.ranking.kb import OUTCOMES
from advisor.ranking.rules import Firing, RuleContext, fire_rules
from advisor.ranking.static import static_features
from advisor.strategies import Strategy
from advisor.types import Measurement, Reason

__all__ = ["Interval", "RankedStrategy", "Ranking", "Ranker", "rank_strategies", "quality_representative", "Z80"]

Z80 = 1.2816  # 80% central interval of a normal distribution


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _p_below(mean: float, std: float, limit: float) -> float:
    if std <= 1e-12:
        return 1.0 if mean <= limit else 0.0
    return _phi((limit - mean) / std)


@dataclass(frozen=True)
class Interval:
    """A predicted figure: ``mean`` with an 80% interval ``[lo, hi]``."""

    mean: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": round(self.mean, 6), "lo": round(self.lo, 6), "hi": round(self.hi, 6)}


@dataclass
class RankedStrategy:
    """One strategy in a ranking.

    ``unknown`` holds why there is no prediction (its dry run failed): then ``predicted`` is
    empty and ``p_meets`` is not a chance (shown as "unknown"). ``last`` is set by a rule that
    ranks the strategy after every other one (e.g. training from scratch on too little data).
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
    std: dict[str, float] = field(default_factory=dict)  # predictive std per outcome (log units / points)
    shifts: list[tuple[float, str]] = field(default_factory=list)  # (shift, aspect) of each rule firing
    unknown: str | None = None
    last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "strategy": self.strategy,
            "prediction": "unknown" if self.unknown is not None else "predicted",
            "unknown_reason": self.unknown,
            "predicted": {k: v.to_dict() for k, v in self.predicted.items()},
            "p_meets_budget": None if self.unknown is not None else round(self.p_meets, 4),
            "p_each": {k: round(v, 4) for k, v in self.p_each.items()},
            "excluded": self.excluded,
            "ranked_last": self.last,
            "rule_shift": round(self.shift, 3),
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass
class Ranking:
    items: list[RankedStrategy]
    reasons: list[Reason]
    infeasible: bool
    binding: str | None
    kb_records: int
    baseline_latency_source: str

    def order(self) -> list[str]:
        return [i.strategy for i in self.items if i.rank is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order(),
            "infeasible": self.infeasible,
            "binding_constraint": self.binding,
            "knowledge_base_records": self.kb_records,
            "baseline_latency_source": self.baseline_latency_source,
            "strategies": [i.to_dict() for i in self.items],
            "reasons": [r.to_dict() for r in self.reasons],
        }


def record_static(r: dict[str, Any]) -> dict[str, float] | None:
    """A record's static figures (its measured size, MACs and predicted latency ratio)."""
    m, b = r.get("measured", {}), r.get("baseline", {})
    if "macs" not in m or "macs" not in b or not b.get("size_bytes"):
        return None
    return {"size_ratio": m["size_bytes"] / b["size_bytes"], "macs_ratio": max(1, m["macs"]) / max(1, b["macs"]),
            "cand_macs": float(m["macs"]), "pred_latency_ratio": m.get("pred_latency_ratio")}


def quality_representative(record: dict[str, Any]) -> bool:
    """Whether a record's accuracy/fidelity outcome says something about trained models: not
    when the model was randomly initialised (kept for its size and latency)."""
    return not str((record.get("notes") or {}).get("init", "")).startswith("random")


def _residual(y: list[float], x: dict[str, float]) -> list[float]:
    """Targets as corrections to the static estimates: size and latency relative to the dry run's
    size and the profiler's latency prediction (where known)."""
    acc, size, lat, secs = y
    if x.get("x_known"):
        size -= x["x_log_size"]
    if x.get("x_has_pred"):
        lat -= x["x_log_pred_lat"]
    return [acc, size, lat, secs]


class Ranker(BaseEstimator):
    """Fits an :class:`OutcomeRegressor` on knowledge-base records and predicts outcome ratios.

    Size and latency are learned as corrections to the static estimates (:mod:`.static`), so the
    regression adds what physics-style estimates miss instead of re-learning them per family.
    Estimator-style: ``__init__`` stores the settings, ``fit(records)`` returns ``self``, the
    learned state ends in ``_`` and ``sklearn.base.clone`` gives an unfitted copy. Nothing keeps a
    fitted ranker behind the caller's back: whoever ranks repeatedly fits once and passes it to
    :func:`advisor.ranking.rank`.

    Example:
        >>> Ranker(n_estimators=10).fit([]).fitted
        False
    """

    def __init__(self, *, n_estimators: int = 150, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, records: Sequence[dict[str, Any]]) -> Ranker:
        """Learn from ``records`` (knowledge-base records; unreadable ones are skipped)."""
        rows, ys, bare_ys, quality_ok = [], [], [], []
        for r in records:
            try:
                f = {**r["model_features"], **r["device_features"],
                     **strategy_features(r["strategy"], r.get("params"), r.get("train_scale", 1.0)),
                     **static_features(record_static(r))}
                raw = [float(r["outcomes"][k]) for k in OUTCOMES]
            except (InputError, KeyError, TypeError, ValueError, ZeroDivisionError):
                continue  # a record from another version or a technique we no longer have
            if not all(math.isfinite(v) for v in raw):
                continue
            rows.append(f)
            quality_ok.append(quality_representative(r))
            ys.append(_residual(raw, f))
            # The record as a ranking without a device profile sees it (no latency prediction to
            # correct): the target is the whole latency ratio. Fitted separately, on first use.
            bare = {**f, "x_log_pred_lat": 0.0, "x_has_pred": 0.0}
            bare_ys.append(_residual(raw, bare))
        self.records_ = rows
        self.columns_ = sorted({k for r in rows for k in r})
        self.bare_targets_ = bare_ys
        self.bare_model_: OutcomeRegressor | None = None
        self.model_: OutcomeRegressor | None = None
        self.accuracy_model_: OutcomeRegressor | None = None
        if len(rows) >= 5:
            self.model_ = self._forest().fit(self._matrix(rows), np.asarray(ys))
            good = [k for k, ok in enumerate(quality_ok) if ok]
            if len(good) < len(rows) and len(good) >= 5:
                # Accuracy is learned only from records whose quality figure means something
                # (trained or pretrained weights), never from randomly initialised models.
                X = self._matrix([rows[k] for k in good])
                self.accuracy_model_ = self._forest().fit(X, np.asarray([[ys[k][0]] for k in good]))
        return self

    def _forest(self) -> OutcomeRegressor:
        return OutcomeRegressor(n_estimators=self.n_estimators, random_state=self.random_state)

    def _matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        return np.asarray([[float(r.get(c, 0.0)) for c in self.columns_] for r in rows], dtype=np.float64)

    @property
    def fitted(self) -> bool:
        return getattr(self, "model_", None) is not None

    def predict(self, rows: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each outcome (columns in ``OUTCOMES`` order), with the
        static estimates added back to the learned corrections."""
        n = len(rows)
        if not self.fitted:  # no knowledge yet: an uninformative prior around the static estimates
            mean, std = np.zeros((n, len(OUTCOMES))), np.tile([5.0, 1.0, 1.0, 2.0], (n, 1))
        else:
            mean, std = self._predict(self.model_, rows)
            bare = [k for k, r in enumerate(rows) if not r.get("x_has_pred")]
            if bare:  # no latency prediction for these: whole ratios from the model fitted for that
                bmean, bstd = self._predict(self._bare(), [rows[k] for k in bare])
                mean[bare], std[bare] = bmean, bstd
            if self.accuracy_model_ is not None:
                amean, astd = self._predict(self.accuracy_model_, rows)
                mean[:, 0], std[:, 0] = amean[:, 0], astd[:, 0]
        for k, r in enumerate(rows):
            if r.get("x_known"):
                mean[k, 1] += r["x_log_size"]
                std[k, 1] = max(std[k, 1], 0.02) if self.fitted else 0.05
            if r.get("x_has_pred"):
                mean[k, 2] += r["x_log_pred_lat"]
        return mean, std

    def _predict(self, model: OutcomeRegressor, rows: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        mean, std = model.predict(self._matrix(rows), return_std=True)
        n = len(rows)
        return np.array(mean, dtype=float).reshape(n, -1), np.array(std, dtype=float).reshape(n, -1)

    def _bare(self) -> OutcomeRegressor:
        if self.bare_model_ is None:
            bare_rows = [{**r, "x_log_pred_lat": 0.0, "x_has_pred": 0.0} for r in self.records_]
            self.bare_model_ = self._forest().fit(self._matrix(bare_rows), np.asarray(self.bare_targets_))
        return self.bare_model_

    def similar(self, mf: dict[str, float]) -> int:
        """Records of models within a factor ~3 in compute and size of this one."""
        return sum(1 for r in getattr(self, "records_", []) if abs(r.get("m_log_macs", 0) - mf["m_log_macs"]) < 0.5
                   and abs(r.get("m_log_params", 0) - mf["m_log_params"]) < 0.5)


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
) -> Ranking:
    """The ranking: predictions with intervals, chance to meet the budget, rules, order.

    Works from features alone (``model``: :func:`~advisor.ranking.features.model_features`), so
    the benchmark can rank models it only knows from knowledge-base records.

    Args:
        failed: strategies whose dry run failed, with why: they get no prediction (``unknown``),
            never one read from blank static figures, and rank after every predicted strategy.
    """
    failed = failed or {}
    mf = model
    df = device_features(facts, threads)
    parsed = [Strategy.parse(s) for s in strategies]
    predictable = [s for s in parsed if s.name not in failed]
    ctx = RuleContext(model=mf, budget=budget, facts=facts or DeviceFacts(), baseline=baseline,
                      labelled=bool(mf.get("m_labelled", 1.0)), kb_similar=ranker.similar(mf))
    firings = fire_rules(ctx, parsed)
    static = static or {}
    rows = [{**mf, **df, **strategy_features(s.name), **static_features(static.get(s.name))} for s in predictable]
    mean, std = ranker.predict(rows) if rows else (np.zeros((0, 4)), np.zeros((0, 4)))
    lim = budget.resolve(baseline)
    items: list[RankedStrategy] = [_baseline_item(baseline, baseline_p90_ms, budget, lim)]
    for k, s in enumerate(predictable):
        items.append(_item(s.name, mean[k], std[k], baseline, baseline_p90_ms, lim))
    for s in parsed:
        if s.name in failed:
            items.append(_unknown_item(s.name, failed[s.name]))
    for name, why in excluded.items():
        why_not = Reason(f"{name} cannot apply: {why}", "technique requirements", "advisor technique registry")
        items.append(RankedStrategy(name, excluded=why, reasons=[why_not]))
    general: list[Reason] = []
    by_name = {i.strategy: i for i in items}
    for f in firings:
        _apply(f, by_name, general)
    for i in items:
        if i.excluded is None and i.unknown is None:
            i.shift = _effective_shift(i, budget)
            i.score = _objective(i, budget) - i.shift
    live = [i for i in items if i.excluded is None]
    # Predicted strategies first (even chance to fit, best score first; then by chance), then the
    # unknown ones, then those a rule put last.
    live.sort(key=lambda i: (i.last, i.unknown is not None, i.p_meets < 0.5,
                             i.score if i.p_meets >= 0.5 else -i.p_meets))
    for r, i in enumerate(live, 1):
        i.rank = r
    items = live + [i for i in items if i.excluded is not None]
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
    return Ranking(items, general, infeasible, binding, len(getattr(ranker, "records_", [])),
                   baseline_latency_source)


def _baseline_item(base: Measurement, p90: float, budget: Budget, lim) -> RankedStrategy:
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
    return RankedStrategy("NQ", predicted=pred, p_each=p, p_meets=_product(p))


def _unknown_item(name: str, why: str) -> RankedStrategy:
    """A strategy with no prediction: its dry run failed, so its size and latency are unknown."""
    return RankedStrategy(name, unknown=f"dry run failed: {why}", reasons=[Reason(
        f"No prediction for {name}: its dry run failed, so the ranker has no size or latency to start from "
        "(unknown, not a guess); the search measures it after the predicted strategies.",
        f"dry run without training: {why}", "advisor ranker (static dry run)")])


def _item(name: str, mean: np.ndarray, std: np.ndarray, base: Measurement, p90: float, lim) -> RankedStrategy:
    """A strategy's predicted figures (80% intervals) and its chance to meet each limit."""
    acc_m, size_m, lat_m, time_m = (float(v) for v in mean)
    acc_s, size_s, lat_s, time_s = (float(v) for v in std)
    e = math.exp
    pred = {
        "accuracy_drop_pts": Interval(acc_m, acc_m - Z80 * acc_s, acc_m + Z80 * acc_s),
        "size_bytes": Interval(base.size_bytes * e(size_m), base.size_bytes * e(size_m - Z80 * size_s),
                               base.size_bytes * e(size_m + Z80 * size_s)),
        "latency_ms_p90": Interval(p90 * e(lat_m), p90 * e(lat_m - Z80 * lat_s), p90 * e(lat_m + Z80 * lat_s)),
        "compress_seconds": Interval(max(0.0, e(time_m) - 0.1), max(0.0, e(time_m - Z80 * time_s) - 0.1),
                                     e(time_m + Z80 * time_s) - 0.1),
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
    return RankedStrategy(name, predicted=pred, p_each=p, p_meets=_product(p),
                          std={"accuracy": acc_s, "size": size_s, "latency": lat_s, "time": time_s})


def _product(p: dict[str, float]) -> float:
    return float(np.prod(list(p.values()))) if p else 1.0


_SCALE = {"latency": 1.0, "size": 1.0, "accuracy": 3.0}  # uncertainty at which a rule counts in full


def _effective_shift(i: RankedStrategy, budget: Budget) -> float:
    """Rules are priors: they count in full where the regression is unsure about the objective and
    fade (to a tenth) where similar records make it confident. Only shifts about the budget's
    objective (or about everything) apply."""
    total = sum(sh for sh, aspect in i.shifts if aspect in ("any", budget.objective))
    if not total:
        return 0.0
    key = {"latency": "latency", "size": "size", "accuracy": "accuracy"}[budget.objective]
    std = i.std.get(key)
    weight = 1.0 if std is None else min(1.0, max(0.1, std / _SCALE[budget.objective]))
    return total * weight


def _objective(i: RankedStrategy, budget: Budget) -> float:
    pr = i.predicted
    if budget.objective == "size":
        return math.log(max(1.0, pr["size_bytes"].mean))
    if budget.objective == "accuracy":
        return pr["accuracy_drop_pts"].mean
    return math.log(max(1e-6, pr["latency_ms_p90"].mean))


def _apply(f: Firing, by_name: dict[str, RankedStrategy], general: list[Reason]) -> None:
    if not f.strategies:
        general.append(f.reason)
        return
    for name in f.strategies:
        item = by_name.get(name)
        if item is None:
            continue
        item.reasons.append(f.reason)
        if f.effect == "exclude":
            item.excluded = f.reason.text
        elif f.effect == "last":
            item.last = True
        elif f.effect == "shift":
            item.shifts.append((f.shift, f.aspect))
