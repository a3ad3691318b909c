"""Tiny real ONNX models built in the test process: dense heads of every kind, several outputs,
and a streaming model with a fixed batch of 1 and a state input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(nodes, inputs, outputs, inits, path: Path) -> Path:
    g = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _w(name: str, shape: tuple[int, ...], seed: int, noise: float = 0.0) -> onnx.TensorProto:
    w = np.random.default_rng(seed).standard_normal(shape) / np.sqrt(shape[0])
    if noise:
        w = w + noise * np.random.default_rng(seed + 100).standard_normal(shape)
    return numpy_helper.from_array(w.astype(np.float32), name)


def dense_onnx(path: Path, out: str, width: int, *, head: str | None = None, noise: float = 0.0,
               in_width: int = 8) -> Path:
    """x [N, in_width] -> MatMul -> optional head (``l2`` normalise, ``sigmoid``, ``softmax``) -> ``out``."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm" if head else out])]
    if head == "l2":
        nodes.append(helper.make_node("LpNormalization", ["mm"], [out], axis=1, p=2))
    elif head == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["mm"], [out]))
    elif head == "softmax":
        nodes.append(helper.make_node("Softmax", ["mm"], [out], axis=1))
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_width])],
                 [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", width])],
                 [_w("w", (in_width, width), 0, noise)], path)


def two_output_onnx(path: Path, *, state_noise: float = 0.0) -> Path:
    """x [N, 8] -> 'logits' [N, 5] and 'state' [N, 16] (tanh); ``state_noise`` perturbs only the
    state's weights."""
    nodes = [helper.make_node("MatMul", ["x", "wl"], ["logits"]),
             helper.make_node("MatMul", ["x", "ws"], ["pre"]),
             helper.make_node("Tanh", ["pre"], ["state"])]
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5]),
                  helper.make_tensor_value_info("state", TensorProto.FLOAT, ["N", 16])],
                 [_w("wl", (8, 5), 1), _w("ws", (8, 16), 2, state_noise)], path)


def streaming_onnx(path: Path) -> Path:
    """Fixed batch 1: 'x' [1, 576] and state 'h' [1, 1, 128] -> 'prob' [1, 1] and 'h_next' [1, 1, 128]."""
    shape2 = numpy_helper.from_array(np.array([1, 128], dtype=np.int64), "shape2")
    shape3 = numpy_helper.from_array(np.array([1, 1, 128], dtype=np.int64), "shape3")
    nodes = [helper.make_node("MatMul", ["x", "wx"], ["xw"]),
             helper.make_node("Reshape", ["h", "shape2"], ["h2"]),
             helper.make_node("Add", ["xw", "h2"], ["pre"]),
             helper.make_node("Tanh", ["pre"], ["act"]),
             helper.make_node("Reshape", ["act", "shape3"], ["h_next"]),
             helper.make_node("MatMul", ["act", "wp"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["prob"])]
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 576]),
                         helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, 128])],
                 [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1]),
                  helper.make_tensor_value_info("h_next", TensorProto.FLOAT, [1, 1, 128])],
                 [_w("wx", (576, 128), 3), _w("wp", (128, 1), 4), shape2, shape3], path)


def matmul_chain_onnx(path: Path, layers: int, width: int = 384, batch: int = 8) -> Path:
    """x [batch, width] through ``layers`` MatMul+Relu pairs: timing work that scales with ``layers``."""
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Relu", [f"m{i}"], [f"y{i}" if i < layers - 1 else "y"])]
        inits.append(_w(f"w{i}", (width, width), 10 + i))
        prev = f"y{i}"
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, width])], inits, path)
