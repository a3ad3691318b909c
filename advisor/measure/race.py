"""Racing on growing samples: score a candidate on growing chunks of the validation split and stop
as soon as its paired drop is clearly on one side of the limit.

Optuna's pruners do not support several objectives, so this is the advisor's own small policy, a
*race* in the sense of Maron & Moore (1994, "Hoeffding races"): a candidate is evaluated on more
data only while its interval still straddles the limit. The error is controlled with a union
bound over the looks (a Bonferroni alpha-spending, Jennison & Turnbull 2000, ch. 7): the looks
before the last share :data:`INTERIM_SHARE` of the error ``1 - confidence`` equally, the last look
(all the data) gets the rest, so a race never calls a candidate "fits" (or "breaks") wrongly more
often than a single test at ``confidence`` would, and a candidate that needs all the data loses
little power. Clear winners and clear losers stop at the first look: a user who gives ten times
more data pays for it only on the candidates near the limit.

The looks are at :data:`FIRST` samples, then doubling, then all of the split; with groups
(crops of one photo) every look ends at a group boundary.

Example:
    >>> import numpy as np
    >>> truth = np.random.default_rng(0).random(2000) > 0.20     # agrees on ~80%: a 20 pt drop
    >>> fig = race(lambda a, b: {"y": truth[a:b].astype(float)}, {"y": np.ones(2000)},
    ...            metrics={"y": "agreement"}, limit_pts=2.0, split="validation")
    >>> fig.verdict(2.0), fig.n, fig.looks
    ('breaks', 100, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from advisor.measure.paired import DEFAULT_CONFIDENCE, paired_drop
from advisor.types import DropFigure

__all__ = ["race", "looks", "FIRST", "INTERIM_SHARE"]

FIRST = 100  # samples in the first look: a 20 pt loser is certain there, a 0 pt winner of a 5 pt limit too
GROWTH = 2
INTERIM_SHARE = 0.2  # of the error spent on the looks before the last


def looks(n: int, groups: np.ndarray | None = None, first: int = FIRST) -> list[int]:
    """Cumulative sample counts at each look: ``first``, doubling, then ``n``; with ``groups`` each
    count is moved to the end of the group it falls in (samples of one group stay together)."""
    points, k = [], first
    while k < n:
        points.append(k)
        k *= GROWTH
    points.append(n)
    if groups is None:
        return points
    g = np.asarray(groups)
    ends = [i + 1 for i in range(n - 1) if g[i + 1] != g[i]] + [n]  # group boundaries
    out: list[int] = []
    for p in points:
        e = next(e for e in ends if e >= p)
        if not out or e > out[-1]:
            out.append(e)
    return out


def race(
    score: Callable[[int, int], Mapping[str, np.ndarray]],
    original: Mapping[str, np.ndarray],
    *,
    metrics: Mapping[str, str],
    limit_pts: float | None,
    split: str,
    confidence: float = DEFAULT_CONFIDENCE,
    groups: np.ndarray | None = None,
    first: int = FIRST,
) -> DropFigure:
    """Race one candidate: ``score(a, b)`` gives its per-sample scores on samples ``a:b`` of the split
    for every output; ``original`` holds the original's per-sample scores on the whole split.

    Returns the binding output's drop (the one with the highest upper bound) at the look where the
    race stopped: every output fits, one breaks, or the split ran out. Without a limit every sample
    is scored once (one look at the full confidence).
    """
    n = len(next(iter(original.values())))
    points = [n] if limit_pts is None else looks(n, groups, first)
    total = 1.0 - confidence
    got: dict[str, list[np.ndarray]] = {k: [] for k in original}
    start = 0
    fig = None
    for i, stop in enumerate(points):
        last = i == len(points) - 1
        alpha = total if len(points) == 1 else (
            total * (1 - INTERIM_SHARE) if last else total * INTERIM_SHARE / (len(points) - 1))
        chunk = score(start, stop)
        for k in got:
            got[k].append(np.asarray(chunk[k], dtype=np.float64))
        start = stop
        figs = [paired_drop(original[k][:stop], np.concatenate(got[k]), metric=metrics[k], split=split,
                            confidence=confidence, groups=None if groups is None else groups[:stop], alpha=alpha,
                            of=n, looks=i + 1, output=k) for k in got]
        fig = max(figs, key=lambda f: (f.hi, f.value))
        verdicts = {f.verdict(limit_pts) for f in figs}
        if "breaks" in verdicts:
            fig = max((f for f in figs if f.verdict(limit_pts) == "breaks"), key=lambda f: f.lo)
            break
        if verdicts == {"fits"}:
            break
    assert fig is not None
    return fig
