"""95% intervals for quality figures, and whether a split can resolve the accuracy limit.

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

from advisor.types import QualityFigure

__all__ = ["wilson", "bootstrap_mean", "resolution_warning", "CONFIDENCE", "RESAMPLES"]

CONFIDENCE = 0.95
RESAMPLES = 400  # modest: the interval's ends move by well under its width between seeds
_SEED = 0


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of the proportion ``k / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_mean(values: np.ndarray, *, seed: int = _SEED, resamples: int = RESAMPLES) -> tuple[float, float]:
    """Bootstrap 95% interval of the mean of per-sample ``values`` (BCa, percentile as fallback).

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
            res = stats.bootstrap((v,), np.mean, confidence_level=CONFIDENCE, n_resamples=resamples,
                                  method=method, rng=np.random.default_rng(seed), vectorized=True)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            return min(lo, mean), max(hi, mean)
    return mean, mean


def resolution_warning(figure: QualityFigure, max_drop_pts: float | None) -> str | None:
    """A sentence when ``figure``'s split is too small to resolve a ``max_drop_pts`` limit, else None.

    It warns when one sample weighs more than the limit (10 samples: one sample is 10 pt) or when
    the 95% interval's half-width is wider than the limit. No limit (None) or a limit of 0 or
    less gives no warning.
    """
    if max_drop_pts is None or max_drop_pts <= 0 or figure.n <= 0:
        return None
    per_sample = 100.0 / figure.n
    half = 100.0 * (figure.hi - figure.lo) / 2
    split = f"the {figure.split} split" if figure.split else "the split"
    if per_sample > max_drop_pts:
        return (f"{split} has {figure.n} samples, so one sample is {per_sample:.2g} pt: it cannot show a "
                f"{max_drop_pts:g} pt limit; give more data (at least {int(np.ceil(100 / max_drop_pts))} "
                f"samples in {split}) for a figure that resolves it")
    if half > max_drop_pts:
        return (f"{split} ({figure.n} samples) measures {figure.metric} to +-{half:.2g} pt (95% interval), "
                f"wider than the {max_drop_pts:g} pt limit; more data would narrow it")
    return None
