"""Latency of an ONNX model on a profiled device, predicted without running the model.

How (see docs/profiles.md):

1. :func:`~advisor.profiling._kernels.model_kernels` lists the kernels onnxruntime will run
   (its optimised graph, built but never run), each with multiply-adds, output elements, bytes,
   class (conv, depthwise, GEMM, GEMV, normalisation, element-wise, shape) and precision.
2. The profile's micro-benchmarks give, per class and precision, a per-kernel cost model fitted
   from chains of layers of a few shapes: ``t = a + b * outputs + c * MACs`` for convolutions
   (three shapes per precision separate per-call, per-output and per-MAC cost), ``a + c * MACs``
   for matrix products, ``node + bytes / bandwidth(bytes)`` for element-wise work (bandwidth
   interpolated between the cache-resident and the main-memory figure), ``node + elements * n``
   for normalisations, and the measured per-node and per-call overheads.
3. The prediction is the sum over kernels plus the per-inference call overhead; at a thread
   count between 1 and all cores it is interpolated between the two measured settings.

The **roofline floor** is the model's FLOPs over the device's best measured throughput for each
kernel's precision: no kernel can beat it, so ``measured / floor`` says how far from the device's
peak the model runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.optimize import nnls

from advisor.profiling._bench import BENCHMARKS, REAL_IDS, TRANSFORMER_IDS, bench_ids
from advisor.profiling._kernels import Kernel, model_kernels

__all__ = ["Prediction", "predict_latency", "predict_kernels", "kernel_costs", "roofline_floor_ms", "CostModel",
           "kernels_of"]

_SPEC = {b.id: b for b in BENCHMARKS}
_PRECISIONS = ("fp32", "int8", "fp16", "fp32rt", "int8dyn")
# Classes whose kernels work on channel blocks (onnxruntime's NCHWc layout for float convolutions
# with constant weights, on x86 CPUs with AVX2 or AVX-512): their cost follows padded channels.
_BLOCKED = {"fp32", "fp16"}
_MM_PREC = {"fp32": "fp32", "int8": "int8", "int8dyn": "int8dyn", "fp16": "fp16", "int8w": "fp32", "fp32rt": "fp32"}


def conv_features(prec: str, elements: float, macs: float, cin: int, cout: int, block: int = 1) -> list[float]:
    """The cost terms of one convolution for its kernel class (a linear model in these):

    * blocked float (``fp32``, ``fp16``): call, outputs, MACs -- channels padded to the block;
    * static INT8 (``QLinearConv``, NHWC with an indirection buffer): call, outputs, MACs, and
      output pixels x kernel window (the indirection work, independent of channels);
    * dynamic INT8 (``ConvInteger``: im2col then an integer GEMM): call, outputs, MACs, im2col
      elements;
    * float with run-time weights (``fp32rt``, im2col then SGEMM, weights packed every run):
      call, MACs, im2col elements, weight elements.
    """
    cin, cout = max(1, cin), max(1, cout)
    window = max(1.0, macs / max(1.0, elements) / cin)
    if prec in _BLOCKED and block > 1:
        cout_p = -(-cout // block) * block
        cin_p = cin if cin < 4 else -(-cin // block) * block
        elements, macs = elements * cout_p / cout, macs * (cin_p / cin) * (cout_p / cout)
    im2col = macs / cout if window > 1 else 0.0
    if prec == "int8":
        return [1.0, elements, macs, elements / cout * window]
    if prec == "int8dyn":
        return [1.0, elements, macs, im2col]
    if prec == "fp32rt":
        return [1.0, macs, im2col, cin * cout * window]
    return [1.0, elements, macs]


class _Profile(Protocol):
    name: str

    @property
    def threads_all(self) -> int: ...

    @property
    def channel_block(self) -> int: ...

    def benchmark_us(self, bench_id: str, threads: int) -> float: ...

    def benchmark_spread(self, bench_id: str, threads: int) -> float: ...


@dataclass(frozen=True)
class Prediction:
    """Predicted p50 latency at batch 1, its 95% interval, and where it comes from.

    Attributes:
        p50_ms: predicted median latency (ms), as :func:`advisor.measure.time_models` measures it.
        interval_ms: 95% interval of ``p50_ms`` (ms), from the cost models' measured
            leave-one-out residuals on the profile's benchmarks and the benchmarks' own spread,
            per kernel class; never zero-width.
        roofline_floor_ms: FLOPs / the device's measured peak for each kernel's precision (ms).
        threads: intra-op threads the prediction is for.
        profile: the profile's name.
        flops: 2 x multiply-adds of the kernels onnxruntime runs.
        kernels: number of kernels onnxruntime runs.
        breakdown_ms: predicted time per kernel class, plus ``call`` (the per-inference overhead).
    """

    p50_ms: float
    interval_ms: tuple[float, float]
    roofline_floor_ms: float
    threads: int
    profile: str
    flops: int
    kernels: int
    breakdown_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.p50_ms, 5),
            "interval_ms": [round(self.interval_ms[0], 5), round(self.interval_ms[1], 5)],
            "roofline_floor_ms": round(self.roofline_floor_ms, 5),
            "floor_ratio": round(self.p50_ms / self.roofline_floor_ms, 2) if self.roofline_floor_ms > 0 else None,
            "threads": self.threads,
            "profile": self.profile,
            "flops": self.flops,
            "kernels": self.kernels,
            "breakdown_ms": {k: round(v, 5) for k, v in self.breakdown_ms.items()},
        }


# Relative standard error never assumed below this (a measured spread of 0 in a synthetic or
# rounded profile must not make an interval collapse).
_MIN_SD = 0.02
# ... nor above this: a class whose fit is off by e in log space still spans exp(+-1.96) ~ 7x
# either way, which already says "measure instead".
_MAX_SD = 1.0
# Normal quantile of a two-sided 95% interval.
_Z95 = 1.959964


def _nnls_fit(rows: np.ndarray, t: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Non-negative coefficients of ``rows @ c ~ t`` weighted by ``weight`` (relative error)."""
    w = weight / np.maximum(t, 0.5)
    a = rows * w[:, None]
    scale = np.maximum(a.max(axis=0), 1e-12)
    coef, _ = nnls(a / scale, t * w)
    return coef / scale


