"""Latency prediction from a profile, without running the model."""

from __future__ import annotations

import onnx
import pytest

from advisor.errors import InputError
from advisor.profiling import predict_latency, roofline_floor_ms
from advisor.profiling._graphs import conv_chain
from tests.profiling.synthetic import make_profile


def _chain(tmp_path, name, **kw):
    p = tmp_path / f"{name}.onnx"
    onnx.save(conv_chain(**kw).model, str(p))
    return p


@pytest.fixture(scope="module")
def zoo_pair(tmp_path_factory):
    """The built-in teacher's architecture at full width and at ~half the FLOPs (width / sqrt 2)."""
    import torch

    from advisor.models import export_onnx
    from advisor.models.zoo import ResidualCNN
    from advisor.types import TensorSpec

    d = tmp_path_factory.mktemp("zoo")
    spec = (TensorSpec("input", (None, 1, 32, 32), "float32"),)
    torch.manual_seed(0)
    big = export_onnx(ResidualCNN(widths=(32, 64, 128)), spec, ("logits",), d / "big.onnx")
    small = export_onnx(ResidualCNN(widths=(23, 45, 91)), spec, ("logits",), d / "small.onnx")
    return big, small


def test_half_the_flops_is_predicted_faster(tmp_path, profile, real_profile):
    full = _chain(tmp_path, "full", channels=32, size=16, layers=4)
    half = _chain(tmp_path, "half", channels=32, size=16, layers=2)
    for prof in (profile, real_profile):
        a, b = predict_latency(full, prof), predict_latency(half, prof)
        assert b.flops * 2 == a.flops
        assert b.p50_ms < a.p50_ms


def test_zoo_model_at_half_the_flops_is_predicted_faster(zoo_pair, profile, real_profile):
    from advisor.models import describe

    big, small = zoo_pair
    ratio = describe(small).flops / describe(big).flops
    assert 0.4 < ratio < 0.6
    for prof in (profile, real_profile):
        for threads in (1, prof.threads_all):
            assert predict_latency(small, prof, threads).p50_ms < predict_latency(big, prof, threads).p50_ms


def test_prediction_is_above_the_roofline_floor_and_adds_up(zoo_pair, profile):
    big, _ = zoo_pair
    pred = predict_latency(big, profile)
    assert 0 < pred.roofline_floor_ms < pred.p50_ms
    assert roofline_floor_ms(big, profile) == pytest.approx(pred.roofline_floor_ms)
    assert sum(pred.breakdown_ms.values()) == pytest.approx(pred.p50_ms, rel=1e-6)
    assert pred.breakdown_ms["call"] == pytest.approx(profile.figures.overhead.run_us_1t / 1000, rel=1e-6)
    d = pred.to_dict()
    assert d["floor_ratio"] > 1 and d["profile"] == "synthetic" and d["threads"] == 1


def test_faster_device_gives_lower_prediction(zoo_pair):
    big, _ = zoo_pair
    slow, fast = make_profile(fp32_gmacs=20.0), make_profile(fp32_gmacs=200.0)
    assert predict_latency(big, fast).p50_ms < predict_latency(big, slow).p50_ms


def test_int8_model_follows_the_device_int8_figures(tmp_path):
    fp32 = _chain(tmp_path, "f", channels=32, size=16, layers=4)
    int8 = _chain(tmp_path, "q", channels=32, size=16, layers=4, precision="int8")
    good_int8 = make_profile(fp32_gmacs=50.0, int8_gmacs=300.0)
    poor_int8 = make_profile(fp32_gmacs=50.0, int8_gmacs=10.0)
    assert predict_latency(int8, good_int8).p50_ms < predict_latency(fp32, good_int8).p50_ms
    assert predict_latency(int8, poor_int8).p50_ms > predict_latency(fp32, poor_int8).p50_ms


def test_threads_between_one_and_all_interpolate(zoo_pair, profile):
    big, _ = zoo_pair
    one = predict_latency(big, profile, 1).p50_ms
    two = predict_latency(big, profile, 2).p50_ms
    allc = predict_latency(big, profile, profile.threads_all).p50_ms
    assert allc < two < one
    assert predict_latency(big, profile, 64).p50_ms == pytest.approx(allc)


def test_not_a_model(tmp_path, profile):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"not a model")
    with pytest.raises(InputError, match="does not load"):
        predict_latency(p, profile)
