"""Contract of every micro-benchmark: a valid ONNX graph that onnxruntime loads and runs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from advisor.profiling import BENCH_IDS, BENCHMARKS
from advisor.runtime import make_session


def test_ids_are_unique_and_safe():
    assert len(set(BENCH_IDS)) == len(BENCH_IDS)
    for bid in BENCH_IDS:
        assert bid.replace("_", "").isalnum()


@pytest.mark.parametrize("spec", BENCHMARKS, ids=[b.id for b in BENCHMARKS])
def test_benchmark_graph_runs(spec, tmp_path):
    bg = spec.build()
    onnx.checker.check_model(bg.model)
    path = tmp_path / f"{spec.id}.onnx"
    onnx.save(bg.model, str(path))
    s = make_session(path, 1)
    (out,) = s.run(None, bg.feed)
    assert np.isfinite(out.astype(np.float32)).all()
    assert spec.layers >= 1
    if spec.id.startswith(("conv", "dw", "gemm", "gemv")):
        assert spec.macs > 0 and bg.work == spec.macs * spec.layers


def test_int8_chains_become_integer_kernels(tmp_path):
    """The QDQ chain must reach onnxruntime's fused INT8 kernels, or it measures the wrong thing."""
    import onnxruntime as ort

    spec = next(b for b in BENCHMARKS if b.id == "conv_int8_c32s32")
    path = tmp_path / "q.onnx"
    onnx.save(spec.build().model, str(path))
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops
