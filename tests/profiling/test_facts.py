"""Device facts: one typed view of a profile's key figures, with the verdicts' thresholds."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.profiling import DeviceFacts, ProfileDiff, compare_profiles
from advisor.tui import device
from tests.profiling.synthetic import make_profile


def test_facts_are_the_key_figures(profile):
    f = profile.facts()
    assert f.to_dict() == profile.key_figures()
    assert [x.name for x in dataclasses.fields(DeviceFacts)] == list(profile.key_figures())
    assert DeviceFacts.of(profile) == f and isinstance(f.isa, tuple)


def test_facts_of_a_profile_never_go_through_the_dict_form(profile, monkeypatch):
    """DeviceFacts.of(profile) is profile.facts(): typed to typed, no dict in between; a stand-in
    with only key_figures() is still read through its dict."""
    from advisor.profiling import DeviceProfile

    def no_dict(self):
        raise AssertionError("went through key_figures()")

    monkeypatch.setattr(DeviceProfile, "key_figures", no_dict)
    monkeypatch.setattr(DeviceFacts, "from_dict", classmethod(lambda cls, d: no_dict(None)))
    f = DeviceFacts.of(profile)
    assert f == DeviceFacts.from_profile(profile) and f.profile == "synthetic"
    assert f.conv_fp32_gflops == (profile.figures.conv.fp32_gflops_1t if profile.derived.suggested_threads == 1
                                  else profile.figures.conv.fp32_gflops_all)
    monkeypatch.undo()

    class StandIn:
        def key_figures(self):
            return {"int8_speedup": 1.5}

    assert DeviceFacts.of(StandIn()) == DeviceFacts(int8_speedup=1.5)


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


def test_compare_profiles_key_and_all(profile):
    other = make_profile("busy-box", load=1.5)
    key = compare_profiles(profile, other)
    assert [d.figure for d in key] == list(profile.key_figures())
    by = {d.figure: d for d in key}
    assert by["background_load_cores"].ratio is None  # 1.5 over 0: no ratio
    assert by["int8_speedup"].ratio == pytest.approx(other.facts().int8_speedup / profile.facts().int8_speedup)
    assert by["suggested_spinning"].ratio is None and by["cpu"].ratio is None  # a bool, a string
    full = compare_profiles(profile, other, detail="all")
    assert [d.figure for d in full[:5]] == ["cpu", "arch", "cores_logical", "isa", "energy_sensor"]
    assert all(d.ratio is None for d in full[:5])
    assert "conv.fp32_gflops_1t" in {d.figure for d in full} and full[-1].figure == "derived.suggested_threads"
    assert compare_profiles(None, profile)[0] == ProfileDiff("profile", None, profile.name, None)


def test_the_tui_renders_the_same_rows(profile):
    other = make_profile("busy-box", load=1.5)
    rows = device.compare(profile, other)
    assert [r[0] for r in rows] == [device.LABELS.get(d.figure, d.figure) for d in compare_profiles(profile, other)]
    assert dict((r[0], r[3]) for r in rows)["INT8 / FP32 speed"].endswith("x")