def _log_residuals(rows: np.ndarray, t: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``log(measured / predicted)`` of each benchmark layer under the fitted model."""
    pred = np.maximum(rows @ coef, 1e-9)
    return np.log(t / pred)


class CostModel:
    """Per-kernel costs (microseconds) at one thread setting, fitted from a profile's benchmarks,
    with each kernel class's relative standard error (:attr:`sd`)."""

    def __init__(self, profile: _Profile, threads: int) -> None:
        us = {bid: profile.benchmark_us(bid, threads) for bid in _SPEC}
        spread_of = getattr(profile, "benchmark_spread", None)
        spread = {bid: (spread_of(bid, threads) if spread_of else 0.0) for bid in _SPEC}
        self.threads = threads
        self.block = max(1, int(profile.channel_block))
        self.call_us = us["run"]  # the latency harness's per-inference cost
        base = us["base"]  # the benchmarks' own (bound) call
        self.node_us = max(0.05, (us["nodes"] - base) / _SPEC["nodes"].layers)

        def net(bid: str) -> float:  # per-layer time, call overhead removed
            if bid in REAL_IDS:  # timed per kernel already (no call, no boundary nodes)
                return max(0.05, us[bid] / _SPEC[bid].layers)
            return max(0.05, (us[bid] - base) / _SPEC[bid].layers)

        self._net = net
        self.cache_bytes = 2.0 * 4 * _SPEC["eltwise"].elements
        self.cache_bw = self.cache_bytes / max(0.01, net("eltwise") - self.node_us)  # bytes per us
        self.dram_bytes = 2.0 * 4 * _SPEC["copy"].elements
        self.dram_bw = self.dram_bytes / max(0.01, net("copy") - self.node_us)
        self.norm_us_per_element = max(0.0, net("norm") - self.node_us) / _SPEC["norm"].elements
        # Transformer element-wise kernels measured at real shape: per-element cost per operator.
        self.op_us_per_element = {
            op: max(0.0, net(bid) - self.node_us) / _SPEC[bid].elements for op, bid in TRANSFORMER_IDS.items()}
        # Relative standard error per class: leave-one-out residuals of each fit (an honest,
        # out-of-sample error) combined with the measured spread of the benchmarks it rests on.
        self.sd: dict[str, float] = {}
        self.conv = {p: self._fit_conv(p, ids, spread) for p, ids in _conv_ids().items()}
        self.dw = {p: self._fit_line(f"dw/{p}", ids, "elements", spread) for p, ids in _dw_ids().items()}
        self.gemm = {p: self._fit_line(f"gemm/{p}", ids, "macs", spread) for p, ids in _gemm_ids().items()}
        self.gemv = {p: self._fit_line(f"gemv/{p}", bench_ids("gemv", p), "macs", spread)
                     for p in ("fp32", "int8", "int8dyn", "fp16")}
        fitted = [v for k, v in self.sd.items() if not k.startswith("gemv/")]
        typical = float(np.median(fitted)) if fitted else 0.1
        # Classes whose model has no degrees of freedom left to check it (two-point lines,
        # element-wise, shape): the median fitted class's error at this thread setting.
        for p in ("fp32", "int8", "int8dyn", "fp16"):
            self.sd[f"gemv/{p}"] = max(self.sd[f"gemv/{p}"], typical)
        op_ids = ("norm", "eltwise", "copy", "nodes", *TRANSFORMER_IDS.values())
        op_spread = float(np.sqrt(np.mean(np.square([spread[b] for b in op_ids]))))
        for cls in ("norm", "other", "shape"):
            self.sd[cls] = math.hypot(op_spread, typical)
        self.sd["call"] = spread["run"]
        self.sd = {k: min(_MAX_SD, max(_MIN_SD, v)) for k, v in self.sd.items()}
        # Peak throughput per precision (MACs per microsecond), for the roofline floor.
        self.peak = {}
        for p in ("fp32", "int8", "int8dyn", "fp16", "fp32rt"):
            ids = [*_conv_ids()[p], *_dw_ids()[p]]
            if p in self.gemm:
                ids += list(_gemm_ids()[p])
            self.peak[p] = max(_SPEC[b].macs / net(b) for b in ids)
        self.peak["int8w"] = self.peak["fp32"]

    def _class_sd(self, key: str, residuals: np.ndarray, params: int, ids, spread) -> None:
        """The class's relative standard error: the fit's residual standard error (residuals
        over the degrees of freedom left) and the benchmarks' own measured spread."""
        dof = max(1, len(residuals) - params)
        fit = float(np.sqrt(np.sum(np.square(residuals)) / dof)) if len(residuals) else 0.0
        noise = float(np.sqrt(np.mean(np.square([spread[b] for b in ids])))) if ids else 0.0
        self.sd[key] = min(_MAX_SD, max(_MIN_SD, math.hypot(fit, noise)))

    def _fit_conv(self, prec: str, ids: tuple[str, ...], spread) -> list[float]:
        """Non-negative coefficients of :func:`conv_features` through the benchmark layers of one
        precision, each weighted by its own time (relative error counts, so the small layer
        matters as much as the large ones); the real-shaped layers weigh more."""
        rows = np.array([conv_features(prec, _SPEC[b].elements, _SPEC[b].macs, _SPEC[b].channels, _SPEC[b].channels,
                                       self.block) for b in ids])
        t = np.array([self._net(b) for b in ids])
        w = np.array([_REAL_WEIGHT if b in REAL_IDS else 1.0 for b in ids])
        coef = _nnls_fit(rows, t, w)
        self._class_sd(f"conv/{prec}", _log_residuals(rows, t, coef), int(np.count_nonzero(coef)), ids, spread)
        return coef.tolist()

    def _fit_line(self, key: str, ids: tuple[str, ...], size: str, spread) -> tuple[float, float]:
        """``(a, c)`` with ``a + c * size`` through the layer sizes of ``ids`` (both >= 0)."""
        rows = np.array([[1.0, float(getattr(_SPEC[b], size))] for b in ids])
        t = np.array([self._net(b) for b in ids])
        w = np.array([_REAL_WEIGHT if b in REAL_IDS else 1.0 for b in ids])
        a, c = _nnls_fit(rows, t, w)
        if c <= 0:
            c = float(t.max() / rows[:, 1].max())
        self._class_sd(key, _log_residuals(rows, t, np.array([a, c])), 2, ids, spread)
        return float(a), float(c)

    def eltwise_us(self, nbytes: float) -> float:
        """Element-wise work moving ``nbytes``: bandwidth between the cache and memory figures."""
        if nbytes <= self.cache_bytes:
            bw = self.cache_bw
        elif nbytes >= self.dram_bytes:
            bw = self.dram_bw
        else:
            w = math.log(nbytes / self.cache_bytes) / math.log(self.dram_bytes / self.cache_bytes)
            bw = math.exp((1 - w) * math.log(self.cache_bw) + w * math.log(self.dram_bw))
        return self.node_us + nbytes / bw

    def kernel_class(self, k: Kernel) -> str:
        """The class whose error :attr:`sd` applies to kernel ``k``."""
        if k.kind == "conv":
            return f"conv/{k.precision if k.precision in self.conv else 'fp32'}"
        if k.kind == "dwconv":
            return f"dw/{k.precision if k.precision in self.dw else 'fp32'}"
        if k.kind in ("gemm", "gemv"):
            return f"{k.kind}/{_MM_PREC.get(k.precision, 'fp32')}"
        return k.kind if k.kind in ("norm", "shape") else "other"

    def kernel_us(self, k: Kernel) -> float:
        """Predicted microseconds of one kernel; never below its roofline floor."""
        return max(self._model_us(k), self.floor_us(k))

    def _model_us(self, k: Kernel) -> float:
        if k.fused:
            return 0.0
        if k.kind == "shape":
            return self.node_us
        if k.kind == "norm":
            op = "softmax_masked" if (k.op_type == "Softmax" and k.masked) else _NORM_OP.get(k.op_type, "")
            rate = self.op_us_per_element.get(op, self.norm_us_per_element)
            return self.node_us + rate * max(k.out_elements, k.bytes / 8)
        if k.kind == "other":
            return self.eltwise_us(k.bytes)
        if k.kind == "conv":
            prec = k.precision if k.precision in self.conv else "fp32"
            feats = conv_features(prec, k.out_elements, k.macs, k.in_channels, k.out_channels, self.block)
            return float(np.dot(self.conv[prec], feats)) + self._activation_us(k)
        if k.kind == "dwconv":
            prec = k.precision if k.precision in self.dw else "fp32"
            a, d = self.dw[prec]
            cout = max(1, k.out_channels)
            block = self.block if prec in _BLOCKED else 1
            # A depthwise layer streams its input and output once: a strided one reads 4x the
            # elements it writes (the benchmarks' layers read as many as they write).
            size = max(k.out_elements, _activation_elements(k) / 2.0)
            return (a + d * size * _window_factor(k) * (-(-cout // block) * block) / cout
                    + self._activation_us(k))
        table = self.gemv if k.kind == "gemv" else self.gemm
        a, c = table[_MM_PREC.get(k.precision, "fp32")]
        return a + c * k.macs

    def _activation_us(self, k: Kernel) -> float:
        """A float convolution's fused activation other than ReLU: a second pass over its output
        (the benchmarks' layers fuse ReLU, which is free)."""
        if k.precision not in _FLOAT_CONV or k.activation in ("", "Relu"):
            return 0.0
        return self.eltwise_us(2.0 * 4 * k.out_elements) - self.node_us

    def floor_us(self, k: Kernel) -> float:
        return k.macs / self.peak.get(k.precision, self.peak["fp32"]) if k.macs else 0.0


# Operators costed with a real-shaped transformer benchmark's per-element figure.
_NORM_OP = {"Softmax": "softmax", "LayerNormalization": "layernorm", "SkipLayerNormalization": "layernorm",
            "SimplifiedLayerNormalization": "layernorm", "Gelu": "gelu", "FastGelu": "gelu", "BiasGelu": "gelu",
            "Erf": "gelu"}
_REAL_WEIGHT = 3.0


#: Share of a depthwise output's cost that grows with its window (the rest streams the
#: activations), per precision: measured on EfficientNet-Lite1's layers, a 5x5 depthwise output
#: costs ~2.5x a 3x3 one in FP32's blocked kernels and ~2.1x in INT8 (the profile's depthwise
#: benchmarks are all 3x3, so they cannot separate the two terms).
_DW_WINDOW_SHARE = {"fp32": 0.87, "fp16": 0.87, "fp32rt": 0.87, "int8": 0.62, "int8dyn": 0.62}
_FLOAT_CONV = ("fp32", "fp16", "fp32rt")


def _window_factor(k: Kernel) -> float:
    """A depthwise layer's cost per output relative to a 3x3 one's."""
    window = k.macs / max(1, k.out_elements)
    share = _DW_WINDOW_SHARE.get(k.precision, 0.62)
    return 1.0 - share + share * window / 9.0 if window > 0 else 1.0


def _activation_elements(k: Kernel) -> float:
    """Elements of activations a kernel reads and writes (its bytes less weights, per item)."""
    return max(0, k.bytes - k.weight_bytes) / {"int8": 1, "fp16": 2}.get(k.precision, 4)


def _conv_ids() -> dict[str, tuple[str, ...]]:
    return {p: bench_ids("conv", p) for p in _PRECISIONS}


def _dw_ids() -> dict[str, tuple[str, ...]]:
    return {p: bench_ids("dw", p) for p in _PRECISIONS}


def _gemm_ids() -> dict[str, tuple[str, ...]]:
    return {p: bench_ids("gemm", p) for p in ("fp32", "int8", "int8dyn", "fp16")}


@lru_cache(maxsize=64)
def _cached_kernels(path: str, mtime: float, size: int, shapes: tuple[tuple[str, tuple[int, ...]], ...] = (),
                    ) -> tuple[Kernel, ...]:
    return tuple(model_kernels(path, dict(shapes) or None))


def kernels_of(model_path: Path | str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> tuple[Kernel, ...]:
    """The kernels onnxruntime runs for the model at ``model_path`` with its inputs at
    ``input_shapes`` (default: unknown dimensions 1); cached by file identity and shapes."""
    p = Path(model_path)
    st = p.stat()
    shapes = tuple(sorted((k, tuple(int(x) for x in v)) for k, v in (input_shapes or {}).items()))
    return _cached_kernels(str(p.resolve()), st.st_mtime, st.st_size, shapes)


def predict_kernels(kernels: tuple[Kernel, ...] | list[Kernel], profile: _Profile, threads: int | None = None,
                    ) -> Prediction:
    """:func:`predict_latency` for an already listed set of kernels."""
    t_all = max(1, int(profile.threads_all))
    threads = max(1, int(threads or 1))
    settings = sorted({1, t_all})
    results = {}
    for t in settings:
        cm = CostModel(profile, t)
        parts: Counter[str] = Counter()
        by_class: Counter[str] = Counter()
        floor = 0.0
        for k in kernels:
            us = cm.kernel_us(k)
            parts[k.kind] += us
            by_class[cm.kernel_class(k)] += us
            floor += cm.floor_us(k)
        parts["call"] += cm.call_us
        by_class["call"] += cm.call_us
        total = sum(parts.values())
        results[t] = (total, floor, parts, _interval(total, by_class, cm.sd))
    if threads <= 1 or t_all == 1:
        total, floor, parts, (lo, hi) = results[1]
    elif threads >= t_all:
        total, floor, parts, (lo, hi) = results[t_all]
    else:
        w = (threads - 1) / (t_all - 1)
        (t1, f1, p1, i1), (t2, f2, p2, i2) = results[1], results[t_all]
        total, floor = (1 - w) * t1 + w * t2, (1 - w) * f1 + w * f2
        lo, hi = (1 - w) * i1[0] + w * i2[0], (1 - w) * i1[1] + w * i2[1]
        parts = Counter({k: (1 - w) * p1.get(k, 0.0) + w * p2.get(k, 0.0) for k in set(p1) | set(p2)})
    return Prediction(
        p50_ms=total / 1000.0,
        interval_ms=(lo / 1000.0, hi / 1000.0),
        roofline_floor_ms=floor / 1000.0,
        threads=threads,
        profile=getattr(profile, "name", "?"),
        flops=int(2 * sum(k.macs for k in kernels)),
        kernels=sum(1 for k in kernels if not k.fused),
        breakdown_ms={k: v / 1000.0 for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
    )


def kernel_costs(kernels: tuple[Kernel, ...] | list[Kernel], profile: _Profile, threads: int | None = None,
                 ) -> tuple[np.ndarray, float]:
    """Predicted microseconds of each kernel (in order; fused ones 0) at ``threads`` intra-op
    threads -- interpolated between the profile's two measured settings as in
    :func:`predict_latency` -- and the latency harness's per-inference cost (us)."""
    t_all = max(1, int(profile.threads_all))
    threads = max(1, int(threads or 1))

    def at(t: int) -> tuple[np.ndarray, float]:
        cm = CostModel(profile, t)
        return np.array([cm.kernel_us(k) for k in kernels], dtype=float), cm.call_us

    if threads <= 1 or t_all == 1:
        return at(1)
    if threads >= t_all:
        return at(t_all)
    w = (threads - 1) / (t_all - 1)
    (a1, c1), (a2, c2) = at(1), at(t_all)
    return (1 - w) * a1 + w * a2, (1 - w) * c1 + w * c2


def _interval(total: float, by_class: Counter[str], sd: dict[str, float]) -> tuple[float, float]:
    """95% interval of ``total`` (us): every kernel of one class shares its class's error (one
    implementation, one fitted model), classes err independently; log-normal, so the interval is
    asymmetric and never reaches zero."""
    var = sum((sd.get(c, max(sd.values())) * t) ** 2 for c, t in by_class.items())
    rel = max(_MIN_SD, math.sqrt(var) / max(total, 1e-12))
    return total * math.exp(-_Z95 * rel), total * math.exp(_Z95 * rel)


def predict_latency(model_path: Path | str, profile: _Profile, threads: int | None = None,
                    input_shapes: Mapping[str, Sequence[int]] | None = None) -> Prediction:
    """Predict the p50 latency (batch 1) of the ONNX model at ``model_path`` on the device
    ``profile`` describes, with ``threads`` intra-op threads (default 1), without running it.
    ``input_shapes``: each input's shape as fed (batch 1), for dynamic dimensions other than the
    batch (a sequence length); without them such a dimension counts as 1.

    Example:
        >>> pred = predict_latency("model.onnx", load_profile("profiles/build-vm.yaml"))  # doctest: +SKIP
        >>> pred.p50_ms >= pred.roofline_floor_ms  # doctest: +SKIP
        True

    Raises:
        InputError: the model does not load in onnxruntime.
    """
    return predict_kernels(kernels_of(model_path, input_shapes), profile, threads)


def roofline_floor_ms(model_path: Path | str, profile: _Profile, threads: int | None = None,
                      input_shapes: Mapping[str, Sequence[int]] | None = None) -> float:
    """FLOPs over the device's measured peak throughput for each kernel's precision (ms)."""
    return predict_latency(model_path, profile, threads, input_shapes).roofline_floor_ms
