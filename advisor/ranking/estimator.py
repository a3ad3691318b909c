"""The regression half of the ranker: a scikit-learn estimator that predicts every outcome with an
uncertainty.

A random forest (one multi-output forest) fitted on the knowledge base's records. The uncertainty
of a prediction is the spread of the trees' predictions combined with the forest's out-of-bag
error, so it widens both where trees disagree (few similar records) and where the outcome is noisy.
It keeps scikit-learn's contract (``__init__`` stores arguments only, ``fit`` returns ``self``,
learned state ends in ``_``), so ``clone``, ``Pipeline`` and ``GridSearchCV`` work with it.
Nothing is pickled: the ranker refits from the records when it loads.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["OutcomeRegressor"]


class OutcomeRegressor(RegressorMixin, BaseEstimator):
    """Random-forest regression of one or several outcomes, with ``predict(X, return_std=True)``.

    Args:
        n_estimators: trees in the forest.
        min_samples_leaf: smallest leaf (larger = smoother, wider uncertainty).
        max_features: features considered per split (as in ``RandomForestRegressor``).
        random_state: seed.

    Example:
        >>> import numpy as np
        >>> X = np.arange(40.0).reshape(20, 2); y = X[:, 0] * 2
        >>> m = OutcomeRegressor(n_estimators=20, random_state=0).fit(X, y)
        >>> mean, std = m.predict(X[:2], return_std=True)
        >>> mean.shape, std.shape, bool((std > 0).all())
        ((2,), (2,), True)
    """

    def __init__(self, n_estimators: int = 200, min_samples_leaf: int = 2, max_features: float | str = 0.5,
                 random_state: int | None = 0) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, X, y):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.single_output_ = y.ndim == 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # few trees: some rows lack OOB predictions
            self.forest_ = RandomForestRegressor(
                n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features, random_state=self.random_state,
                oob_score=len(y2) >= 5, bootstrap=True, n_jobs=1,
            ).fit(X, y2 if y2.shape[1] > 1 else y2.ravel())
        if len(y2) >= 5:
            oob = np.asarray(self.forest_.oob_prediction_).reshape(len(y2), -1)
            ok = np.all(np.isfinite(oob), axis=1)
            resid = (oob[ok] - y2[ok]) if ok.any() else np.zeros((1, y2.shape[1]))
            self.noise_var_ = np.mean(resid**2, axis=0)
        else:
            self.noise_var_ = np.var(y2, axis=0) if len(y2) > 1 else np.ones(y2.shape[1])
        self.n_outputs_ = y2.shape[1]
        return self

    def predict(self, X, return_std: bool = False, noise: bool = True):
        """Mean prediction; with ``return_std`` also each prediction's standard deviation: the
        trees' spread, plus the out-of-bag noise unless ``noise`` is false (the spread alone is
        what varies from row to row: a normaliser for calibrated intervals)."""
        check_is_fitted(self, "forest_")
        X = validate_data(self, X, reset=False)
        per_tree = np.stack([t.predict(X).reshape(len(X), -1) for t in self.forest_.estimators_])
        mean = per_tree.mean(axis=0)
        std = np.sqrt(per_tree.var(axis=0) + (self.noise_var_[None, :] if noise else 0.0))
        if self.single_output_:
            mean, std = mean[:, 0], std[:, 0]
        return (mean, std) if return_std else mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
