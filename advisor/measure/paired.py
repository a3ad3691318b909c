"""Paired quality: a candidate's drop against the original *on the same samples*, its bounds at the
chosen confidence, and the three-state verdict against the user's limit.

The accuracy limit is on a drop, and a drop is a paired quantity: every sample goes through both
models, so the per-sample differences ``d_i = original_i - candidate_i`` (on the higher-is-better
[0, 1] scale, reported in points) carry all the information, and their spread is far smaller than
that of two separate accuracies. Which bound is used depends on the metric and on the data:

- **fidelity, top-1 agreement** (the original agrees with itself on every sample, so ``d_i`` is 1
  exactly where the candidate disagrees): the drop is a proportion ``k / n``; its bounds are the
  exact **Clopper-Pearson** ones (``scipy.stats.beta``), valid for any ``n`` and for ``k = 0``.
- **accuracy against labels** (``d_i`` in -1, 0, 1: only the discordant pairs count, as in
  McNemar's test, whose statistic it reduces to at a zero drop): **Tango's asymptotic score
  interval** for a difference of paired proportions (Tango 1998, one of the intervals Fagerland,
  Lydersen & Laake 2014 recommend), which keeps its coverage when discordant pairs are few or none;
  simulated here, its one-sided 95% bound is exceeded 4.3-5.9% of the time at the limit's edge.
- **mean scores** (cosine, 1 - relative L2): a **paired bootstrap** of the mean of ``d_i``
  (``scipy.stats.bootstrap``, BCa, fixed seed).
- **grouped samples** (crops of one photo, frames of one recording: the data carries ``groups``):
  a **cluster bootstrap** that resamples whole groups (Davison & Hinkley 1997, section 3.8), for
  every metric, since none of the above holds when samples are not independent.

Each end of the interval is a one-sided bound at ``confidence``: ``hi`` is the value the drop
exceeds with probability at most ``1 - confidence``. The verdict (:meth:`DropFigure.verdict`):
**fits** when ``hi <= limit`` (the limit holds at that confidence), **breaks** when ``lo > limit``,
**unresolved** when the interval straddles the limit; :func:`more_samples` says how many more
samples would likely resolve it.

Example:
    >>> import numpy as np
    >>> orig = np.ones(400)
    >>> cand = np.ones(400); cand[:2] = 0          # 2 disagreements in 400
    >>> f = paired_drop(orig, cand, metric="agreement", split="validation")
    >>> round(f.value, 2), round(f.hi, 2), f.verdict(2.0)
    (0.5, 1.57, 'fits')
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from advisor.budget import DEFAULT_CONFIDENCE
from advisor.measure.intervals import bootstrap_mean
from advisor.types import DropFigure

__all__ = ["DEFAULT_CONFIDENCE", "paired_drop", "more_samples", "resolvable_limit", "RESAMPLES", "z_of"]

RESAMPLES = 2000  # bootstrap resamples: the 1-2.5% tails need a few thousand
_SEED = 0
_PROPORTIONS = ("agreement", "accuracy")


def z_of(alpha: float) -> float:
    """The standard normal quantile ``1 - alpha`` (one-sided)."""
    return float(stats.norm.ppf(1.0 - alpha))


def paired_drop(
    original: np.ndarray,
    candidate: np.ndarray,
    *,
    metric: str,
    split: str,
    confidence: float = DEFAULT_CONFIDENCE,
    groups: np.ndarray | None = None,
    alpha: float | None = None,
    of: int | None = None,
    looks: int = 1,
    output: str = "",
) -> DropFigure:
    """The drop ``original - candidate`` in points over paired per-sample scores, with one-sided
    bounds at ``confidence`` (or at the error ``alpha`` per end, when a race spends it in parts).

    Args:
        original: the original's per-sample scores on the [0, 1] scale (all 1 for fidelity).
        candidate: the candidate's per-sample scores on the same samples, in the same order.
        metric: ``agreement``, ``accuracy``, ``cosine`` or ``rel-l2`` (chooses the method).
        split: ``validation`` or ``test``.
        groups: a group id per sample (samples of one group are not independent), or None.
        alpha: one-sided error per end; default ``1 - confidence``.
        of: how many samples the split holds (a race may stop before using them all).
        looks: how many looks the race took (for the record).
        output: the model output scored.
    """
    o = np.asarray(original, dtype=np.float64).ravel()
    c = np.asarray(candidate, dtype=np.float64).ravel()
    if o.shape != c.shape:
        raise ValueError(f"paired scores need the same samples: {o.shape} vs {c.shape}")
    a = (1.0 - confidence) if alpha is None else alpha
    if not 0 < a < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {a}")
    d = o - c
    n = d.size
    if n == 0:
        return DropFigure(0.0, -100.0, 100.0, 0, metric, split, "none", confidence, of=of or 0, looks=looks,
                          output=output)
    value = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 1.0
    g = None if groups is None else np.asarray(groups).ravel()
    n_groups = None if g is None else int(np.unique(g).size)
    if g is not None and n_groups < n:
        lo, hi = _cluster_bootstrap(d, g, a)
        method = f"cluster bootstrap over {n_groups} groups"
    elif metric == "agreement" or (metric in _PROPORTIONS and np.all(o == 1.0)):
        k = int(round(d.sum()))
        lo, hi = _clopper_pearson(k, n, a)
        method = "exact (Clopper-Pearson)"
    elif metric in _PROPORTIONS:
        lo, hi = _tango(int(np.sum(d > 0.5)), int(np.sum(d < -0.5)), n, a)
        method = "paired proportions (Tango score)"
    else:
        lo, hi = bootstrap_mean(d, confidence=1 - 2 * a, resamples=RESAMPLES)
        method = "paired bootstrap (BCa)"
    lo, hi = min(lo, value), max(hi, value)
    return DropFigure(value=100 * value, lo=100 * lo, hi=100 * hi, n=n, metric=metric, split=split, method=method,
                      confidence=confidence, sd=100 * sd, groups=n_groups, of=of if of is not None else n,
                      looks=looks, alpha=a, output=output)


def _clopper_pearson(k: int, n: int, a: float) -> tuple[float, float]:
    lo = 0.0 if k <= 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _tango_statistic(delta: float, b: int, c: int, n: int) -> float:
    """Tango's score statistic at a hypothesised drop ``delta`` (``b``: original right and candidate
    wrong, ``c``: the other way round), with the constrained maximum-likelihood estimate of ``c / n``."""
    A, B, C = 2 * n, -b - c + (2 * n - b + c) * delta, -c * delta * (1 - delta)
    p21 = (math.sqrt(max(0.0, B * B - 4 * A * C)) - B) / (2 * A)
    var = n * (2 * p21 + delta * (1 - delta))
    num = b - c - n * delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(1e9, num)
    return num / math.sqrt(var)


def _tango(b: int, c: int, n: int, a: float) -> tuple[float, float]:
    """One-sided bounds at ``a`` each: the drops where the score statistic reaches -z and +z."""
    z, est, eps = z_of(a), (b - c) / n, 1e-9
    lo = -1.0 if est <= -1 + eps else optimize.brentq(lambda x: _tango_statistic(x, b, c, n) - z, -1 + eps, est)
    hi = 1.0 if est >= 1 - eps else optimize.brentq(lambda x: _tango_statistic(x, b, c, n) + z, est, 1 - eps)
    return float(lo), float(hi)


def _cluster_bootstrap(d: np.ndarray, groups: np.ndarray, a: float) -> tuple[float, float]:
    """Percentile interval of the mean over resamples of whole groups (ratio estimator)."""
    _, idx = np.unique(groups, return_inverse=True)
    sums = np.bincount(idx, weights=d)
    counts = np.bincount(idx).astype(np.float64)
    rng = np.random.default_rng(_SEED)
    pick = rng.integers(0, sums.size, size=(RESAMPLES, sums.size))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def more_samples(figure: DropFigure, limit_pts: float) -> int | None:
    """About how many more samples would move an unresolved figure's interval off the limit, if its
    drop and per-sample spread stay as measured; ``None`` when the figure sits on the limit (no
    sample count settles it) or is not unresolved."""
    if figure.verdict(limit_pts) != "unresolved":
        return None
    gap = abs(figure.value - limit_pts)
    if gap < 1e-9:
        return None
    sd = figure.sd if figure.sd and figure.sd > 0 else 100.0 / math.sqrt(max(1, figure.n))
    z = z_of(figure.alpha or (1 - figure.confidence))
    need = math.ceil((z * sd / gap) ** 2)
    scale = figure.n / figure.groups if figure.groups else 1.0  # samples per group: groups count, not samples
    return max(1, int(math.ceil(need * scale)) - figure.n)


def resolvable_limit(n: int, metric: str, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The smallest limit (points) ``n`` samples can show is met by a candidate that never differs
    from the original: the upper bound of a zero drop (Clopper-Pearson for agreement, Tango
    for accuracy, one sample's weight for mean scores)."""
    if n <= 0:
        return 100.0
    a = 1 - confidence
    if metric == "agreement":
        return 100 * _clopper_pearson(0, n, a)[1]
    if metric == "accuracy":
        return 100 * _tango(0, 0, n, a)[1]
    return 0.0
