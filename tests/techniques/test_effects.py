"""Each technique does what it claims, measured on a tiny real model (effects that can fail).

Speed claims are checked through multiply-adds counted from the ONNX graph, never wall-clock.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from advisor.errors import InputError, NotApplicable
from advisor.models import describe, load_model
from advisor.strategies import Strategy
from advisor.techniques import get_technique
from advisor.techniques.lr import factor
from advisor.techniques.prn import PRNConfig, _Schedule, measured_sparsity
from advisor.techniques.qat import _WeightFakeQuant


def weight_sparsity(path) -> float:
    """Fraction of zeros over the Conv/Gemm weight tensors (2-D and up) of an ONNX file."""
    inits = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]
    weights = [w for w in inits if w.ndim >= 2]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)


# --- PRN ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("sparsity", "scope"), [(0.5, "global"), (0.9, "global"), (0.7, "layer")])
def test_prn_reaches_the_requested_sparsity(torch_problem, sparsity, scope):
    result, m = torch_problem.evaluate("PRN", {"sparsity": sparsity, "scope": scope, "epochs": 2.0})
    assert result.notes["PRN.sparsity"] == pytest.approx(sparsity, abs=0.01)
    assert weight_sparsity(result.model.onnx_path) == pytest.approx(sparsity, abs=0.01)  # survives export
    assert m.size_bytes == pytest.approx(torch_problem.baseline.size_bytes, rel=0.05)  # exported dense
    if sparsity >= 0.9:
        assert m.size_compressed_bytes < 0.4 * torch_problem.baseline.size_compressed_bytes


def test_prn_schedule_is_gradual():
    torch.manual_seed(0)
    layers = [nn.Linear(64, 64), nn.Linear(64, 32)]
    schedule = _Schedule(layers, PRNConfig(sparsity=0.8, ramp=0.5, updates=10))
    levels = []
    for step in range(100):
        schedule(step, 100)
        levels.append(measured_sparsity(layers))
    assert levels == sorted(levels)
    assert 0 < levels[0] < 0.3
    assert levels[49] == pytest.approx(0.8, abs=0.005) and levels[-1] == pytest.approx(0.8, abs=0.005)
    assert 8 <= len(set(levels)) <= 10  # raised in `updates` increments, not at once


# --- SPR ---------------------------------------------------------------------------------

def test_spr_removes_channels_and_multiply_adds(torch_problem):
    base = describe(torch_problem.model.onnx_path)
    graphs = {}
    for ratio in (0.25, 0.5):
        result, _ = torch_problem.evaluate("SPR", {"pruning_ratio": ratio, "epochs": 1.0})
        graphs[ratio] = describe(result.model.onnx_path)
        assert result.notes["SPR.params_after"] < result.notes["SPR.params_before"]
        module = result.model.module
        assert module.fc.out_features == 4  # the classifier's outputs stay
        assert module.res[0].out_channels == module.down[0].out_channels  # residual kept consistent
    assert graphs[0.5].params < 0.5 * base.params
    assert graphs[0.5].macs < 0.45 * base.macs  # ~(1 - 0.5)^2 of the convolutions' work
    assert graphs[0.5].macs < graphs[0.25].macs < base.macs  # predicted ranking follows the ratio


# --- KD and CA ---------------------------------------------------------------------------

def test_kd_student_is_smaller_and_learns_from_the_teacher(torch_problem):
    result, m = torch_problem.evaluate("KD", {"width": 0.5, "epochs": 10.0})
    assert describe(result.model.onnx_path).params < 0.5 * torch_problem.graph.params
    assert result.notes["KD.student_params"] < torch_problem.graph.params
    assert result.model.has_torch  # a PyTorch student: torch steps may follow
    assert m.quality > 0.5  # chance is 0.25: the student kept what the teacher knows


def test_kd_refuses_a_student_that_is_not_smaller(torch_problem):
    with pytest.raises(NotApplicable, match="not fewer than the model"):
        torch_problem.evaluate("KD", {"width": 1.0, "depth": 1.0, "epochs": 0.1})


def test_kd_and_ca_explain_models_they_cannot_take(two_input_onnx, tmp_path, torch_problem):
    model = load_model(str(two_input_onnx), workdir=tmp_path)
    assert "2 inputs" in get_technique("CA").why_not(model, torch_problem.data)
    assert "PyTorch" in get_technique("KD").why_not(model, torch_problem.data)


def test_ca_needs_enough_labelled_data(torch_problem):
    from advisor.techniques.ca import MIN_SAMPLES_PER_CLASS

    few = dataclasses.replace(torch_problem.data, train=torch_problem.data.train.take(slice(0, 12)))
    reason = get_technique("CA").why_not(torch_problem.model, few)
    assert reason and f"{MIN_SAMPLES_PER_CLASS} labelled training samples per class" in reason and "has 12" in reason
    assert get_technique("CA").why_not(torch_problem.model, torch_problem.data) is None


def test_ca_needs_labels(tiny_files, tmp_path):
    from advisor.problem import open_problem
    from tests.conftest import FAST
    from tests.techniques.conftest import FACTORY

    with open_problem(FACTORY, str(tiny_files["unlabelled"]), weights=str(tiny_files["weights"]),
                      settings=FAST, workdir=tmp_path) as p:
        assert "labelled" in get_technique("CA").why_not(p.model, p.data)
        assert get_technique("KD").why_not(p.model, p.data) is None  # the teacher labels


# --- LR ----------------------------------------------------------------------------------

def test_lr_reduces_the_factored_layers(torch_problem):
    result, _ = torch_problem.evaluate("LR", {"rank_ratio": 0.25, "epochs": 1.0})
    n = result.notes
    assert n["LR.factored_layers"] >= 2
    assert n["LR.factored_params_after"] < 0.6 * n["LR.factored_params_before"]
    assert describe(result.model.onnx_path).params < torch_problem.graph.params


@pytest.mark.parametrize("layer", [nn.Linear(96, 64), nn.Conv2d(32, 48, 3, stride=2, padding=1)])
def test_lr_factor_is_exact_on_low_rank_weights(layer):
    torch.manual_seed(0)
    out_dim, in_dim = layer.weight.shape[0], layer.weight[0].numel()
    low = torch.randn(out_dim, 4) @ torch.randn(4, in_dim)
    layer.weight.data.copy_(low.reshape(layer.weight.shape))
    new = factor(layer, 0.25)
    assert sum(p.numel() for p in new.parameters()) < sum(p.numel() for p in layer.parameters())
    x = torch.randn(2, 96) if isinstance(layer, nn.Linear) else torch.randn(2, 32, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(new(x), layer(x), atol=1e-4, rtol=1e-4)


def test_lr_skips_layers_it_cannot_shrink():
    assert factor(nn.Conv2d(64, 64, 3, groups=64), 0.5) is None  # depthwise
    assert factor(nn.Linear(8, 8), 0.5) is None  # too small to be worth it
    assert factor(nn.Linear(128, 128), 0.9) is None  # rank 115 * 256 > 128 * 128


# --- QAT ---------------------------------------------------------------------------------

def test_qat_graph_is_int8(torch_problem):
    result, m = torch_problem.evaluate("QAT", {"epochs": 2.0, "calibration_size": 16})
    ops = {n.op_type for n in onnx.load(str(result.model.onnx_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops or "QLinearConv" in ops
    assert m.size_bytes < 0.4 * torch_problem.baseline.size_bytes
    assert m.quality >= torch_problem.baseline.quality - 0.1


def test_qat_weights_sit_on_the_int8_grid():
    w = torch.randn(8, 4, 3, 3)
    q = _WeightFakeQuant()(w)
    scale = w.abs().flatten(1).amax(1) / 127.5
    steps = q / scale[:, None, None, None]
    torch.testing.assert_close(steps, steps.round(), atol=1e-3, rtol=0)
    assert steps.abs().max() <= 128


# --- chains ------------------------------------------------------------------------------

@pytest.mark.parametrize("chain", ["KD+PRN", "KD+FIQ", "SPR+FIQ", "PRQ", "LR+F16"])
def test_chains_run(chain, torch_problem):
    s = Strategy.parse(chain)
    params = {f"{step}.epochs": 1.0 for step in s.steps
              if any(p["name"] == "epochs" for p in get_technique(step).Config.params())}
    result, m = torch_problem.evaluate(s, params)
    assert m.size_bytes > 0 and result.model.onnx_path.is_file()
    assert np.isfinite(m.quality)


def test_chains_keep_torch_only_where_it_exists():
    with pytest.raises(InputError, match="QAT before it"):
        Strategy.parse("QAT+PRN")
    assert Strategy.parse("KD+QAT").steps == ("KD", "QAT")
