"""Derived advice facts come from the measured figures, never from constants."""

from __future__ import annotations

import numpy as np
import pytest

from tests.profiling.synthetic import make_profile


def test_int8_speedup_follows_the_measured_figures():
    slow = make_profile(fp32_gmacs=50.0, int8_gmacs=60.0)
    fast = make_profile(fp32_gmacs=50.0, int8_gmacs=200.0)
    assert fast.derived.int8_speedup > 2.0 * slow.derived.int8_speedup
    f = slow.figures
    kinds = (f.conv, f.pointwise, f.depthwise)
    ratios = [k.int8_gops_all / k.fp32_gflops_all for k in kinds]
    assert slow.derived.int8_speedup == pytest.approx(float(np.prod(ratios)) ** (1 / 3), rel=0.01)
    assert slow.derived.int8_gemm_speedup == pytest.approx(f.gemm.int8_gops_all / f.gemm.fp32_gflops_all, rel=0.01)


def test_int8_speedup_comes_from_the_real_shaped_kernels():
    """Only the real-shaped kernels decide the derived ratio: scaling the small chains' INT8
    times changes nothing, scaling the real-shaped ones changes it in proportion."""
    from advisor.profiling import REAL_IDS, BenchTimes
    from tests.profiling.synthetic import profile_from_times, synthetic_times

    times = synthetic_times(fp32_gmacs=50.0, int8_gmacs=100.0)
    base = profile_from_times(times)

    def scaled(real: bool) -> dict:
        return {k: (BenchTimes(t.us_1t / 2, t.us_all / 2) if "int8_" in k and (k in REAL_IDS) == real else t)
                for k, t in times.items()}

    assert profile_from_times(scaled(real=False)).derived.int8_speedup == pytest.approx(
        base.derived.int8_speedup, rel=1e-3)
    assert profile_from_times(scaled(real=True)).derived.int8_speedup == pytest.approx(
        2 * base.derived.int8_speedup, rel=0.01)


def test_int8_can_be_slower_than_fp32():
    p = make_profile(fp32_gmacs=80.0, int8_gmacs=20.0)
    assert p.derived.int8_speedup < 1.0


def test_fp16_and_dynamic_int8_speedups_follow_figures():
    a = make_profile(fp16_gmacs=25.0, int8dyn_gmacs=2.0)
    b = make_profile(fp16_gmacs=100.0, int8dyn_gmacs=20.0)
    assert a.derived.fp16_speedup < 1.0 < b.derived.fp16_speedup
    assert b.derived.int8_dynamic_speedup > 5 * a.derived.int8_dynamic_speedup


def test_threads_leave_the_timing_loop_a_core_and_drop_to_one_under_background_load():
    quiet = make_profile(load=0.0, host={"cores_logical": 8})
    busy = make_profile(load=1.2, host={"cores_logical": 8})
    assert quiet.derived.suggested_threads == 7
    assert quiet.derived.suggested_spinning is True
    assert busy.derived.suggested_threads == 1
    assert busy.derived.suggested_spinning is False
    two = make_profile(load=0.0, host={"cores_logical": 2})  # this VM: one thread, one core for the rest
    assert two.derived.suggested_threads == 1 and two.derived.suggested_spinning is False


def test_no_extra_threads_when_they_do_not_help():
    flat = make_profile(scaling=1.05)
    assert flat.derived.suggested_threads == 1


def test_derived_facts_cannot_be_edited(profile_doc):
    from advisor.errors import ProfileError
    from advisor.profiling import DeviceProfile

    profile_doc["derived"]["suggested_spinning"] = not profile_doc["derived"]["suggested_spinning"]
    with pytest.raises(ProfileError, match="derived.suggested_spinning"):
        DeviceProfile.from_dict(profile_doc)
