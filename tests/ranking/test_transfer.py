"""A ranker that transfers: a technique is predicted from what it declares, never its name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from advisor.budget import Budget
from advisor.ranking import KnowledgeBase, fit_ranker, rank
from advisor.ranking.dataset import candidate_features
from advisor.ranking.features import device_features, strategy_features
from advisor.ranking.kb import seed_records
from advisor.techniques import get_technique, register, unregister
from advisor.techniques.fiq import FIQ, FIQConfig


@dataclass(frozen=True)
class TwinConfig(FIQConfig):
    """FIQ's parameters under another technique's name."""


class Twin(FIQ):
    """Static INT8 under another name: capabilities identical to FIQ's, no records of its own."""

    name = "TWIN"
    title = "FIQ's twin (test)"
    source = "tests/ranking/test_transfer.py"
    Config = TwinConfig
    searched = False


@pytest.fixture
def twin():
    register(Twin)
    try:
        yield get_technique("TWIN")
    finally:
        unregister("TWIN")


def test_features_never_name_a_technique(twin):
    f = strategy_features("TWIN", {"TWIN.calibration_size": 300})
    assert f == strategy_features("FIQ", {"FIQ.calibration_size": 300})
    assert not any(name in k for k in f for name in ("FIQ", "TWIN", "MPQ", "BLQ", "F16", "KD"))
    # what differs is what is declared: static vs dynamic INT8, FP16, a student
    assert strategy_features("BLQ")["c_precision=int8-dynamic"] == 1.0
    assert strategy_features("KD+F16")["c_changes=student"] == 1.0


@pytest.mark.slow
def test_a_technique_with_fiqs_capabilities_gets_fiq_like_predictions_without_records(twin, digits_problem,
                                                                                   tmp_path):
    records = seed_records()
    assert not any("TWIN" in r["strategy"] for r in records)
    r = rank(digits_problem, Budget(objective="latency", max_accuracy_drop=2),
             kb=KnowledgeBase(tmp_path / "kb.sqlite"), strategies=["FIQ", "TWIN", "F16"])
    fiq, tw, f16 = r.item("FIQ"), r.item("TWIN"), r.item("F16")
    for key in ("accuracy_drop_pts", "size_bytes", "latency_ms_p90"):
        a, b = fiq.predicted[key], tw.predicted[key]
        assert b.mean == pytest.approx(a.mean, rel=0.05, abs=0.05), (key, a, b)
        assert b.hi - b.lo == pytest.approx(a.hi - a.lo, rel=0.1, abs=0.05)
    assert tw.speedup.mean == pytest.approx(fiq.speedup.mean, rel=0.05)
    # learned, not a prior: its intervals are calibrated on held-out records, as FIQ's are
    assert tw.learned_from["calibration_records"] == fiq.learned_from["calibration_records"]
    assert all(n > 0 for n in tw.learned_from["calibration_records"].values())
    # and distinguishable from a technique that declares something else
    assert abs(f16.predicted["size_bytes"].mean - tw.predicted["size_bytes"].mean) > 0.2 * f16.predicted[
        "size_bytes"].mean


def test_parameters_count_on_their_declared_range(twin):
    lo = strategy_features("FIQ", {"FIQ.calibration_size": 100})["q_int8/precision.calibration_size"]
    hi = strategy_features("FIQ", {"FIQ.calibration_size": 500})["q_int8/precision.calibration_size"]
    assert (lo, hi) == (0.0, 1.0)  # FIQ's search range is 100..500
    mid = strategy_features("MPQ", {"MPQ.calibration_size": 200})["q_int8/precision.calibration_size"]
    assert mid == pytest.approx(0.5)  # MPQ's is 100..300: the same feature, on its own declared range


def test_a_model_family_not_seen_is_predicted_from_what_it_shares():
    """Leave the BERT-style encoders out: their static INT8 latency is still predicted from the
    other families' records through the capability and operator-mix features (no name match)."""
    records = [r for r in seed_records() if r.get("threads") == 1]
    fam = next(r["family"] for r in records if "bert" in str(r.get("model", "")))
    ranker = fit_ranker([r for r in records if r["family"] != fam], n_estimators=30,
                        latency_bases=("profile", "none"))
    held = [r for r in records if r["family"] == fam and r["strategy"] in ("FIQ", "BLQ")]
    rows = [candidate_features(r["model_features"], device_features(None, 1), r["strategy"], None) for r in held]
    p = ranker.predict_interval(rows)
    assert np.all(np.isfinite(p.mean)) and np.all(p.hi > p.lo)
    assert (p.calibrated[:, 2] > 0).all()  # the latency interval is calibrated, not the prior
