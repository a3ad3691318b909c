"""The profiler's timing loop on stand-in sessions: a busy machine's slowed rounds are detected,
re-timed and left out of the figure; a quiet machine's own variability is kept in the spread."""

from __future__ import annotations

import time

import pytest

from advisor.profiling import _timing
from advisor.profiling._timing import SETTLED, Timed, robust_figure, time_setting


class _Machine:
    """Which rounds run slow, and whether other work shows while they do (the LoadMeter's view)."""

    def __init__(self, slow_rounds=(), busy=True, always_busy=False):
        # round -1: the warm-up, before the first round's meter
        self.round, self.slow_rounds, self.busy, self.always_busy = -1, set(slow_rounds), busy, always_busy

    @property
    def slow(self) -> bool:
        return self.round in self.slow_rounds

    def meter(self):
        machine = self
        machine.round += 1

        class Meter:
            def read(self):
                busy = machine.always_busy or (machine.slow and machine.busy)
                return (1.0 if busy else 0.0), 0.0

        return Meter()


class _Session:
    def __init__(self, machine: _Machine, us: float):
        self.machine, self.us = machine, us

    def run_with_iobinding(self, _binding) -> None:
        end = time.perf_counter_ns() + int(1000 * self.us * (2.0 if self.machine.slow else 1.0))
        while time.perf_counter_ns() < end:
            pass


class _FullShare:
    """Every block holds its core (the stand-in machine's view, whatever the test host is doing)."""

    def start(self):
        return self

    def read(self) -> float:
        return 1.0


def _time(monkeypatch, machine: _Machine, us=(60.0, 90.0), rounds=6):
    monkeypatch.setattr(_timing, "LoadMeter", machine.meter)
    monkeypatch.setattr(_timing, "CpuShare", _FullShare)
    timed = {f"b{i}": Timed(_Session(machine, u), None) for i, u in enumerate(us)}
    out, done = time_setting(timed, 1, 0.06, rounds=rounds)
    return out, done


def test_robust_figure_ignores_the_slower_half():
    assert robust_figure([10.0]) == 10.0
    assert robust_figure([10.0, 20.0]) == 10.0
    assert robust_figure([10.0, 10.2, 9.9, 30.0, 28.0, 25.0]) == pytest.approx(10.0)
    assert robust_figure([5.0, 5.2, 5.1, 5.3, 5.0]) == pytest.approx(5.05, abs=0.06)


def test_a_quiet_machine_disturbs_nothing(monkeypatch):
    out, done = _time(monkeypatch, _Machine())
    assert done == 6
    for bid, us in (("b0", 60.0), ("b1", 90.0)):
        t = out[bid]
        assert t.us == pytest.approx(us, rel=0.25)
        assert t.disturbed == 0 and t.retimed == 0 and t.rounds == 6


def test_rounds_a_busy_machine_slowed_are_dropped_and_retimed(monkeypatch):
    """Three of six rounds run at half speed while other work shows: they are disturbed, the
    figure is the undisturbed speed, and re-timing brings the figure back to SETTLED rounds."""
    out, _ = _time(monkeypatch, _Machine(slow_rounds={0, 2, 4}))  # rounds counted from the first timed one
    for bid, us in (("b0", 60.0), ("b1", 90.0)):
        t = out[bid]
        assert t.us == pytest.approx(us, rel=0.25), t
        assert t.disturbed == 3 and t.retimed >= 1 and t.rounds >= SETTLED
        assert t.spread < 0.3


def test_slow_rounds_on_a_quiet_machine_stay_in_the_spread(monkeypatch):
    """Slower rounds with no other work in sight are the device's own variability: kept (the
    spread says so), and the figure is still the faster half's."""
    out, _ = _time(monkeypatch, _Machine(slow_rounds={1, 3}, busy=False))
    t = out["b0"]
    assert t.disturbed == 0 and t.retimed == 0 and t.rounds == 6
    assert t.us == pytest.approx(60.0, rel=0.25) and t.spread > 0.3


def test_a_block_that_lost_its_core_counts_as_disturbed(monkeypatch):
    """No other process in sight, but the block got half the CPU it asked for (a hypervisor, an
    unseen neighbour): CpuShare says so, and the slow rounds are disturbed."""
    machine = _Machine(slow_rounds={0, 2, 4}, busy=False)

    class HalfShareWhenSlow(_FullShare):
        def read(self) -> float:
            return 0.5 if machine.slow else 1.0

    monkeypatch.setattr(_timing, "LoadMeter", machine.meter)
    monkeypatch.setattr(_timing, "CpuShare", HalfShareWhenSlow)
    out, _ = time_setting({"b": Timed(_Session(machine, 60.0), None)}, 1, 0.05)
    assert out["b"].disturbed == 3 and out["b"].us == pytest.approx(60.0, rel=0.25)


def test_a_machine_busy_throughout_is_measured_as_it_is(monkeypatch):
    """Busy and slow in every round, re-timed rounds included: nothing better to keep, so the
    figure is the slowed one, and the re-timing is bounded."""
    machine = _Machine(slow_rounds=set(range(-100, 100)), always_busy=True)
    out, _ = _time(monkeypatch, machine)
    t = out["b0"]
    assert t.us == pytest.approx(120.0, rel=0.25) and t.disturbed == 0
    assert t.retimed <= _timing.RETRY_PASSES
