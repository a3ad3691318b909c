"""The profiler on this machine (quick budget: a few seconds; no wall-clock assertions)."""

from __future__ import annotations

import pytest

from advisor.errors import Cancelled
from advisor.profiling import BENCH_IDS, dump_profile, parse_profile, profile_device
from advisor.progress import RunContext


def test_quick_profile_is_complete_and_valid(real_profile):
    p = real_profile
    assert p.name == "test-host" and p.run.quick
    assert set(p.benchmarks) == set(BENCH_IDS)
    assert p.run.threads_all == p.host.cores_logical
    f = p.figures
    for group in (f.gemm, f.conv, f.memory, f.overhead):
        assert all(v > 0 for v in vars(group).values())
    assert p.run.background_load_cores >= 0 and 0 <= p.run.steal_percent <= 100
    assert 1 <= p.derived.suggested_threads <= p.run.threads_all
    assert parse_profile(dump_profile(p)) == p


def test_figures_come_from_the_benchmark_times(real_profile):
    p = real_profile
    t = p.benchmarks["conv_fp32_c32s112"]  # timed per kernel: no call to subtract
    base = p.benchmarks["base"]
    node = (p.benchmarks["nodes"].us_1t - base.us_1t) / 400
    expected = 2 * 32 * 112 * 112 * 32 * 9 / t.us_1t / 1000
    assert p.figures.conv.fp32_gflops_1t == pytest.approx(expected, rel=1e-3)
    assert p.figures.overhead.node_us_1t == pytest.approx(node, rel=1e-2, abs=1e-3)


def test_progress_and_cancel():
    events = []
    ctx = RunContext(progress=events.append)
    ctx.cancel.set()
    with pytest.raises(Cancelled):
        profile_device("x", quick=True, ctx=ctx)
    assert events and events[0].stage == "profile"


def test_bad_name_fails_before_measuring():
    from advisor.errors import ProfileError

    with pytest.raises(ProfileError, match="profile name"):
        profile_device("../x", quick=True)
