"""Measurement: latency statistics, sizes, accuracy and fidelity on real models."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.data import load_data
from advisor.measure import MeasureSettings, measure_models, reference_outputs, time_models
from advisor.measure.quality import fidelity
from advisor.models import load_model
from advisor.problem import open_problem
from tests.conftest import FAST


def test_latency_has_p50_le_p90_and_threads(tiny_onnx):
    feed = {"input": np.zeros((1, 1, 16, 16), np.float32)}
    for threads in (1, 2):
        (lat,) = time_models([tiny_onnx], feed, threads=threads, seconds=0.05)
        assert 0 < lat.p50_ms <= lat.p90_ms
        assert lat.threads == threads
        assert lat.runs >= 30
        assert lat.batch == 1


def test_interleaved_timing_returns_one_figure_per_model(tiny_onnx, two_input_onnx):
    feed = {"input": np.zeros((1, 1, 16, 16), np.float32)}
    stats = time_models([tiny_onnx, tiny_onnx], feed, seconds=0.05)
    assert len(stats) == 2
    # Same model, same run: the two medians agree far better than a factor of 2.
    assert 0.5 < stats[0].p50_ms / stats[1].p50_ms < 2.0


def test_baseline_fidelity_against_itself_is_one(tmp_path, tiny_onnx):
    x = np.random.default_rng(0).random((30, 1, 16, 16), dtype=np.float32)
    np.savez(tmp_path / "unlabelled.npz", input=x)
    with open_problem(str(tiny_onnx), str(tmp_path / "unlabelled.npz"), settings=FAST) as p:
        assert p.data.metric == "fidelity"
        assert p.baseline.metric == "fidelity"
        assert p.baseline.quality == 1.0


def test_cosine_fidelity_for_non_class_outputs():
    ref = [np.random.default_rng(0).standard_normal((6, 3, 2))]  # a feature map: cosine
    assert fidelity(ref, ref) == pytest.approx(1.0)
    assert fidelity([-ref[0]], ref) == pytest.approx(0.0)  # clipped at 0: the [0, 1] scale


def test_two_input_onnx_with_named_npz_is_measured(tmp_path, two_input_onnx):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", image=rng.random((25, 3), dtype=np.float32),
             meta=rng.random((25, 2), dtype=np.float32))
    with open_problem(str(two_input_onnx), str(tmp_path / "d.npz"), settings=FAST) as p:
        b = p.baseline
        assert [i.name for i in p.model.inputs] == ["image", "meta"]
        assert b.metric == "fidelity" and b.quality == pytest.approx(1.0)
        assert b.size_bytes > 0 and 0 < b.latency.p50_ms <= b.latency.p90_ms
        _, m = p.evaluate("F16")
        assert 0.99 < m.quality <= 1.0  # cosine similarity of FP16 outputs to the FP32 original


def test_sizes_and_memory_are_measured(tmp_path, tiny_onnx):
    m = load_model(str(tiny_onnx), workdir=tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", input=rng.random((10, 1, 16, 16), dtype=np.float32), labels=rng.integers(0, 4, 10))
    data = load_data(str(tmp_path / "d.npz"), m.inputs)
    (meas,) = measure_models([m], data, reference=reference_outputs(m, data),
                             settings=MeasureSettings(seconds=0.05, memory=True))
    assert meas.size_bytes == tiny_onnx.stat().st_size
    assert 0 < meas.size_compressed_bytes < meas.size_bytes
    assert meas.peak_memory_bytes > 0
    assert meas.metric == "accuracy" and 0.0 <= meas.quality <= 1.0
