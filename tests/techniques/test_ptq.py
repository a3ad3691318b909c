"""Post-training quantization on the shapes of real models: a transformer attention block whose
mask puts -inf (or the dtype minimum) into the graph, every FIQ/BLQ parameter, and mixed
precision keeping exactly one deliberately fragile layer in float."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from advisor.data import Dataset, DataSplits
from advisor.models import load_model as _load
from advisor.progress import RunContext
from advisor.runtime import make_session
from advisor.techniques import ApplyContext, get_technique
from tests.techniques import nets

warnings.filterwarnings("ignore", category=UserWarning)


def load_model(path: str):
    return _load(path, workdir=Path(path).parent)


def _splits(arrays: dict[str, np.ndarray]) -> DataSplits:
    """Every split the same samples (these tests look at one technique, not at selection)."""
    ds = Dataset(arrays)
    required = [f.name for f in dataclasses.fields(DataSplits)
                if f.default is dataclasses.MISSING and f.name != "source"]
    return DataSplits("test", **dict.fromkeys(required, ds))


def _apply(name: str, model, data, params: dict, tmp_path, tag: str = ""):
    tech = get_technique(name)
    work = tmp_path / f"{name}{tag}"
    work.mkdir()
    ctx = ApplyContext(RunContext(), work, model)
    out = tech.run(model, data, tech.config(params), ctx)
    return out, ctx.notes


def _run(path, feed: dict[str, np.ndarray]) -> np.ndarray:
    return make_session(path).run(None, feed)[0]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


@pytest.fixture(scope="module")
def attention(tmp_path_factory):
    """The masked attention block exported twice (-inf fill, dtype-minimum fill), with data."""
    d = tmp_path_factory.mktemp("attn")
    x = torch.randn(2, 8, 16)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    paths = {fill: nets.export(nets.MaskedAttention(fill), (x, mask), ["x", "attention_mask"], d / f"{fill}.onnx")
             for fill in ("inf", "min")}
    rng = np.random.default_rng(0)
    feed = {"x": rng.standard_normal((24, 8, 16)).astype(np.float32), "attention_mask": np.ones((24, 8), np.int64)}
    feed["attention_mask"][::2, 5:] = 0
    return paths, feed


@pytest.mark.parametrize("fill", ["inf", "min"])
@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_fiq_leaves_masked_nodes_in_float(attention, fill, method, tmp_path):
    paths, feed = attention
    model = load_model(str(paths[fill]))
    out, notes = _apply("FIQ", model, _splits(feed), {"method": method, "calibration_size": 24}, tmp_path)
    y, ref = _run(out.onnx_path, feed), _run(paths[fill], feed)
    assert np.all(np.isfinite(y))
    assert _cosine(y, ref) > 0.99  # a quantized mask would wreck the masked rows
    assert notes["left_in_float"] >= 2 and "Softmax" in notes["left_in_float_why"]
    ops = {n.op_type for n in onnx.load(str(out.onnx_path)).graph.node}
    assert "QuantizeLinear" in ops  # the projections are INT8


def _variants(name: str) -> list[tuple[str, object]]:
    out = []
    for p in get_technique(name).Config.params():
        for v in p["choices"] or ():
            if v != p["default"]:
                out.append((p["name"], v))
    return out


@pytest.mark.parametrize(("param", "value"), _variants("FIQ"))
def test_each_fiq_parameter_gives_a_valid_model(attention, param, value, tmp_path):
    paths, feed = attention
    model = load_model(str(paths["min"]))
    out, _ = _apply("FIQ", model, _splits(feed), {param: value, "calibration_size": 24}, tmp_path)
    y = _run(out.onnx_path, feed)
    assert y.shape == (24, 16) and np.all(np.isfinite(y))
    assert _cosine(y, _run(paths["min"], feed)) > 0.9


@pytest.mark.parametrize(("param", "value"), _variants("BLQ"))
def test_each_blq_parameter_gives_a_valid_model(attention, param, value, tmp_path):
    paths, feed = attention
    model = load_model(str(paths["min"]))
    out, _ = _apply("BLQ", model, _splits(feed), {param: value}, tmp_path)
    y = _run(out.onnx_path, feed)
    assert np.all(np.isfinite(y)) and _cosine(y, _run(paths["min"], feed)) > 0.9


def test_blq_matmul_only_leaves_convolutions_alone(tmp_path):
    model_path = nets.export(nets.TinyResCNN(), (torch.rand(2, *nets.SHAPE),), ["input"], tmp_path / "cnn.onnx")
    feed = {"input": np.random.default_rng(0).random((8, *nets.SHAPE), dtype=np.float32)}
    out, _ = _apply("BLQ", load_model(str(model_path)), _splits(feed), {"ops": "matmul"}, tmp_path)
    ops = [n.op_type for n in onnx.load(str(out.onnx_path)).graph.node]
    assert "ConvInteger" not in ops and "Conv" in ops and "MatMulInteger" in ops


@pytest.mark.parametrize("rank_by", ["loss", "sqnr"])
def test_mpq_keeps_exactly_the_fragile_layer_in_float(rank_by, tmp_path):
    path = nets.export(nets.FragileMLP(), (torch.rand(2, 16),), ["input"], tmp_path / "fragile.onnx")
    feed = {"input": np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)}
    model, data = load_model(str(path)), _splits(feed)
    ref = _run(path, feed).argmax(1)
    fiq, _ = _apply("FIQ", model, data, {"calibration_size": 64}, tmp_path)
    assert np.mean(_run(fiq.onnx_path, feed).argmax(1) == ref) < 0.9  # INT8 wrecks it

    out, notes = _apply("MPQ", model, data, {"calibration_size": 64, "min_fidelity": 0.99, "min_speedup": 0.0,
                                            "rank_by": rank_by}, tmp_path)
    assert notes["kept_in_float"] == 1
    assert notes["kept_in_float_steps"].startswith("/fc2/Gemm ")
    assert notes["fidelity_mixed_calibration"] >= 0.99 > notes["fidelity_int8_calibration"]
    assert "ms" in notes["kept_in_float_steps"]  # the latency each kept layer costs
    assert "mixed" in notes["speedup_calibration_timing"]
    assert np.mean(_run(out.onnx_path, feed).argmax(1) == ref) >= 0.99
    g = onnx.load(str(out.onnx_path)).graph
    assert {n.name for n in g.node if n.op_type == "Gemm" and any(i.endswith("DequantizeLinear_Output")
                                                                   for i in n.input)} == {"/fc1/Gemm", "/fc3/Gemm"}


def test_mpq_keeps_no_float_layer_that_costs_the_speedup(tmp_path):
    path = nets.export(nets.FragileMLP(), (torch.rand(2, 16),), ["input"], tmp_path / "fragile.onnx")
    feed = {"input": np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)}
    _, notes = _apply("MPQ", load_model(str(path)), _splits(feed), {"calibration_size": 64, "min_speedup": 100.0},
                      tmp_path)
    assert notes["kept_in_float"] == 0 and "under 100x" in notes["rejected_too_slow"]


def _depthwise_net(path: Path) -> None:
    """A depthwise 3x3 conv (one large weight per channel, so the small ones round coarsely and
    their rounding does not average out) on a positive input, then a 1x1 conv: the weight
    rounding shifts each channel's mean output, which bias correction removes."""
    rng = np.random.default_rng(0)
    c = 8
    dw = rng.uniform(0.0, 0.05, (c, 1, 3, 3)).astype(np.float32)
    dw[:, 0, 0, 0] = 1.0
    pw = rng.normal(0, 1, (4, c, 1, 1)).astype(np.float32)
    inits = [onnx.numpy_helper.from_array(a, n) for a, n in
             ((dw, "dw"), (np.zeros(c, np.float32), "dwb"), (pw, "pw"), (np.zeros(4, np.float32), "pwb"))]
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "dw", "dwb"], ["h"], group=c, pads=[1, 1, 1, 1]),
         onnx.helper.make_node("Conv", ["h", "pw", "pwb"], ["y"])],
        "dw", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, c, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 4, 8, 8])], inits)
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(m, str(path))


def test_bias_correction_reduces_the_quantized_output_error(tmp_path):
    path = tmp_path / "dw.onnx"
    _depthwise_net(path)
    x = np.random.default_rng(1).uniform(0.5, 1.5, (64, 8, 8, 8)).astype(np.float32)
    model, data = load_model(str(path)), _splits({"x": x})
    ref = _run(path, {"x": x})
    err = {}
    for mode in ("off", "local", "sequential"):
        out, notes = _apply("FIQ", model, data, {"bias_correction": mode, "calibration_size": 64},
                            tmp_path, tag=mode)
        err[mode] = float(np.mean(np.abs(_run(out.onnx_path, {"x": x}) - ref)))
        assert notes.get("bias_corrected_layers", 0) == (0 if mode == "off" else 2)
    assert err["local"] < 0.7 * err["off"], err
    assert err["sequential"] < 0.7 * err["off"], err
