"""Split-conformal intervals: what held-out residuals say about a prediction's error.

A forest's own spread is not a calibrated interval: on a model family it has not seen, its
errors are larger (and biased) in ways the trees cannot know. So each target the ranker predicts
is calibrated on **held-out residuals**: predictions for records of families left out of the fit
(leave-families-out cross-validation, :class:`~advisor.ranking.ranker.Ranker`), per scale
(small models and real-scale ones err differently).

1. **Bias first**: the median held-out residual is the prediction's systematic error (a constant
   -20% is a calibration bug, not noise); it is added to every prediction.
2. **Then the spread**: the normalised score ``|residual - bias| / std`` (``std`` the forest's
   predictive spread, so intervals stay adaptive: wider where the trees disagree), and its
   ``ceil((n + 1) * coverage)``-th smallest value ``q``: the interval is ``mean +- q * std``.
   With exchangeable records this covers a new record with probability >= ``coverage``
   (Vovk et al. 2005; Lei et al. 2018, "Distribution-free predictive inference for regression").

A scale with fewer than ``MIN_SCORES`` held-out records is calibrated on every scale's scores,
the quantile widened by up to 2x in proportion to how few of its own it has (none: 2x): the
pooled scores come mostly from the other scale, whose errors need not be this one's.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> res, std = rng.normal(0.1, 1.0, 500), np.ones(500)
    >>> cal = Calibration.fit(res, std, ["small"] * 500, coverage=0.9)
    >>> round(cal.bias["small"], 1), 1.5 < cal.q["small"] < 1.8
    (0.1, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Calibration", "conformal_quantile", "MIN_SCORES", "z_of"]

#: Fewest held-out records a scale needs for its own bias and quantile (else all scales pool).
MIN_SCORES = 20
_POOLED = "all"


def z_of(coverage: float) -> float:
    """The standard normal quantile of a central ``coverage`` interval (1.645 for 90%)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + coverage / 2.0))


def conformal_quantile(scores: Sequence[float] | np.ndarray, coverage: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) * coverage)``-th smallest score. With too
    few scores for that rank (``n < coverage / (1 - coverage)``), the largest score x 1.5: an
    honest "wider than anything seen" rather than an infinite interval."""
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    n = len(s)
    if n == 0:
        return float("nan")
    k = math.ceil((n + 1) * coverage)
    return float(s[k - 1]) if k <= n else float(1.5 * s[-1])


@dataclass(frozen=True)
class Calibration:
    """One target's held-out calibration, per scale.

    Attributes:
        coverage: the nominal coverage of the intervals (e.g. 0.9).
        bias: median held-out residual (measured - predicted) per scale.
        q: conformal quantile of the normalised scores per scale.
        n: held-out records behind each scale's figures (``all`` = pooled).
    """

    coverage: float
    bias: dict[str, float] = field(default_factory=dict)
    q: dict[str, float] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, residuals: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray,
            scales: Sequence[str], coverage: float) -> Calibration:
        """From held-out ``residuals`` (measured - predicted), the predictive ``std`` each came with
        and each record's scale."""
        r = np.asarray(residuals, dtype=float)
        sd = np.maximum(np.asarray(std, dtype=float), 1e-6)
        sc = np.asarray(list(scales), dtype=object)
        ok = np.isfinite(r) & np.isfinite(sd)
        r, sd, sc = r[ok], sd[ok], sc[ok]
        bias, q, n = {}, {}, {}
        if len(r):
            b = float(np.median(r))
            bias[_POOLED], q[_POOLED], n[_POOLED] = b, conformal_quantile(np.abs(r - b) / sd, coverage), len(r)
        for s in sorted(set(sc.tolist())):
            sel = sc == s
            if sel.sum() >= MIN_SCORES:
                b = float(np.median(r[sel]))
                bias[s], q[s], n[s] = b, conformal_quantile(np.abs(r[sel] - b) / sd[sel], coverage), int(sel.sum())
            elif _POOLED in q:  # too few of its own: the pooled figures, widened
                bias[s], n[s] = bias[_POOLED], n[_POOLED]
                q[s] = q[_POOLED] * (2.0 - sel.sum() / MIN_SCORES)
        return cls(coverage, bias, q, n)

    def widen_missing(self, scales: Sequence[str]) -> Calibration:
        """The same calibration, with every scale in ``scales`` that had no held-out record of its
        own given the pooled figures widened 2x (a scale the held-out folds never reached)."""
        if _POOLED not in self.q:
            return self
        q, bias, n = dict(self.q), dict(self.bias), dict(self.n)
        for s in scales:
            if s not in q:
                q[s], bias[s], n[s] = 2.0 * self.q[_POOLED], self.bias[_POOLED], self.n[_POOLED]
        return Calibration(self.coverage, bias, q, n)

    def _key(self, scale: str) -> str | None:
        return scale if scale in self.q else (_POOLED if _POOLED in self.q else None)

    def bias_of(self, scale: str) -> float:
        k = self._key(scale)
        return self.bias[k] if k else 0.0

    def half_width(self, std: float, scale: str) -> float | None:
        """``q * std`` for this scale (``None`` when nothing was held out)."""
        k = self._key(scale)
        return None if k is None or not math.isfinite(self.q[k]) else self.q[k] * max(std, 1e-6)

    def records(self, scale: str) -> int:
        k = self._key(scale)
        return self.n[k] if k else 0

    def to_dict(self) -> dict[str, Any]:
        return {"coverage": self.coverage, "bias": {k: round(v, 4) for k, v in self.bias.items()},
                "q": {k: round(v, 4) for k, v in self.q.items()}, "n": dict(self.n)}
