"""Latency decisions within one run: paired block ratios, ties within noise, disturbed blocks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from advisor.measure.latency import LATENCY_RESOLUTION, compare, ratio_figure, time_models
from advisor.types import LatencyStats
from tests.measure.tinymodels import matmul_chain_onnx

REPEATS = 20


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    d = tmp_path_factory.mktemp("chains")
    three = matmul_chain_onnx(d / "three.onnx", 3)
    copy = d / "three-copy.onnx"
    shutil.copy(three, copy)
    two = matmul_chain_onnx(d / "two.onnx", 2)
    return three, copy, two, {"x": np.random.default_rng(0).standard_normal((8, 384)).astype(np.float32)}


@pytest.mark.slow
def test_two_copies_of_one_file_are_tied_in_every_repeat(chains):
    three, copy, _, feed = chains
    calls = []
    for _ in range(REPEATS):
        a, b = time_models([three, copy], feed, seconds=0.15)
        calls.append(compare(ratio_figure(b, a)))
    assert calls == ["tied"] * REPEATS


@pytest.mark.slow
def test_a_model_one_and_a_half_times_faster_is_faster_in_every_repeat(chains):
    three, _, two, feed = chains
    calls, ratios = [], []
    for _ in range(REPEATS):
        a, b = time_models([three, two], feed, seconds=0.15)
        fig = ratio_figure(b, a)
        calls.append(compare(fig))
        ratios.append(fig.value)
    assert calls == ["faster"] * REPEATS, ratios
    assert 0.55 < float(np.median(ratios)) < 0.8  # two layers of three: ~0.67


def _stats(blocks_a, blocks_b):
    a = LatencyStats(float(np.median(blocks_a)), max(blocks_a), 100, 1, False, blocks_p50=tuple(blocks_a),
                     blocks_p90=tuple(blocks_a), run="one")
    b = LatencyStats(float(np.median(blocks_b)), max(blocks_b), 100, 1, False, blocks_p50=tuple(blocks_b),
                     blocks_p90=tuple(blocks_b), run="one")
    return a, b


def test_ratio_bounds_come_from_paired_blocks_and_survive_a_slow_block():
    # a drifting machine: both models slow down together in the later blocks; one block hit the candidate alone
    base = np.linspace(1.0, 2.0, 10)
    cand = 0.5 * base
    cand[3] *= 3.0
    a, b = _stats(base, cand)
    fig = ratio_figure(b, a)
    assert fig.blocks == 10 and fig.lo == pytest.approx(0.5) and fig.hi < 0.55  # the slow block is an outlier
    assert compare(fig) == "faster"


def test_ratio_of_unpaired_figures_is_exact():
    a = LatencyStats(1.0, 1.2, 100, 1, False)
    b = LatencyStats(0.5, 0.6, 100, 1, False)
    fig = ratio_figure(b, a)
    assert fig.blocks == 0 and fig.lo == fig.hi == fig.value == 0.5


def test_within_the_resolution_is_a_tie():
    a, b = _stats(np.ones(10), np.full(10, 1 - LATENCY_RESOLUTION / 2))
    assert compare(ratio_figure(b, a)) == "tied"
    a, b = _stats(np.ones(10), np.full(10, 1.2))
    assert compare(ratio_figure(b, a)) == "slower"


def test_blocks_are_recorded_per_model(chains):
    three, copy, _, feed = chains
    a, b = time_models([three, copy], feed, seconds=0.05)
    assert len(a.blocks_p50) == len(b.blocks_p50) == 10
    assert a.retimed == b.retimed >= 0
    assert LatencyStats.from_dict(a.to_dict()) == a
