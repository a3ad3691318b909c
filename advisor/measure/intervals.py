"""95% intervals for a model's own quality figures (the paired drops that decide: :mod:`.paired`).

Proportions (top-1 accuracy, top-1 agreement) get a Wilson score interval
(``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``); means of per-sample scores
(cosine similarity, 1 - relative L2 error) get a bootstrap interval (``scipy.stats.bootstrap``,
BCa, fixed seed, 400 resamples). Example:

    >>> lo, hi = wilson(95, 100)
    >>> round(lo, 3), round(hi, 3)
    (0.888, 0.978)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["wilson", "bootstrap_mean", "CONFIDENCE", "RESAMPLES"]

CONFIDENCE = 0.95
RESAMPLES = 400  # modest: the interval's ends move by well under its width between seeds
_SEED = 0


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of the proportion ``k / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_mean(values: np.ndarray, *, seed: int = _SEED, resamples: int = RESAMPLES,
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Bootstrap interval (95% by default) of the mean of per-sample ``values`` (BCa, percentile as
    fallback); it always contains the mean.

    All-equal values (e.g. the original scored against itself) give the zero-width interval.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0, 1.0
    mean = float(v.mean())
    if v.size == 1 or np.ptp(v) <= 1e-12:
        return mean, mean
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((v,), np.mean, confidence_level=confidence, n_resamples=resamples,
                                  method=method, rng=np.random.default_rng(seed), vectorized=True)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            return min(lo, mean), max(hi, mean)
    return mean, mean
