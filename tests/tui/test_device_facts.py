"""The TUI's device facts and the ranking rules judge a profile with the same thresholds
(:class:`advisor.profiling.DeviceFacts`): at 1.15x INT8 is "similar" for both, at 1.2x "faster"."""

from __future__ import annotations

import pytest

from advisor.budget import Budget
from advisor.profiling import DeviceFacts
from advisor.ranking.rules import RULES, RuleContext
from advisor.strategies import Strategy
from advisor.tui import device
from advisor.types import LatencyStats, Measurement

BASE = Measurement("accuracy", 0.99, 1_000_000, 900_000, LatencyStats(1.0, 1.1, 100, 1, False), 1, 0.0)


class Figures:
    """A profile as the TUI reads one: key figures only (of this device: no host to compare)."""

    def __init__(self, **figures) -> None:
        self.figures = figures

    def key_figures(self) -> dict:
        return dict(self.figures)


def _rule(name: str, facts: DeviceFacts):
    ctx = RuleContext(model={}, budget=Budget.preset("mid"), facts=facts, baseline=BASE, labelled=True)
    fn = next(r.fn for r in RULES if r.name == name)
    return fn(ctx, [Strategy.parse(s) for s in ("FIQ", "F16")])


@pytest.mark.parametrize(("s8", "tui", "rule"), [
    (1.15, "about as fast", "similar speed"), (1.2, "1.2x faster", "faster"), (0.85, "slower", "slower"),
])
def test_tui_and_rules_agree_on_int8(s8, tui, rule):
    shown = " ".join(device.facts(Figures(int8_speedup=s8)))
    assert tui in shown
    fired = _rule("int8_speed_here", DeviceFacts.of(Figures(int8_speedup=s8)))
    assert fired and rule in fired[0].reason.text


@pytest.mark.parametrize(("s16", "no_gain"), [(1.05, True), (1.12, False), (1.5, False)])
def test_tui_and_rules_agree_on_fp16(s16, no_gain):
    shown = " ".join(device.facts(Figures(fp16_speedup=s16)))
    assert ("no speed-up" in shown) == no_gain and ("faster than FP32" in shown) != no_gain
    assert bool(_rule("fp16_no_speedup", DeviceFacts(fp16_speedup=s16))) == no_gain
