"""The kernel list the predictor costs: onnxruntime's own fusions, precisions and work."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from advisor.models import describe
from advisor.models._cost import symbolic_inference
from advisor.profiling._graphs import conv_chain, matmul_chain
from advisor.profiling._kernels import model_kernels


def _save(model: onnx.ModelProto, path):
    onnx.save(model, str(path))
    return path


def test_float_conv_chain(tmp_path):
    p = _save(conv_chain(16, 8, 3).model, tmp_path / "c.onnx")
    ks = [k for k in model_kernels(p) if not k.fused]
    convs = [k for k in ks if k.kind == "conv"]
    assert len(convs) == 3
    assert all(k.precision == "fp32" and k.macs == 16 * 8 * 8 * 16 * 9 for k in convs)
    assert all((k.in_channels, k.out_channels, k.out_elements) == (16, 16, 1024) for k in convs)
    assert not [k for k in ks if k.op_type == "Relu"], "ReLU after a conv is fused by onnxruntime"
    assert sum(k.macs for k in ks) == describe(p).macs


def test_residual_add_and_relu_after_a_conv_are_folded(tmp_path):
    w = numpy_helper.from_array(np.ones((8, 8, 3, 3), np.float32) * 0.01, "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    g = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    ks = model_kernels(_save(m, tmp_path / "r.onnx"))
    computed = [k.op_type for k in ks if not k.fused and not k.op_type.startswith("Reorder")]
    assert computed in (["Conv"], ["FusedConv"])


def test_static_int8_becomes_an_int8_kernel(tmp_path):
    ks = model_kernels(_save(conv_chain(16, 8, 2, precision="int8").model, tmp_path / "q.onnx"))
    convs = [k for k in ks if k.kind == "conv"]
    assert [k.op_type for k in convs] == ["QLinearConv", "QLinearConv"]
    assert {k.precision for k in convs} == {"int8"}


def test_dynamic_int8_and_runtime_weights(tmp_path):
    ks = model_kernels(_save(conv_chain(16, 8, 2, precision="int8dyn").model, tmp_path / "d.onnx"))
    assert {k.precision for k in ks if k.kind == "conv"} == {"int8dyn"}
    ks = model_kernels(_save(conv_chain(16, 8, 2, precision="fp32rt").model, tmp_path / "w.onnx"))
    assert {k.precision for k in ks if k.kind == "conv"} == {"fp32rt"}


def test_matmul_rows_decide_gemm_or_gemv(tmp_path):
    ks = model_kernels(_save(matmul_chain(1, 64, 2).model, tmp_path / "v.onnx"))
    assert [k.kind for k in ks] == ["gemv", "gemv"] and ks[0].macs == 64 * 64
    ks = model_kernels(_save(matmul_chain(32, 64, 2).model, tmp_path / "m.onnx"))
    assert [k.kind for k in ks] == ["gemm", "gemm"] and ks[0].macs == 32 * 64 * 64


def test_free_batch_dimension_counts_at_batch_1(tiny_onnx):
    ks = model_kernels(tiny_onnx)
    assert sum(k.macs for k in ks) == describe(tiny_onnx).macs > 0


def test_incomplete_shape_inference_writes_nothing(tmp_path, monkeypatch):
    """onnxruntime's public symbolic inference dumps files into the working folder when it
    cannot finish; ours must not."""
    nodes = [helper.make_node("Mystery", ["x"], ["t"], domain="example.custom"),
             helper.make_node("Relu", ["t"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)])
    monkeypatch.chdir(tmp_path)
    symbolic_inference(m)
    assert list(tmp_path.iterdir()) == []


def test_graph_and_kernels_count_with_one_rule(tmp_path):
    """describe() (the saved graph) and model_kernels() (onnxruntime's graph) share one counting
    of multiply-adds (advisor.models._cost): depthwise conv, Gemm with transB, a batched MatMul."""
    dw = numpy_helper.from_array(np.ones((8, 1, 3, 3), np.float32), "dw")
    wg = numpy_helper.from_array(np.ones((10, 512), np.float32), "wg")
    wm = numpy_helper.from_array(np.ones((8, 4), np.float32), "wm")
    shape = numpy_helper.from_array(np.array([1, 512], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "dw"], ["c"], group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "wg"], ["y"], transB=1),
             helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("MatMul", ["t", "wm"], ["z"])]
    g = helper.make_graph(nodes, "mix", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [dw, wg, wm, shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = _save(m, tmp_path / "mix.onnx")
    expected = {"Conv": 8 * 8 * 8 * 9, "Gemm": 10 * 512, "MatMul": 8 * 8 * 4 * 8}
    info = describe(p)
    assert {c.op_type: c.macs for c in info.node_costs if c.macs} == expected
    assert [c.depthwise for c in info.node_costs if c.op_type == "Conv"] == [True]
    ks = [k for k in model_kernels(p) if k.macs]
    assert sorted(k.macs for k in ks) == sorted(expected.values())
    assert {k.kind for k in ks} == {"dwconv", "gemv", "gemm"}
