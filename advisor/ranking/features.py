"""Feature vectors for the ranker: what describes a model, a strategy and a device.

Design for devices not at hand: accuracy and size effects belong mostly to model x strategy;
latency belongs to the device. Device features are few and measured (threads, INT8 and FP16
speed-ups, FP32 throughput, per-node overhead), so a record from another device is comparable.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from advisor.models import GraphInfo
from advisor.profiling import DeviceFacts
from advisor.strategies import Strategy
from advisor.techniques import all_techniques, get_technique

__all__ = ["model_features", "strategy_features", "device_features", "feature_names", "STEP_NAMES"]


def STEP_NAMES() -> list[str]:  # noqa: N802 - a function so late-registered techniques count
    return [t.name for t in all_techniques()]


def _log10(x: float) -> float:
    return math.log10(max(1.0, float(x)))


def model_features(graph: GraphInfo, *, train: int, classes: int | None, labelled: bool,
                   samples: int | None = None, trainable: bool = True) -> dict[str, float]:
    """Size, compute and operator mix of the original model, plus the data it comes with.

    Args:
        graph: the original's ONNX summary (parameters, multiply-adds, per-node costs).
        train: samples in the training split (may be 0 when the data policy keeps none).
        classes: output classes (``None`` for embeddings and other non-class outputs).
        labelled: whether the data has labels.
        samples: every sample the data holds, all splits (default: ``train``): what a technique
            that trains could have at most.
        trainable: whether training is possible at all (a PyTorch source is present); without
            one, a distilled student cannot be derived from the model and starts from scratch.
    """
    ops = graph.op_counts
    n = max(1, graph.nodes)
    conv_macs = sum(c.macs for c in graph.node_costs if c.op_type == "Conv")
    dw_macs = sum(c.macs for c in graph.node_costs if c.depthwise)
    mm_macs = sum(c.macs for c in graph.node_costs if c.op_type in ("MatMul", "Gemm"))
    # MatMuls without weights multiply two activations: attention scores and their weighted sum.
    attn_macs = sum(c.macs for c in graph.node_costs if c.op_type == "MatMul" and c.weight_bytes == 0)
    total = max(1, graph.macs)
    return {
        "m_log_params": _log10(graph.params),
        "m_log_macs": _log10(graph.macs),
        "m_macs_per_param": graph.macs / max(1, graph.params),
        "m_nodes": float(graph.nodes),
        "m_depth": float(graph.depth),
        "m_frac_conv_nodes": ops.get("Conv", 0) / n,
        "m_n_conv": float(ops.get("Conv", 0)),
        "m_frac_conv_macs": conv_macs / total,
        "m_frac_dw_macs": dw_macs / total,
        "m_frac_matmul_macs": mm_macs / total,
        "m_frac_attention_macs": attn_macs / total,
        "m_has_attention": float(ops.get("Softmax", 0) > 0),
        "m_log_input": _log10(graph.input_elements),
        "m_classes": float(classes or 0),
        "m_log_train": _log10(train),
        "m_labelled": float(labelled),
        "m_log_samples": _log10(samples if samples is not None else train),
        "m_trainable": float(trainable),
    }


def _step_params(step: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(get_technique(step).Config) if type(f.default) in (int, float, bool)]


def strategy_features(
    strategy: str, params: dict[str, Any] | None = None, train_scale: float = 1.0
) -> dict[str, float]:
    """Multi-hot steps plus every numeric parameter of every technique (defaults where unused)."""
    s = Strategy.parse(strategy)
    params = params or {}
    out: dict[str, float] = {f"s_{name}": float(name in s.steps) for name in STEP_NAMES()}
    out["s_steps"] = float(len(s.steps))
    out["s_train_scale"] = float(train_scale) if s.trains else 0.0
    for name in STEP_NAMES():
        for f in _step_params(name):
            key = f"{name}.{f.name}"
            v = params.get(key, f.default) if name in s.steps else f.default
            out[f"p_{key}"] = float(v) if not isinstance(v, str) else 0.0
    for name in STEP_NAMES():  # categorical parameters become one-hot on their choices
        for f in dataclasses.fields(get_technique(name).Config):
            if isinstance(f.default, str) and f.metadata.get("choices"):
                v = params.get(f"{name}.{f.name}", f.default) if name in s.steps else None
                for c in f.metadata["choices"]:
                    out[f"p_{name}.{f.name}={c}"] = float(v == c)
    return out


def device_features(facts: DeviceFacts | None, threads: int) -> dict[str, float]:
    """Measured device facts -> features; unknown ones take a neutral default."""
    facts = facts or DeviceFacts()

    def num(k: str, default: float = 0.0) -> float:
        v = facts.number(k)
        return default if v is None else v

    return {
        "d_threads": float(threads),
        "d_int8_speedup": num("int8_speedup", 1.0),
        "d_int8_dynamic_speedup": num("int8_dynamic_speedup", 1.0),
        "d_fp16_speedup": num("fp16_speedup", 1.0),
        "d_log_conv_gflops": _log10(num("conv_fp32_gflops", 1.0)),
        "d_log_bandwidth": _log10(num("bandwidth_gbs", 1.0)),
        "d_cores": num("cores_logical", 1.0),
    }


def feature_names(rows: list[dict[str, float]]) -> list[str]:
    names: set[str] = set()
    for r in rows:
        names.update(r)
    return sorted(names)
