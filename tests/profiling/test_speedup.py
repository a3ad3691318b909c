"""Speed-up from the original's own per-node times x the profile's per-operator ratios."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from advisor.profiling import _graphs as g
from advisor.profiling.predict import kernels_of
from advisor.profiling.speedup import NodeTimes, measure_node_times, predict_speedup
from tests.profiling.synthetic import make_profile


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """The same three-layer 32-channel CNN at 32x32 in FP32 and as static INT8 (QDQ)."""
    d = tmp_path_factory.mktemp("chains")
    out = {}
    for prec in ("fp32", "int8"):
        bg = g.conv_chain(32, 32, 3, precision=prec)
        onnx.save(bg.model, str(d / f"{prec}.onnx"))
        out[prec] = (d / f"{prec}.onnx", bg.feed)
    return out


@pytest.fixture(scope="module")
def times(chains) -> NodeTimes:
    path, feed = chains["fp32"]
    return measure_node_times(path, feed, threads=1, runs=10, warmup=2)


def test_node_times_land_on_the_predictors_kernels(chains, times):
    path, _ = chains["fp32"]
    live = {k.name for k in kernels_of(path) if not k.fused}
    convs = {k.name for k in kernels_of(path) if k.kind == "conv"}
    assert convs <= set(times.kernel_us) <= live  # every convolution measured, by the predictor's names
    assert all(v > 0 for v in times.kernel_us.values())
    assert times.total_us == pytest.approx(sum(times.kernel_us.values()) + times.unmatched_us)
    assert times.trace_overhead_us >= 0 and times.threads == 1
    assert NodeTimes.from_dict(times.to_dict()) == NodeTimes.from_dict(times.to_dict())
    again = NodeTimes.from_dict(times.to_dict())
    assert again.kernel_us.keys() == times.kernel_us.keys() and again.threads == times.threads


def test_the_original_over_itself_is_one(chains, times):
    path, _ = chains["fp32"]
    sp = predict_speedup(path, times, make_profile("p"))
    assert sp.ratio == pytest.approx(1.0) and sp.changed_share == pytest.approx(0.0)
    assert sp.paired == len([k for k in kernels_of(path) if not k.fused]) and sp.scaled == 0


@pytest.mark.parametrize(("factor", "faster"), [(3.0, True), (0.5, False)])
def test_int8_speed_of_the_device_decides_the_predicted_speedup(chains, times, factor, faster):
    """The profile's INT8/FP32 ratio per operator, applied to the measured FP32 layers: a device
    whose INT8 convolution is 3x faster predicts a large speed-up; one where it is 2x slower, a
    slow-down."""
    path, _ = chains["int8"]
    sp = predict_speedup(path, times, make_profile(f"int8x{factor}", int8_factor=factor))
    assert sp.paired >= 3  # the three convolutions keep their place: each costed from its FP32 twin
    if faster:
        assert sp.speedup > 1.5, sp.to_dict()
    else:
        assert sp.speedup < 0.8, sp.to_dict()
    assert "measured kernels of the original" in sp.basis


def test_the_ratio_follows_the_measured_shares_not_the_profiles_absolute_error(chains, times):
    """Scaling every measured node time by 3 (a profile that is 3x off in absolute terms on this
    model) leaves the predicted ratio where it was: what decides is the model's own time shares."""
    path, _ = chains["int8"]
    profile = make_profile("p", int8_factor=2.0)
    scaled = NodeTimes(times.model, times.threads, {k: 3 * v for k, v in times.kernel_us.items()},
                       3 * times.unmatched_us, times.trace_overhead_us, times.runs)
    a, b = predict_speedup(path, times, profile), predict_speedup(path, scaled, profile)
    assert np.isclose(a.ratio, b.ratio, rtol=0.1), (a.ratio, b.ratio)
