"""Split-conformal calibration: stated coverage holds on simulated residuals, bias is removed
before the spread, and the ranker's held-out intervals cover new families."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.ranking.conformal import Calibration, conformal_quantile, z_of
from advisor.ranking.ranker import Ranker


@pytest.mark.parametrize("kind", ["normal", "heavy-tailed", "skewed"])
@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_stated_coverage_holds_on_simulated_residuals(kind, coverage):
    rng = np.random.default_rng(1)

    def draw(n):
        std = rng.uniform(0.05, 0.5, n)  # heteroscedastic: the forest's spread differs per row
        if kind == "normal":
            e = rng.normal(0, 1, n)
        elif kind == "heavy-tailed":
            e = rng.standard_t(3, n)
        else:
            e = rng.gamma(2.0, 1.0, n) - 1.5  # skewed, median off zero: a biased predictor
        return e * std, std

    res, std = draw(400)
    cal = Calibration.fit(res, std, ["small"] * len(res), coverage)
    new, new_std = draw(40_000)
    half = np.array([cal.half_width(s, "small") for s in new_std])
    inside = np.abs(new - cal.bias_of("small")) <= half  # the interval: bias-corrected mean +- q * std
    assert coverage - 0.04 <= inside.mean() <= coverage + 0.05, inside.mean()


def test_bias_is_removed_before_the_spread():
    rng = np.random.default_rng(2)
    res = rng.normal(-0.2, 0.05, 300)  # a constant -20% (in log space): a calibration bug, not noise
    cal = Calibration.fit(res, np.full(300, 0.05), ["real"] * 300, 0.9)
    assert cal.bias["real"] == pytest.approx(-0.2, abs=0.01)
    # the interval's half-width reflects the spread (0.05 * ~1.64), not the bias
    assert cal.half_width(0.05, "real") == pytest.approx(0.05 * z_of(0.9), rel=0.2)


def test_scales_are_calibrated_apart_and_small_ones_pool():
    rng = np.random.default_rng(3)
    res = np.r_[rng.normal(0, 0.1, 200), rng.normal(0, 0.5, 200), rng.normal(0, 0.3, 5)]
    scales = ["small"] * 200 + ["real"] * 200 + ["tiny"] * 5
    cal = Calibration.fit(res, np.ones(len(res)), scales, 0.9)
    assert cal.q["real"] > 3 * cal.q["small"]
    # too few of its own: every scale's scores, the quantile widened (5 of the 20 needed: x1.75)
    assert cal.q["tiny"] == pytest.approx(1.75 * cal.q["all"]) and cal.records("tiny") == 405
    assert cal.widen_missing(["unseen"]).q["unseen"] == pytest.approx(2 * cal.q["all"])


def test_conformal_quantile_rank_and_small_samples():
    s = np.arange(1, 20, dtype=float)  # 19 scores: ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(s, 0.9) == 18.0
    assert conformal_quantile([1.0, 2.0], 0.9) == 3.0  # too few for the rank: 1.5 x the largest


@pytest.mark.slow
def test_ranker_intervals_cover_held_out_families():
    """Families differ by an offset the forest cannot know; leave-families-out calibration makes
    the stated 90% hold on a family it never saw."""
    rng = np.random.default_rng(4)
    rows, ys, groups = [], [], []
    for fam in range(12):
        offset = rng.normal(0, 0.25)
        for _ in range(25):
            x = rng.uniform(0, 1, 3)
            lat = 0.8 * x[0] - 0.5 * x[1] + offset + rng.normal(0, 0.1)
            rows.append({"m_log_macs": 6 + x[0], "m_log_params": 5 + x[1], "m_frac_conv_macs": x[2],
                         "x_log_pred_profile": 0.8 * x[0] - 0.5 * x[1], "x_has_profile": 1.0})
            ys.append([x[2], 0.0, lat, 0.0])
            groups.append(f"f{fam}")
    rows, ys = np.array(rows), np.array(ys)
    covered = []
    for fam in range(12):
        test = np.array([g == f"f{fam}" for g in groups])
        r = Ranker(n_estimators=30, latency_bases=("profile",)).fit(
            list(rows[~test]), ys[~test], [g for g, t in zip(groups, test, strict=True) if not t])
        p = r.predict_interval(list(rows[test]))
        assert set(p.latency_basis) == {"profile"} and (p.calibrated[:, 2] > 0).all()
        covered += list((p.lo[:, 2] <= ys[test, 2]) & (ys[test, 2] <= p.hi[:, 2]))
    assert 0.8 <= np.mean(covered) <= 0.99, np.mean(covered)
