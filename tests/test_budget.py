"""Budgets: validation that names the field, tier presets, resolution, and the pick rule."""

from __future__ import annotations

import pytest

from advisor.advice import choose
from advisor.budget import TIERS, Budget
from advisor.errors import BudgetError
from advisor.problem import Evaluation
from advisor.types import LatencyStats, Measurement


def meas(q=0.99, size=1000, p90=1.0, secs=1.0) -> Measurement:
    return Measurement("accuracy", q, size, size // 2, LatencyStats(p90 * 0.9, p90, 100, 1, False), 1, secs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_latency_ms": -3}, "max_latency_ms"),
        ({"max_size_kb": 0}, "max_size_kb"),
        ({"max_accuracy_drop": -1}, "max_accuracy_drop"),
        ({"max_accuracy_drop": 101}, "max_accuracy_drop"),
        ({"max_compress_seconds": float("inf")}, "max_compress_seconds"),
        ({"max_size_ratio": "big"}, "max_size_ratio"),
        ({"objective": "speed"}, "objective"),
    ],
)
def test_bad_budget_names_field(kwargs, field):
    with pytest.raises(BudgetError, match=field):
        Budget(**kwargs)


def test_from_dict_rejects_unknown_keys_and_types():
    with pytest.raises(BudgetError, match="unknown budget field 'speed'"):
        Budget.from_dict({"speed": 3})
    with pytest.raises(BudgetError, match="'objective' must be a string"):
        Budget.from_dict({"objective": 3})
    assert Budget.from_dict({"tier": "low", "max_size_kb": 50}).max_size_kb == 50


def test_tiers_follow_lee_et_al():
    assert set(TIERS) == {"low", "mid", "high"}
    assert Budget.preset("low").objective == "size"
    assert Budget.preset("high").max_accuracy_drop < Budget.preset("mid").max_accuracy_drop


def test_resolution_against_baseline():
    base = meas(q=0.98, size=10_000, p90=2.0)
    lim = Budget(max_accuracy_drop=1.0, max_size_ratio=0.5, max_size_kb=4, max_latency_ratio=0.5).resolve(base)
    assert lim.min_quality == pytest.approx(0.97)
    assert lim.max_size_bytes == 4096  # the tighter of 4 KB and 50% of 10,000 bytes
    assert lim.max_latency_ms == pytest.approx(1.0)


def test_a_strategy_that_breaks_the_budget_is_never_chosen():
    base = meas(q=0.99, size=4000, p90=2.0)
    fast_but_inaccurate = Evaluation("X", {}, meas(q=0.90, size=1000, p90=0.1))
    fast_but_big = Evaluation("Y", {}, meas(q=0.99, size=5000, p90=0.2))
    slow_and_slow_to_make = Evaluation("Z", {}, meas(q=0.99, size=1000, p90=0.3, secs=500))
    ok = Evaluation("OK", {}, meas(q=0.985, size=1500, p90=0.9))
    b = Budget(max_accuracy_drop=1.0, max_size_kb=4, max_compress_seconds=100)
    chosen, binding, _ = choose(b, base, [fast_but_inaccurate, fast_but_big, slow_and_slow_to_make, ok])
    assert chosen is ok and binding is None


def test_nothing_fits_names_the_binding_constraint():
    base = meas(q=0.99, size=4000, p90=2.0)
    cands = [Evaluation("A", {}, meas(q=0.99, size=3000, p90=1.0)), Evaluation("B", {}, meas(q=0.95, size=1000, p90=0.5))]
    chosen, binding, nearest = choose(Budget(max_size_kb=1, max_accuracy_drop=1), base, cands)
    assert chosen is None and binding == "size"
    assert nearest and nearest[0].strategy in {"A", "B"}
