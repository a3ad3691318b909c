"""The regression half of the ranker, as a scikit-learn estimator.

``Ranker().fit(X, y, groups)`` learns, from knowledge-base records as a design matrix
(:func:`advisor.ranking.dataset.training_set`), each outcome of a candidate:

- the **accuracy change** (points), from records whose quality figure means something;
- the **size** and the **latency ratio** as *corrections* to static estimates (the dry run's file
  size; the latency ratio predicted without timing the candidate), so the regression adds what
  physics-style estimates miss instead of re-learning them per family. There is one latency
  model per basis of that estimate: ``shares`` (the original's measured per-node times x the
  profile's per-operator ratios: the device at hand), ``profile`` (the profile alone: a device
  not at hand) and ``none`` (no profile: the whole ratio is learned);
- the **compression time** (log seconds).

Every target is calibrated by split-conformal prediction on held-out residuals
(:mod:`advisor.ranking.conformal`): the residuals of records whose model family was left out of
the fit, per scale. So a stated 90% interval is meant to cover 90% of measurements of a family
the ranker has not seen, and the median held-out error (the bias) is removed from every prediction.

Example:
    >>> from advisor.ranking.dataset import training_set
    >>> from advisor.ranking.kb import seed_records
    >>> X, y, groups = training_set(seed_records())                         # doctest: +SKIP
    >>> ranker = Ranker(coverage=0.9).fit(X, y, groups)                     # doctest: +SKIP
    >>> p = ranker.predict_interval(X[:3])                                  # doctest: +SKIP
    >>> bool((p.lo <= p.mean).all() and (p.mean <= p.hi).all())             # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold, KFold
from sklearn.utils.validation import check_is_fitted

from advisor.ranking.conformal import Calibration, z_of
from advisor.ranking.dataset import SCALES, scale_of
from advisor.ranking.estimator import OutcomeRegressor
from advisor.ranking.kb import OUTCOMES

__all__ = ["Ranker", "Predictions", "LATENCY_BASES", "PRIOR_STD", "MIN_STD"]

#: How a candidate's latency ratio is estimated before it is learned from, best first.
LATENCY_BASES = ("shares", "profile", "none")
#: Spread assumed where a target has too few records to learn from (points, log ratios, log s).
PRIOR_STD = (5.0, 1.0, 1.0, 2.0)
#: No interval narrower than this spread (std-equivalent): a dry run's size is exact for the
#: records it was checked on, not for every model; timings repeat to a few percent at best.
MIN_STD = (0.1, 0.02, 0.02, 0.05)
#: The interval's scale per row (what the conformal quantile multiplies): the trees' spread plus
#: this share of the forest's out-of-bag noise. Measured leave-one-family-out on the seed: with the
#: whole noise, 90% intervals covered 90% (accuracy) and 86% (latency) at median widths of 16.8 pt
#: and 2.65x; with a quarter of it 92% / 86% at 23.0 pt / 3.72x -- the trees' spread alone says
#: little about a new family's error, so the conformal quantile had to grow.
NOISE_SHARE = 1.0
_STATIC_OF = {"shares": ("x_log_pred_shares", "x_has_shares"), "profile": ("x_log_pred_profile", "x_has_profile")}
_ACC, _SIZE, _LAT, _TIME = range(4)


@dataclass(frozen=True)
class Predictions:
    """Predicted outcomes of each row (columns in ``OUTCOMES`` order) with their intervals.

    Attributes:
        mean: the prediction (bias removed), static estimates added back.
        lo, hi: the interval of nominal ``coverage``.
        coverage: nominal coverage of ``[lo, hi]``.
        latency_basis: each row's latency basis (``shares``, ``profile`` or ``none``).
        calibrated: per row and outcome, how many held-out records calibrated the interval (0: the
            interval is the prior's).
        seen: per row, whether the knowledge base holds records of this very model (then the
            intervals are calibrated on held-out records of models the forest has seen; else on
            held-out model families).
    """

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    coverage: float
    latency_basis: tuple[str, ...]
    calibrated: np.ndarray
    seen: tuple[bool, ...] = ()

    @property
    def std(self) -> np.ndarray:
        """The spread a normal distribution with the same central interval would have."""
        return (self.hi - self.lo) / (2.0 * z_of(self.coverage))


def _check(name: str, ok: bool, expected: str, got: Any) -> None:
    if not ok:
        raise ValueError(f"The '{name}' parameter of Ranker must be {expected}. Got {got!r}.")


class Ranker(BaseEstimator):
    """Learns every outcome of a candidate from knowledge-base records, with calibrated intervals.

    Keeps scikit-learn's contract: ``__init__`` stores its arguments, ``fit`` validates them and
    returns ``self``, the learned state ends in ``_``, ``predict`` never fits (so ``clone`` gives an
    unfitted copy). ``X`` is a sequence of feature mappings, one per candidate (as
    ``DictVectorizer`` takes them): :func:`advisor.ranking.dataset.training_set` for records,
    :func:`~advisor.ranking.dataset.candidate_features` for candidates.

    Args:
        n_estimators: trees per forest.
        coverage: nominal coverage of the intervals (0.9: a 90% interval).
        folds: leave-families-out folds for the held-out residuals.
        latency_bases: which latency models to fit (default all; a ranking needs one).
        random_state: seed.

    Example:
        >>> Ranker(coverage=0.8).get_params()["coverage"]
        0.8
    """

    def __init__(self, *, n_estimators: int = 100, coverage: float = 0.9, folds: int = 4,
                 latency_bases: tuple[str, ...] = LATENCY_BASES, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.coverage = coverage
        self.folds = folds
        self.latency_bases = latency_bases
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Sequence[Mapping[str, float]], y, groups: Sequence[str] | None = None) -> Ranker:
        """Learn from rows ``X``, outcomes ``y`` (``len(X)`` x 4, ``NaN`` = unknown) and each
        row's model family ``groups`` (default: every row its own family)."""
        _check("n_estimators", isinstance(self.n_estimators, int) and self.n_estimators >= 1,
               "an integer >= 1", self.n_estimators)
        _check("coverage", isinstance(self.coverage, float) and 0.0 < self.coverage < 1.0,
               "a float in (0, 1)", self.coverage)
        _check("folds", isinstance(self.folds, int) and self.folds >= 2, "an integer >= 2", self.folds)
        _check("latency_bases", set(self.latency_bases) <= set(LATENCY_BASES) and len(self.latency_bases) > 0,
               f"a non-empty subset of {LATENCY_BASES}", self.latency_bases)
        rows = [dict(r) for r in X]
        y = np.asarray(y, dtype=float).reshape(len(rows), -1) if rows else np.zeros((0, len(OUTCOMES)))
        if y.shape[1] != len(OUTCOMES):
            raise ValueError(f"y: expected {len(OUTCOMES)} outcome columns ({', '.join(OUTCOMES)}), got {y.shape[1]}")
        groups = [str(g) for g in groups] if groups is not None else [str(i) for i in range(len(rows))]
        if len(groups) != len(rows):
            raise ValueError(f"groups: expected one per row ({len(rows)}), got {len(groups)}")
        self.columns_ = sorted({k for r in rows for k in r})
        self.n_records_ = len(rows)
        self.model_index_ = np.array([[r.get("m_log_macs", 0.0), r.get("m_log_params", 0.0)] for r in rows]
                                     ).reshape(len(rows), 2)
        self.models_ = sorted({_signature(r) for r in rows})
        scales = [scale_of(r) for r in rows]
        self.targets_: dict[str, dict[str, Any]] = {}
        A = self._matrix(rows)
        finite = np.isfinite(y[:, _ACC])
        self.targets_["accuracy"] = self._fit_target(A[finite], y[finite, _ACC], groups, scales, finite)
        known = A[:, self.columns_.index("x_known")] if "x_known" in self.columns_ else np.zeros(len(rows))
        size_base = np.where(known > 0, self._col(A, "x_log_size"), 0.0)
        every = np.ones(len(rows), dtype=bool)
        self.targets_["size"] = self._fit_target(A, y[:, _SIZE] - size_base, groups, scales, every)
        self.targets_["time"] = self._fit_target(A, y[:, _TIME], groups, scales, every)
        for basis in self.latency_bases:
            B, base, avail = self._basis(A, basis)
            self.targets_[f"latency:{basis}"] = self._fit_target(B[avail], y[avail, _LAT] - base[avail], groups,
                                                                 scales, avail)
        return self

    def _fit_target(self, A: np.ndarray, t: np.ndarray, groups: list[str], scales: list[str],
                    sel: np.ndarray) -> dict[str, Any]:
        """One forest and its held-out calibration (rows ``sel`` of the full set)."""
        g = [x for x, s in zip(groups, sel, strict=True) if s]
        sc = [x for x, s in zip(scales, sel, strict=True) if s]
        n = len(t)
        if n < 5:
            return {"forest": None, "calibration": None, "n": n}
        forest = self._forest(self.n_estimators).fit(A, t)
        distinct = len(set(g))
        if distinct >= 2:
            splits = GroupKFold(n_splits=min(self.folds, distinct)).split(A, t, g)
        else:
            splits = KFold(n_splits=min(self.folds, n), shuffle=True, random_state=self.random_state).split(A)
        calibration = self._calibrate(A, t, splits, sc).widen_missing(SCALES)
        # Held-out records of models the forest has seen (other strategies, thread counts): what a
        # model already in the knowledge base -- the user's own after a first run -- can expect.
        records = KFold(n_splits=min(self.folds, n), shuffle=True, random_state=self.random_state).split(A)
        seen = self._calibrate(A, t, records, sc).widen_missing(SCALES)
        return {"forest": forest, "calibration": calibration, "calibration_seen": seen, "n": n}

    def _calibrate(self, A: np.ndarray, t: np.ndarray, splits, scales: list[str]) -> Calibration:
        res, sd = np.full(len(t), np.nan), np.full(len(t), np.nan)
        for train, test in splits:
            if len(train) < 5:
                continue
            f = self._forest(max(10, self.n_estimators // 4)).fit(A[train], t[train])
            m, s = _spread(f, A[test])
            res[test], sd[test] = t[test] - m, s
        return Calibration.fit(res, sd, scales, self.coverage)

    def _forest(self, n: int) -> OutcomeRegressor:
        return OutcomeRegressor(n_estimators=n, max_features=0.33, random_state=self.random_state)

    def _matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        # an absent parameter (q_*) is -1, below every normalised value; any other absent feature 0
        return np.asarray([[float(r.get(c, -1.0 if c.startswith("q_") else 0.0)) for c in self.columns_]
                           for r in rows], dtype=np.float64).reshape(len(rows), len(self.columns_))

    def _col(self, A: np.ndarray, name: str) -> np.ndarray:
        return A[:, self.columns_.index(name)] if name in self.columns_ else np.zeros(len(A))

    def _basis(self, A: np.ndarray, basis: str, source: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The matrix as one latency basis sees it (the other bases' estimates blanked), the
        static estimate the target corrects, and which rows have it. ``source``: read the
        estimate from another basis's columns (a basis without records of its own)."""
        B = A.copy()
        for other, cols in _STATIC_OF.items():
            if other != basis:
                for c in cols:
                    if c in self.columns_:
                        B[:, self.columns_.index(c)] = 0.0
        if basis == "none":
            return B, np.zeros(len(A)), np.ones(len(A), dtype=bool)
        value, has = _STATIC_OF[source or basis]
        base, avail = self._col(A, value), self._col(A, has) > 0
        if source and source != basis:
            for c, v in zip(_STATIC_OF[basis], (base, avail.astype(float)), strict=True):
                if c in self.columns_:
                    B[:, self.columns_.index(c)] = v
        return B, base, avail

    # -- predicting ------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return hasattr(self, "targets_")

    def predict(self, X: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Each row's predicted outcomes (``len(X)`` x 4, ``OUTCOMES`` order)."""
        return self.predict_interval(X).mean

    def predict_interval(self, X: Sequence[Mapping[str, float]]) -> Predictions:
        """Predictions with intervals of nominal :attr:`coverage` (see :class:`Predictions`)."""
        check_is_fitted(self, "targets_")
        rows = [dict(r) for r in X]
        n = len(rows)
        A = self._matrix(rows)
        scales = [scale_of(r) for r in rows]
        known_models = set(getattr(self, "models_", []))
        seen = tuple(_signature(r) in known_models for r in rows)
        z = z_of(self.coverage)
        mean, lo, hi = np.zeros((n, 4)), np.zeros((n, 4)), np.zeros((n, 4))
        calibrated = np.zeros((n, 4), dtype=int)

        def fill(col: int, name: str, B: np.ndarray, base: np.ndarray, idx: np.ndarray) -> None:
            if not len(idx):
                return
            target = self.targets_.get(name) or {"forest": None}
            if target["forest"] is None:
                m, s = np.zeros(len(idx)), np.full(len(idx), PRIOR_STD[col])
            else:
                m, s = _spread(target["forest"], B[idx])
            for j, i in enumerate(idx):
                cal: Calibration | None = target.get("calibration_seen" if seen[i] else "calibration")
                b = cal.bias_of(scales[i]) if cal else 0.0
                half = cal.half_width(s[j], scales[i]) if cal else None
                if half is None:
                    half = z * s[j]
                else:
                    calibrated[i, col] = cal.records(scales[i])
                half = max(half, z * MIN_STD[col])
                mean[i, col] = base[i] + m[j] + b
                lo[i, col], hi[i, col] = mean[i, col] - half, mean[i, col] + half

        every = np.arange(n)
        fill(_ACC, "accuracy", A, np.zeros(n), every)
        known = self._col(A, "x_known") > 0
        fill(_SIZE, "size", A, np.where(known, self._col(A, "x_log_size"), 0.0), every)
        fill(_TIME, "time", A, np.zeros(n), every)
        basis = self._latency_bases(A)
        for pair in sorted(set(basis)):
            idx = np.array([i for i in range(n) if basis[i] == pair], dtype=int)
            B, base, _ = self._basis(A, pair[0], pair[1])
            fill(_LAT, f"latency:{pair[0]}", B, base, idx)
        return Predictions(mean, lo, hi, self.coverage, tuple(b[1] for b in basis), calibrated, seen)

    def _latency_bases(self, A: np.ndarray) -> list[tuple[str, str]]:
        """Each row's ``(latency model, estimate it corrects)``: the best basis the row has an
        estimate for; a share-based estimate with no share-based records is corrected as the
        profile's (both are physics-style ratios), and an estimate whose model was not fitted
        falls back to learning the whole ratio."""
        fitted = {b for b in LATENCY_BASES if (self.targets_.get(f"latency:{b}") or {}).get("forest") is not None}
        out = []
        for i in range(len(A)):
            has = {b for b, (_, flag) in _STATIC_OF.items() if flag in self.columns_
                   and A[i, self.columns_.index(flag)] > 0}
            if "shares" in has and "shares" in fitted:
                out.append(("shares", "shares"))
            elif "shares" in has and "profile" in fitted:
                out.append(("profile", "shares"))
            elif "profile" in has and "profile" in fitted:
                out.append(("profile", "profile"))
            else:
                out.append(("none", "none"))
        return out

    def similar(self, model: Mapping[str, float]) -> int:
        """Records of models within a factor ~3 in compute and size of this one."""
        if not self.fitted or not len(self.model_index_):
            return 0
        d = np.abs(self.model_index_ - [model.get("m_log_macs", 0.0), model.get("m_log_params", 0.0)])
        return int(np.sum((d[:, 0] < 0.5) & (d[:, 1] < 0.5)))

    def calibration(self) -> dict[str, dict[str, Any]]:
        """Each target's held-out calibration (bias, quantile, records per scale) and record count."""
        check_is_fitted(self, "targets_")
        return {k: {"records": v["n"], **(v["calibration"].to_dict() if v.get("calibration") else {}),
                    "seen_models": v["calibration_seen"].to_dict() if v.get("calibration_seen") else None}
                for k, v in self.targets_.items()}


def _spread(forest: OutcomeRegressor, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the interval's scale (see :data:`NOISE_SHARE`) of a single-output forest."""
    m, trees = forest.predict(A, return_std=True, noise=False)
    m, trees = np.asarray(m, dtype=float).ravel(), np.asarray(trees, dtype=float).ravel()
    noise = float(np.ravel(forest.noise_var_)[0])
    return m, np.sqrt(trees**2 + NOISE_SHARE**2 * noise)


def _signature(row: Mapping[str, float]) -> tuple[float, float, float]:
    """What identifies a model among records: its compute, parameters and input size."""
    return (round(row.get("m_log_macs", 0.0), 6), round(row.get("m_log_params", 0.0), 6),
            round(row.get("m_log_input", 0.0), 6))
