"""What an ONNX graph holds: parameters, multiply-adds per node, operator mix, depth.

Counted from the graph itself (after shape inference at batch 1), so it works for any model the
user brings and for every compressed variant (quantized operators included).
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from advisor.models._cost import (
    CONV_OPS,
    MATMUL_OPS,
    conv_macs,
    fix_batch,
    itemsize,
    matmul_macs,
    numel,
    static_dims,
    symbolic_inference,
    tensor_shapes,
)

__all__ = ["GraphInfo", "NodeCost", "describe"]


@dataclass(frozen=True)
class NodeCost:
    """One compute node: operator, multiply-adds, bytes of weights it reads, output elements."""

    name: str
    op_type: str
    macs: int
    weight_bytes: int
    out_elements: int
    depthwise: bool = False
    precision: str = "fp32"  # fp32, int8 or fp16 (from the weight element type)


@dataclass(frozen=True)
class GraphInfo:
    """Summary of an ONNX graph at batch 1."""

    params: int
    weight_bytes: int
    macs: int
    nodes: int
    op_counts: dict[str, int]
    depth: int
    input_elements: int
    output_elements: int
    node_costs: tuple[NodeCost, ...] = field(default_factory=tuple, repr=False)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict:
        return {
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "macs": self.macs,
            "flops": self.flops,
            "nodes": self.nodes,
            "op_counts": dict(self.op_counts),
            "depth": self.depth,
            "input_elements": self.input_elements,
            "output_elements": self.output_elements,
        }


_PRECISION = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "int8", onnx.TensorProto.FLOAT16: "fp16"}


def describe(path: Path | str) -> GraphInfo:
    """Count parameters and multiply-adds of the ONNX model at ``path`` (batch 1)."""
    model = onnx.load(str(path))
    fix_batch(model)
    with contextlib.suppress(Exception):  # without shapes, counts degrade to what is known
        model = shape_inference.infer_shapes(model, data_prop=True)
    if any(static_dims(vi) is None for vi in model.graph.value_info):
        # shape arithmetic ("same" padding, attention masks) that onnx's inference leaves open
        model = symbolic_inference(model) or model
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    # Constant nodes carry weights too in some exporters.
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.t is not None:
                    inits[n.output[0]] = a.t
    shapes, _ = tensor_shapes(model)
    for name, t in inits.items():
        shapes[name] = tuple(t.dims)

    # Dequantized weights: DequantizeLinear(int8 initializer) feeds Conv/MatMul as a float tensor.
    weight_of: dict[str, onnx.TensorProto] = dict(inits)
    for n in g.node:
        if n.op_type in ("DequantizeLinear", "Cast") and n.input and n.input[0] in inits:
            weight_of[n.output[0]] = inits[n.input[0]]
            shapes.setdefault(n.output[0], tuple(inits[n.input[0]].dims))

    def count(t: onnx.TensorProto) -> int:
        return numel(tuple(t.dims))

    params = sum(count(t) for t in inits.values() if len(t.dims) >= 1 and count(t) > 1)
    weight_bytes = sum(len(numpy_helper.to_array(t).tobytes()) for t in inits.values())

    costs: list[NodeCost] = []
    for n in g.node:
        out = shapes.get(n.output[0]) if n.output else None
        out_el = numel(out) if out else 0
        macs, wbytes, dw, prec = 0, 0, False, "fp32"
        if n.op_type in CONV_OPS:
            w_name = n.input[3] if n.op_type == "QLinearConv" else n.input[1]
            macs, dw = conv_macs(n, shapes.get(w_name), out)
            if w_name in weight_of:
                wt = weight_of[w_name]
                wbytes = count(wt) * itemsize(wt.data_type)
                prec = _PRECISION.get(wt.data_type, "fp32")
        elif n.op_type in MATMUL_OPS:
            b_name = n.input[3] if n.op_type == "QLinearMatMul" else n.input[1]
            macs, _ = matmul_macs(n, shapes, out)
            if b_name in weight_of:
                wt = weight_of[b_name]
                wbytes = count(wt) * itemsize(wt.data_type)
                prec = _PRECISION.get(wt.data_type, "fp32")
            elif n.op_type in ("MatMulInteger", "QLinearMatMul"):
                prec = "int8"
        if n.op_type in ("ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul"):
            prec = "int8"
        if n.op_type == "Constant":
            continue
        costs.append(NodeCost(n.name or n.op_type, n.op_type, int(macs), int(wbytes), out_el, dw, prec))

    return GraphInfo(
        params=params,
        weight_bytes=weight_bytes,
        macs=sum(c.macs for c in costs),
        nodes=len(costs),
        op_counts=dict(Counter(c.op_type for c in costs)),
        depth=_depth(g),
        input_elements=sum(int(np.prod(shapes.get(i.name, (0,)))) for i in g.input if i.name not in inits),
        output_elements=sum(int(np.prod(shapes.get(o.name, (0,)))) for o in g.output),
        node_costs=tuple(costs),
    )


def _depth(g: onnx.GraphProto) -> int:
    """Longest chain of compute nodes (Conv/MatMul/Gemm family) from an input to an output."""
    producer = {o: n for n in g.node for o in n.output}
    memo: dict[str, int] = {}

    def depth_of(tensor: str, guard: int = 0) -> int:
        if tensor in memo:
            return memo[tensor]
        n = producer.get(tensor)
        if n is None or guard > 10000:
            return 0
        d = max((depth_of(i, guard + 1) for i in n.input if i), default=0)
        d += 1 if (n.op_type in CONV_OPS or n.op_type in MATMUL_OPS) else 0
        memo[tensor] = d
        return d

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        return max((depth_of(o.name) for o in g.output), default=0)
    finally:
        sys.setrecursionlimit(old)
