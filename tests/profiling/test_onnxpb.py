"""The benchmark graphs' protobuf writer against ``onnx`` itself: every message it writes parses to
what ``onnx.helper`` / ``numpy_helper`` build, and every benchmark graph passes the full checker."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from advisor.profiling import BENCHMARKS
from advisor.profiling import _onnxpb as pb


@pytest.mark.parametrize("attrs", [{}, {"axis": -1}, {"pads": [1, 1, 1, 1], "group": 32}, {"to": 1},
                                   {"alpha": 0.25}, {"scales": [0.5, 2.0]}, {"axes": [-1, 0, 300]}])
def test_node_is_what_onnx_helper_builds(attrs):
    want = helper.make_node("Conv", ["x", "w", ""], ["y"], **attrs)
    assert onnx.NodeProto.FromString(pb.node("Conv", ["x", "w", ""], ["y"], **attrs)) == want
    named = helper.make_node("Relu", ["a"], ["b"], name="n1")
    assert onnx.NodeProto.FromString(pb.node("Relu", ["a"], ["b"], name="n1")) == named


@pytest.mark.parametrize("array", [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(0.5, np.float32),
                                   np.arange(-3, 3, dtype=np.int8), np.array([7, 200], np.uint8),
                                   np.array([-1, 2**31 - 1], np.int32), np.array([-(2**40)], np.int64),
                                   np.ones((2, 2), np.float16), np.zeros((0, 3), np.float32)])
def test_tensor_is_what_numpy_helper_builds(array):
    got = onnx.TensorProto.FromString(pb.tensor(array, "t"))
    assert got == numpy_helper.from_array(array, "t")
    assert np.array_equal(numpy_helper.to_array(got), array)


def test_value_info_and_model_are_what_onnx_helper_builds():
    for shape in ([16], ["n", 64, 64], []):
        want = helper.make_tensor_value_info("x", TensorProto.FLOAT16, shape)
        assert onnx.ValueInfoProto.FromString(pb.value_info("x", pb.FLOAT16, shape)) == want
    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in "xy")
    c = np.full(4, 0.5, np.float32)
    want = helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "bench", [x], [y],
                                              [numpy_helper.from_array(c, "c")]),
                             opset_imports=[helper.make_opsetid("", 17)], producer_name="advisor-profile")
    want.ir_version = 8
    got = pb.model([pb.node("Add", ["x", "c"], ["y"])], [pb.value_info("x", pb.FLOAT, [4])],
                   [pb.value_info("y", pb.FLOAT, [4])], [pb.tensor(c, "c")], opset=17)
    assert onnx.ModelProto.FromString(got) == want


def test_unsupported_values_are_refused():
    with pytest.raises(TypeError, match="attribute 'mode'"):
        pb.node("Pad", ["x"], ["y"], mode="constant")
    with pytest.raises(TypeError, match="tensor 'b'"):
        pb.tensor(np.array([True]), "b")


@pytest.mark.parametrize("spec", BENCHMARKS, ids=[b.id for b in BENCHMARKS])
def test_every_benchmark_graph_passes_the_full_checker(spec):
    onnx.checker.check_model(onnx.load_from_string(spec.build().serialized()), full_check=True)
