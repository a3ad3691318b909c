"""BLQ: baseline (weight) INT8 quantization: no calibration, weights stored INT8.

Source: Lee et al. 2022 (BLQ, "weights INT8, de-quantized at run time"); onnxruntime dynamic
quantization. ``mode=dynamic`` is onnxruntime's dynamic INT8 (activations quantized on the fly:
MatMulInteger/ConvInteger); ``mode=weight_only`` stores INT8 weights with a DequantizeLinear in
front of each float operator, exactly the paper's BLQ. ``ops=matmul`` quantizes MatMul/Gemm only:
the fast choice for transformers (dynamic INT8 on convolutions is the slow ConvInteger path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._onnxq import preprocess, quiet
from advisor.techniques._registry import register

_WEIGHT_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}


@dataclass(frozen=True)
class BLQConfig(TechniqueConfig):
    mode: str = param("dynamic", choices=("dynamic", "weight_only"),
                      help="dynamic: onnxruntime dynamic INT8; weight_only: INT8 storage, FP32 compute")
    per_channel: bool = param(True, choices=(True, False),
                              help="one weight scale per output channel")
    ops: str = param("all", choices=("all", "matmul"),
                     help="op types to quantize: all (Conv, MatMul, Gemm...) or MatMul/Gemm only")


def quantize_weights_only(src, dst, per_channel: bool, ops: str = "all") -> int:
    """Replace float weights of Conv/Gemm/MatMul (``ops="matmul"``: Gemm/MatMul) by symmetric
    INT8 + DequantizeLinear. Returns how many weights were replaced."""
    kinds = {k: v for k, v in _WEIGHT_OPS.items() if ops == "all" or k != "Conv"}
    model = onnx.load(str(src))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    users: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    new_nodes, done = [], 0
    for n in g.node:
        idx = kinds.get(n.op_type)
        if idx is not None and len(n.input) > idx and n.input[idx] in inits and users.get(n.input[idx]) == 1:
            t = inits[n.input[idx]]
            w = numpy_helper.to_array(t)
            if w.dtype == np.float32 and w.ndim >= 2 and w.size >= 16:
                trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
                # Output channels: axis 0 of Conv and Gemm(transB=1) weights, last axis of MatMul/Gemm(transB=0).
                axis = 0 if (n.op_type == "Conv" or (n.op_type == "Gemm" and trans_b)) else w.ndim - 1
                red = tuple(a for a in range(w.ndim) if a != axis) if per_channel else None
                amax = np.max(np.abs(w), axis=red, keepdims=False) if per_channel else np.max(np.abs(w))
                scale = np.maximum(np.asarray(amax, dtype=np.float32) / 127.0, 1e-12).astype(np.float32)
                shape = [1] * w.ndim
                if per_channel:
                    shape[axis] = -1
                q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
                base = n.input[idx]
                g.initializer.remove(t)
                g.initializer.extend([
                    numpy_helper.from_array(q, base + "_q"),
                    numpy_helper.from_array(scale, base + "_scale"),
                    numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), base + "_zp"),
                ])
                dq_attrs = {"axis": axis} if per_channel else {}
                new_nodes.append(helper.make_node("DequantizeLinear", [base + "_q", base + "_scale", base + "_zp"],
                                                  [base], name=base + "_dq", **dq_attrs))
                done += 1
        new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    onnx.save(model, str(dst))
    return done


@register
class BLQ(Technique):
    name = "BLQ"
    title = "weight INT8 (dynamic / weight-only)"
    source = "Lee et al. 2022 (BLQ); onnxruntime dynamic quantization"
    Config = BLQConfig
    precision = "int8-dynamic"

    def apply(self, model, data, config, ctx: ApplyContext):
        out = ctx.workdir / "blq.onnx"
        try:
            if config.mode == "weight_only":
                n = quantize_weights_only(model.onnx_path, out, config.per_channel, config.ops)
                if n == 0:
                    raise TechniqueError("BLQ weight_only: the model has no float Conv/Gemm/MatMul weights")
                ctx.notes["quantized_weights"] = n
            else:
                pre = preprocess(model.onnx_path, ctx.workdir / "blq.pre.onnx")
                with quiet():
                    quantize_dynamic(str(pre), str(out), per_channel=config.per_channel, weight_type=QuantType.QInt8,
                                     op_types_to_quantize=["MatMul", "Gemm"] if config.ops == "matmul" else None)
                pre.unlink(missing_ok=True)
        except TechniqueError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime raises many types; the trial records it
            raise TechniqueError(f"BLQ: quantization failed: {str(e).splitlines()[0][:240]}") from None
        return model.derive(out, None)
