"""Device facts: one typed view of a profile's key figures, with the verdicts' thresholds."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.profiling import DeviceFacts


def test_facts_are_the_key_figures(profile):
    f = profile.facts()
    assert f.to_dict() == profile.key_figures()
    assert [x.name for x in dataclasses.fields(DeviceFacts)] == list(profile.key_figures())
    assert DeviceFacts.of(profile) == f and isinstance(f.isa, tuple)


def test_round_trip_and_the_empty_facts(profile):
    f = DeviceFacts.of(profile)
    assert DeviceFacts.from_dict(f.to_dict()) == f
    assert DeviceFacts.from_dict({**f.to_dict(), "from_a_newer_version": 1}) == f
    empty = DeviceFacts.of(None)
    assert empty == DeviceFacts() == DeviceFacts.from_dict({}) and empty.is_empty and not f.is_empty
    assert empty.int8_verdict() is None and empty.fp16_verdict() is None and not empty.is_busy()


@pytest.mark.parametrize(("speedup", "int8", "fp16"), [
    (0.5, "slower", "no-gain"), (0.9, "similar", "no-gain"), (1.09, "similar", "no-gain"),
    (1.1, "similar", "faster"), (1.15, "similar", "faster"), (1.2, "faster", "faster"), (3.0, "faster", "faster"),
])
def test_verdict_thresholds(speedup, int8, fp16):
    f = DeviceFacts(int8_speedup=speedup, fp16_speedup=speedup, int8_dynamic_speedup=speedup)
    assert (f.int8_verdict(), f.fp16_verdict(), f.int8_dynamic_verdict()) == (int8, fp16, int8)


def test_not_a_number_is_unknown():
    f = DeviceFacts(int8_speedup=float("nan"), fp16_speedup=True)  # type: ignore[arg-type]
    assert f.int8_verdict() is None and f.fp16_verdict() is None


def test_busy_share():
    assert DeviceFacts(background_load_cores=0.5, cores_logical=2).is_busy()
    assert not DeviceFacts(background_load_cores=0.4, cores_logical=2).is_busy()
    assert DeviceFacts(background_load_cores=0.5).busy_share() == 0.5
