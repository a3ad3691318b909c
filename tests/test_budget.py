"""Budgets: validation that names the field, tier presets, resolution (the decisions: test_decide.py)."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.budget import LIMITS, TIERS, Budget
from advisor.cli import build_parser
from advisor.errors import BudgetError
from advisor.tui.screens.questionnaire import LIMIT_FIELDS
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


def test_confidence_is_part_of_the_budget_and_checked():
    assert Budget.preset("mid").confidence == 0.95
    assert Budget.from_answers({"max_accuracy_drop": "1", "confidence": "0.99"}).confidence == 0.99
    with pytest.raises(BudgetError, match="'confidence' must be a number in \\[0.5, 1\\), got 1.2"):
        Budget(max_accuracy_drop=1, confidence=1.2)
    assert "95% confidence" in Budget.preset("mid").describe()


def test_from_answers_reads_text_or_numbers_and_names_the_field():
    b = Budget.from_answers({"max_size_kb": " 500 ", "max_latency_ms": 2, "max_accuracy_drop": "", "tier": None,
                             "objective": "auto"})
    assert b == Budget(max_size_kb=500, max_latency_ms=2.0) and b.objective == "latency"
    assert Budget.from_answers({"tier": "mid", "max_size_kb": "50", "objective": "size"}) == Budget.preset(
        "mid", max_size_kb=50, objective="size")
    assert Budget.from_answers({"tier": "low", "objective": "auto"}) == Budget.preset("low")
    with pytest.raises(BudgetError, match=r"^budget field 'max_size_kb' must be a number, got 'ab'$"):
        Budget.from_answers({"max_size_kb": "ab"})
    with pytest.raises(BudgetError, match=r"^budget field 'max_accuracy_drop' must be in \[0, 100\] points, got 150"):
        Budget.from_answers({"max_accuracy_drop": "150"})
    with pytest.raises(BudgetError, match=r"^budget field 'max_latency_ms' must be a positive number, got -3"):
        Budget.from_answers({"max_latency_ms": "-3", "tier": "mid"})
    with pytest.raises(BudgetError, match="unknown budget field 'speed'"):
        Budget.from_answers({"speed": "1"})
    with pytest.raises(BudgetError, match="give a budget"):
        Budget.from_answers({"max_size_kb": " ", "objective": "size"})


def test_the_front_ends_ask_for_the_limits_budget_declares():
    asked = {lim.flag: lim for lim in LIMITS.values() if lim.flag}
    assert {k: v[0] for k, v in LIMIT_FIELDS.items()} == {k: lim.field for k, lim in asked.items()}
    advise = build_parser()._subparsers._group_actions[0].choices["advise"]
    flags = {o for a in advise._actions for o in a.option_strings}
    assert {f"--{k}" for k in asked} <= flags
    assert set(LIMITS) == {f.name for f in dataclasses.fields(Budget)} - {"objective", "tier", "confidence"}
