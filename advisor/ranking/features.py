"""Feature vectors for the ranker: what describes a model, a strategy and a device.

Design for devices not at hand: accuracy and size effects belong mostly to model x strategy;
latency belongs to the device. Device features are few and measured (threads, INT8 and FP16
speed-ups, FP32 throughput, per-node overhead), so a record from another device is comparable.
A strategy is described by what its techniques declare (precision, what they change, training,
calibration) and its parameters on their declared ranges, never by technique names, so the
regression transfers to a new technique and to a model family it has not seen.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from advisor.models import GraphInfo
from advisor.profiling import DeviceFacts
from advisor.strategies import Strategy
from advisor.techniques import Technique, get_technique
from advisor.techniques._base import CHANGES, PRECISIONS

__all__ = ["model_features", "strategy_features", "device_features", "feature_names", "step_signature",
           "int8_dot_product", "INT8_DOT_ISA"]


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


def step_signature(t: Technique) -> str:
    """What a step is, by its declared capabilities: ``<precision>/<changes>`` (every static-INT8
    technique, whatever its name, is ``int8/precision``)."""
    return f"{t.precision}/{t.changes}"


def _final_precision(techniques: tuple[Technique, ...]) -> str:
    """What the chain's output computes in: the last step that changes the precision."""
    out = "fp32"
    for t in techniques:
        if t.precision != "fp32":
            out = t.precision
    return out


def _step_values(s: Strategy, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``params`` routed to each step (``STEP.name`` or a name one step owns); unknown ones are
    ignored (a record from another version keeps its other features)."""
    out: dict[str, dict[str, Any]] = {step: {} for step in s.steps}
    for key, value in params.items():
        step, _, name = key.rpartition(".")
        if step:
            if step.upper() in out:
                out[step.upper()][name] = value
            continue
        owners = [st for st in s.steps if any(f.name == key for f in dataclasses.fields(get_technique(st).Config))]
        if len(owners) == 1:
            out[owners[0]][key] = value
    return out


def _normalised(f: dataclasses.Field, v: Any) -> float:
    """A numeric parameter on its technique's declared range: 0 at the low end, 1 at the high end
    (the search range, else the valid range, else the choices)."""
    m = f.metadata
    rng = m.get("search") or m.get("valid")
    if isinstance(rng, tuple) and len(rng) > 2:  # a list of searched values
        rng = (min(rng), max(rng))
    if not rng and m.get("choices"):
        nums = [c for c in m["choices"] if isinstance(c, (int, float)) and not isinstance(c, bool)]
        rng = (min(nums), max(nums)) if nums else None
    v = float(v)
    if not rng or float(rng[1]) <= float(rng[0]):
        return v
    lo, hi = float(rng[0]), float(rng[1])
    if m.get("log") and lo > 0 and v > 0:
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (v - lo) / (hi - lo)


def strategy_features(
    strategy: str, params: dict[str, Any] | None = None, train_scale: float = 1.0
) -> dict[str, float]:
    """What a strategy is, from its steps' declared capabilities -- never their names -- plus its
    parameters on each technique's declared range.

    ``c_*``: the chain's output precision (one-hot over ``PRECISIONS``), what its steps change
    (multi-hot over ``CHANGES``), whether any step trains, needs calibration, labels or the
    PyTorch module, fine-tunes against the original; the number of steps and the training scale.
    ``q_<precision>/<changes>.<parameter>``: each step's parameters, keyed by the step's
    capabilities (so static INT8 techniques share ``q_int8/precision.calibration_size``), numbers
    normalised to their declared range, categories one-hot. A new technique, or one without
    records of its own, is predicted from what it shares with known ones.
    """
    s = Strategy.parse(strategy)
    ts = s.techniques
    final = _final_precision(ts)
    out: dict[str, float] = {f"c_precision={p}": float(final == p) for p in PRECISIONS}
    out.update({f"c_changes={c}": float(any(t.changes == c for t in ts)) for c in CHANGES})
    out.update({
        "c_steps": float(len(ts)),
        "c_trains": float(any(t.trains for t in ts)),
        "c_calibration": float(any(t.needs_calibration for t in ts)),
        "c_labels": float(any(t.needs_labels for t in ts)),
        "c_torch": float(any(t.needs_torch for t in ts)),
        "c_fine_tunes": float(any(t.fine_tunes for t in ts)),
        "c_train_scale": float(train_scale) if s.trains else 0.0,
    })
    values = _step_values(s, params or {})
    for step, t in zip(s.steps, ts, strict=True):
        sig = step_signature(t)
        for f in dataclasses.fields(t.Config):
            v = values[step].get(f.name, f.default)
            key = f"q_{sig}.{f.name}"
            choices = f.metadata.get("choices")
            if isinstance(f.default, str):
                for c in choices or ():
                    out[f"{key}={c}"] = float(v == c)
            elif isinstance(f.default, bool):
                out[key] = float(bool(v) if not isinstance(v, str) else v.lower() == "true")
            elif isinstance(f.default, (int, float)):
                try:
                    out[key] = _normalised(f, v)
                except (TypeError, ValueError):
                    out[key] = _normalised(f, f.default)
    return out


#: ISA features with an INT8 dot product that does not saturate (x86 VNNI / AMX, ARM dot product):
#: without one, x86 multiplies u8 x s8 pairs into 16 bits, which saturates, and static INT8 loses
#: accuracy (measured on an AVX2-only VM: EfficientNet-Lite1 static INT8 at 0.67 top-1 agreement,
#: 0.94 on a VNNI machine with the same data) -- accuracy depends on the device too.
INT8_DOT_ISA = ("avx512_vnni", "avx_vnni", "avx512vnni", "amx_int8", "amx-int8", "asimddp", "dotprod", "i8mm")


def int8_dot_product(isa: set[str] | frozenset[str]) -> float:
    """1.0 when the ISA has a non-saturating INT8 dot product, else 0.0."""
    return float(any(f in isa for f in INT8_DOT_ISA))


def device_features(facts: DeviceFacts | None, threads: int) -> dict[str, float]:
    """Measured device facts -> features; unknown ones take a neutral default."""
    facts = facts or DeviceFacts()

    def num(k: str, default: float = 0.0) -> float:
        v = facts.number(k)
        return default if v is None else v

    isa = {f.lower() for f in (facts.isa or ())}
    return {
        "d_int8_dot": int8_dot_product(isa) if facts.isa is not None else 0.5,
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
