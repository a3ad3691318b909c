"""What a ranking says once trials have been measured: which candidates to defer, and which
predictions a measurement contradicts. For the search (deferral) and the advice (the flag); the
ranking and the search never import each other, so ``advisor.jobs`` hands these to the search.

- **Deferral**: a candidate whose predicted speed-up interval lies *wholly below* the best
  speed-up measured so far cannot win on latency even at the top of its interval: it is
  deferred (tried only after every other candidate), with the reason. (The EfficientNet-Lite2
  study spent 4 of its 9 trials on MatMul-only quantization of a CNN whose MatMuls are a sliver of
  its time.)
- **Contradiction**: a measurement outside the predicted interval is flagged, naming both, so the
  advice says the prediction did not hold here (and the knowledge base learns from the record).

Example:
    >>> from advisor.ranking._rank import Interval
    >>> why_deferred(Interval(1.02, 0.95, 1.10, 0.9), 2.01, label="BLQ(ops=matmul)", best_label="FIQ #1")
    'BLQ(ops=matmul) deferred: predicted speed-up 1.02x [0.95x, 1.10x] (90% interval) lies wholly below the 2.01x measured for FIQ #1'
"""  # noqa: E501 -- a doctest's expected output stays on one line

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from advisor.ranking._rank import Interval, Ranking
from advisor.types import Reason

__all__ = ["why_deferred", "defer", "contradiction", "Deferral"]

_FMT = "{:.2f}x"


def _iv(iv: Interval) -> str:
    cov = f" ({iv.coverage:.0%} interval)" if iv.coverage else ""
    return f"{iv.mean:.2f}x [{iv.lo:.2f}x, {iv.hi:.2f}x]{cov}"


def why_deferred(speedup: Interval | None, best_speedup: float, *, label: str = "the candidate",
                 best_label: str = "the best trial so far") -> str | None:
    """Why a candidate predicted at ``speedup`` is deferred once ``best_speedup`` was measured
    (its whole interval lies below), or ``None`` (no prediction, or it might still win)."""
    if speedup is None or not best_speedup or speedup.hi >= best_speedup:
        return None
    return (f"{label} deferred: predicted speed-up {_iv(speedup)} lies wholly below the "
            f"{best_speedup:.2f}x measured for {best_label}")


def defer(ranking: Ranking, best_speedup: float, *, best_label: str = "the best trial so far",
          measured: Collection[str] = ()) -> dict[str, str]:
    """Strategies of ``ranking`` (at their defaults; excluded, unknown and ``measured`` ones left
    out) to defer now that ``best_speedup`` (same-run p50 speed-up over the original, within the
    budget) was measured: ``{strategy: why}``."""
    out = {}
    for i in ranking.items:
        if i.rank is None or i.strategy == "NQ" or i.unknown is not None or i.strategy in measured:
            continue
        why = why_deferred(i.speedup, best_speedup, label=i.strategy, best_label=best_label)
        if why:
            out[i.strategy] = why
    return out


def contradiction(ranking: Ranking, strategy: str, *, measured_speedup: float | None = None,
                  measured_drop_pts: float | None = None, label: str | None = None,
                  metric: str = "accuracy") -> Reason | None:
    """A reason for the advice when a measurement of ``strategy`` falls outside the ranking's
    interval for it (speed-up, and/or accuracy drop in points), else ``None``."""
    item = ranking.item(strategy)
    if item is None or item.unknown is not None or not item.predicted:
        return None
    label = label or strategy
    parts = []
    sp = item.speedup
    if measured_speedup is not None and sp is not None and not sp.lo <= measured_speedup <= sp.hi:
        side = "faster" if measured_speedup > sp.hi else "slower"
        parts.append(f"speed-up predicted {_iv(sp)}, measured {measured_speedup:.2f}x ({side} than predicted)")
    acc = item.predicted.get("accuracy_drop_pts")
    if measured_drop_pts is not None and acc is not None and not acc.lo <= measured_drop_pts <= acc.hi:
        cov = f" ({acc.coverage:.0%} interval)" if acc.coverage else ""
        parts.append(f"{metric} drop predicted {acc.mean:+.2f} pt [{acc.lo:+.2f}, {acc.hi:+.2f}]{cov}, "
                     f"measured {measured_drop_pts:+.2f} pt")
    if not parts:
        return None
    basis = item.learned_from.get("latency_estimate", "")
    return Reason(f"Prediction contradicted for {label}: " + "; ".join(parts) + ". This measurement teaches the "
                  "knowledge base; the next ranking uses it.",
                  f"ranked {item.rank} before any trial; latency estimate from {basis}" if basis
                  else f"ranked {item.rank} before any trial",
                  "advisor ranker (calibrated intervals) vs measurement on this device")


class Deferral:
    """The search's deferral check: ``deferral(strategy, params, best_speedup, best_label)`` ->
    why the candidate is deferred, or ``None``.

    A candidate at its strategy's defaults takes the ranking's prediction; a variant (other
    parameters) takes ``predict(strategy, params)`` when given (e.g.
    :func:`advisor.ranking.variant_speedup` bound to the problem: a dry run of that variant, a
    few seconds, cached) and is never deferred without a prediction of its own. Only latency
    objectives defer (``objective``: the budget's).
    """

    def __init__(self, ranking: Ranking, *, objective: str = "latency",
                 predict: Callable[[str, dict[str, Any]], Interval | None] | None = None,
                 defaults: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.ranking = ranking
        self.objective = objective
        self.predict = predict
        self.defaults = defaults
        self._cache: dict[str, Interval | None] = {}

    def speedup(self, strategy: str, params: dict[str, Any] | None = None) -> Interval | None:
        """The predicted speed-up interval of this candidate (``None``: no prediction)."""
        item = self.ranking.item(strategy)
        params = {k: v for k, v in (params or {}).items() if k != "strategy"}
        base = self.defaults(strategy) if self.defaults else {}
        if not params or params == {k: base.get(k, v) for k, v in params.items()}:
            return item.speedup if item is not None and item.unknown is None else None
        key = strategy + repr(sorted(params.items()))
        if key not in self._cache:
            self._cache[key] = self.predict(strategy, params) if self.predict else None
        return self._cache[key]

    def __call__(self, strategy: str, params: dict[str, Any] | None, best_speedup: float | None,
                 best_label: str = "the best trial so far") -> str | None:
        if self.objective != "latency" or not best_speedup:
            return None
        base = self.defaults(strategy) if self.defaults else {}
        diff = {k: v for k, v in (params or {}).items() if k != "strategy" and base.get(k) != v}
        shown = strategy + (f"({', '.join(f'{k}={v}' for k, v in sorted(diff.items()))})" if diff else "")
        return why_deferred(self.speedup(strategy, params), best_speedup, label=shown, best_label=best_label)
