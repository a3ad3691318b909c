"""The profiler's timing loop on stand-in sessions: a busy machine's slowed rounds are detected,
re-timed and left out of the figure; a quiet machine's own variability is kept in the spread."""

from __future__ import annotations

import time

import pytest

from advisor.profiling import _timing
from advisor.profiling._timing import SETTLED, Timed, time_setting


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
                return (4.0 if busy else 0.0), 0.0  # other processes' cores: more than any host here leaves free

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
    out, done = time_setting(timed, 1, 0.06, rounds=rounds, cores=2)
    return out, done


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
    spread says so); the figure is the median of the rounds."""
    out, _ = _time(monkeypatch, _Machine(slow_rounds={1, 3}, busy=False))
    t = out["b0"]
    assert t.disturbed == 0 and t.retimed == 0 and t.rounds == 6
    assert t.us == pytest.approx(60.0, rel=0.25) and t.spread > 0.3


def test_a_machine_still_busy_is_not_retimed(monkeypatch):
    """Slowed while busy in the last rounds too: re-timing now would be disturbed again, so the
    figure keeps what it has (and says it is short of undisturbed rounds)."""
    out, _ = _time(monkeypatch, _Machine(slow_rounds={3, 4, 5}))
    t = out["b0"]
    assert t.disturbed == 3 and t.retimed == 0 and t.rounds == 3 < SETTLED
    assert t.us == pytest.approx(60.0, rel=0.25)


def test_other_work_on_the_free_cores_does_not_count(monkeypatch):
    """One thread on a 2-core machine while another process holds the other core: not busy."""
    machine = _Machine(slow_rounds={0, 2, 4})
    monkeypatch.setattr(_timing, "LoadMeter", machine.meter)
    monkeypatch.setattr(_timing, "CpuShare", _FullShare)
    out, _ = time_setting({"b": Timed(_Session(machine, 60.0), None)}, 1, 0.05, cores=5)  # 4 other cores busy
    assert out["b"].disturbed == 0 and out["b"].rounds == 6


def test_a_block_that_lost_its_core_counts_as_disturbed(monkeypatch):
    """No other process in sight, but the block got half the CPU it asked for (a hypervisor, an
    unseen neighbour): CpuShare says so, and the slow rounds are disturbed."""
    machine = _Machine(slow_rounds={0, 2, 4}, busy=False)

    class HalfShareWhenSlow(_FullShare):
        def read(self) -> float:
            return 0.5 if machine.slow else 1.0

    monkeypatch.setattr(_timing, "LoadMeter", machine.meter)
    monkeypatch.setattr(_timing, "CpuShare", HalfShareWhenSlow)
    out, _ = time_setting({"b": Timed(_Session(machine, 60.0), None)}, 1, 0.05, cores=2)
    assert out["b"].disturbed == 3 and out["b"].us == pytest.approx(60.0, rel=0.25)


def test_a_machine_busy_throughout_is_measured_as_it_is(monkeypatch):
    """Busy and slow in every round: nothing quiet to compare with, so the figure is the machine
    as it is, and nothing is re-timed (it would only be disturbed again)."""
    machine = _Machine(slow_rounds=set(range(-100, 100)), always_busy=True)
    out, _ = _time(monkeypatch, machine)
    t = out["b0"]
    assert t.us == pytest.approx(120.0, rel=0.25) and t.disturbed == 0 and t.retimed == 0
