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


def test_interval_is_never_zero_width(tmp_path, profile, real_profile):
    """Even a synthetic profile with no measured spread and a perfect fit gives an interval."""
    model = _chain(tmp_path, "m", channels=16, size=8, layers=3)
    for prof in (profile, real_profile):
        for threads in (1, prof.threads_all):
            pred = predict_latency(model, prof, threads)
            lo, hi = pred.interval_ms
            assert 0 < lo < pred.p50_ms < hi
            assert hi / lo > 1.05
            assert pred.to_dict()["interval_ms"] == [round(lo, 5), round(hi, 5)]


def test_interval_widens_with_the_measured_spread(tmp_path, profile):
    from dataclasses import replace
    from types import MappingProxyType

    from advisor.profiling import BenchTimes

    model = _chain(tmp_path, "m", channels=32, size=16, layers=3)
    noisy = replace(profile, benchmarks=MappingProxyType(
        {k: BenchTimes(t.us_1t, t.us_all, 0.2, 0.2) for k, t in profile.benchmarks.items()}))
    calm, loud = predict_latency(model, profile), predict_latency(model, noisy)
    assert calm.p50_ms == pytest.approx(loud.p50_ms)
    assert loud.interval_ms[1] / loud.interval_ms[0] > calm.interval_ms[1] / calm.interval_ms[0]


@pytest.fixture(scope="module")
def real_shaped_cnn(tmp_path_factory):
    """A MobileNet-like CNN at 112x112 (3x3 stem, depthwise-separable blocks, a classifier) in
    FP32 and as static INT8 QDQ per-channel, as ``quantize_static`` writes it."""
    import numpy as np
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    def block(cin, cout, stride):
        return [torch.nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), torch.nn.ReLU6(),
                torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU6()]

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, 2, 1), torch.nn.ReLU6(), *block(32, 64, 1),
                              *block(64, 96, 2), *block(96, 128, 2), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(128, 100)).eval()
    d = tmp_path_factory.mktemp("cnn")
    fp32, int8 = d / "fp32.onnx", d / "int8.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 112, 112),), str(fp32), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"])

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.it = iter([{"input": rng.random((1, 3, 112, 112), dtype=np.float32)} for _ in range(2)])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return fp32, int8


def test_int8_twice_as_fast_device_predicts_static_int8_about_twice_as_fast(real_shaped_cnn):
    from tests.profiling.synthetic import profile_from_times, synthetic_times

    fp32, int8 = real_shaped_cnn
    twice, same = (profile_from_times(synthetic_times(call_us=5.0, int8_factor=f)) for f in (2.0, 1.0))
    for threads in (1, twice.threads_all):
        speedup = predict_latency(fp32, twice, threads).p50_ms / predict_latency(int8, twice, threads).p50_ms
        # about 2, a little more: the FP32 model's ReLU6 (Clip) is a second pass over each convolution's
        # output in onnxruntime's blocked kernels, which INT8 folds into its quantization; quantizing
        # the input and the call cost the same in both
        assert 1.9 < speedup < 2.7
        even = predict_latency(fp32, same, threads).p50_ms / predict_latency(int8, same, threads).p50_ms
        assert 0.9 < even < 1.35  # equal per-layer speed: only the FP32 activation passes differ
    assert twice.derived.int8_speedup == pytest.approx(2.0, rel=0.05)
