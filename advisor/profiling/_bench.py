"""Micro-benchmarks through onnxruntime: what each kind of kernel costs on this device.

Every benchmark is a small graph (see :mod:`advisor.profiling._graphs`) run in a session made
the way every latency is measured (:func:`advisor.runtime.make_session`). Kernel benchmarks are
timed through an I/O binding (a ~5 us call with little jitter) against a trivial graph timed the
same way (``base``), so that per-layer costs are not buried in call noise; the per-inference
overhead of the latency harness itself (``run``) is measured by calling
:func:`advisor.measure.latency.time_models` on a trivial graph, so that a predicted latency
carries exactly the fixed cost a measured one does. (With onnxruntime 1.31 that call costs
50-80 us: its Python wrapper iterates the output vector slowly.)

The benchmarks of one thread setting are timed *interleaved*: all sessions are built first, then
timed in round-robin rounds, so that a change in machine load hits every figure alike; rounds a
busy machine disturbed are re-timed and every figure is a robust statistic of its rounds, with
its spread (:mod:`advisor.profiling._timing`). The CPU is warmed up first (a cold 0.2 s budget
under-reads FP32 throughput by ~25% on the build machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from advisor.measure.latency import time_models
from advisor.profiling import _graphs as g
from advisor.profiling._timing import ROUNDS, Timed, Timing, block_kernel_ns, kernel_ns, time_setting
from advisor.progress import RunContext
from advisor.runtime import make_session

__all__ = ["BenchSpec", "BENCHMARKS", "BENCH_IDS", "REAL_IDS", "TRANSFORMER_OPS", "TRANSFORMER_IDS",
           "run_benchmarks", "kernel_ns", "Timing", "bench_ids"]


@dataclass(frozen=True)
class BenchSpec:
    """One micro-benchmark: its id (a key of the profile's ``benchmarks`` section), the graph
    builder, and per-layer facts the predictor fits to: ``layers`` in the chain, and for one
    layer its output ``elements``, multiply-adds ``macs``, ``channels``, spatial ``size`` and
    ``kernel`` (convolutions) or ``rows`` x ``channels`` (matrix products)."""

    id: str
    build: Callable[[], g.BenchGraph]
    layers: int = 1
    elements: int = 0
    macs: int = 0
    what: str = ""
    channels: int = 0
    size: int = 0
    kernel: int = 1
    depthwise: bool = False
    kind: str = ""  # kernel class: conv, dw, gemm, gemv; "" for the overhead and transformer benchmarks
    precision: str = ""  # fp32, int8, int8dyn, fp16, fp32rt (kernel benchmarks)


def _conv(prec: str, c: int, s: int, layers: int, k: int = 3, dw: bool = False) -> BenchSpec:
    kind = "dw" if dw else "conv"
    macs = c * s * s * (1 if dw else c) * k * k
    return BenchSpec(
        f"{kind}_{prec}_c{c}s{s}" + (f"k{k}" if k != 3 else ""),
        lambda: g.conv_chain(c, s, layers, kernel=k, depthwise=dw, precision=prec),
        layers, c * s * s, macs,
        f"{layers} x {'depthwise ' if dw else ''}{k}x{k} conv, {c} channels at {s}x{s}, {prec}",
        c, s, k, dw, kind, prec,
    )


def _mm(prec: str, rows: int, width: int, layers: int) -> BenchSpec:
    kind = "gemv" if rows == 1 else "gemm"
    return BenchSpec(
        f"{kind}_{prec}_" + (f"w{width}" if rows == 1 else f"r{rows}w{width}"),
        lambda: g.matmul_chain(rows, width, layers, precision=prec),
        layers, rows * width, rows * width * width,
        f"{layers} x [{rows},{width}] x [{width},{width}] MatMul, {prec}",
        width, rows, kind=kind, precision=prec,
    )


def _specs() -> list[BenchSpec]:
    out = [
        BenchSpec("run", g.trivial, 1, 16, 0, "one call of the latency harness (time_models) on a one-node graph"),
        BenchSpec("base", g.trivial, 1, 16, 0, "one bound call of a one-node graph (baseline of the kernel timings)"),
        BenchSpec("nodes", lambda: g.node_chain(400), 400, 16, 0, "400 Add/Relu nodes on 16 floats"),
        BenchSpec("copy", lambda: g.copy(1 << 20), 1, 1 << 20, 0, "ReLU over 4 MB (beyond the core's caches)"),
        BenchSpec("eltwise", lambda: g.elementwise_chain(16384, 24), 24, 16384, 0,
                  "24 x broadcast Add / scalar Mul over [64, 256] (activation-sized, cache-resident)"),
        BenchSpec("norm", lambda: g.norm_chain(8), 8, 16384, 0,
                  "8 x Softmax/LayerNormalization over [4,64,64] (transformer element-wise)"),
    ]
    # Convolutions, five shapes per precision, chosen so that the per-layer cost terms vary
    # independently: 16x8x8 (a small layer: mostly per-call cost), 8x32x32 (few MACs per output),
    # 32x32x32 (many of both), 128x8x8 (many MACs per output, large weights), a pointwise 1x1
    # layer (no im2col); small layers get long chains so that their signal dwarfs the per-call
    # noise. Plus two depthwise layer sizes.
    for prec in ("fp32", "int8", "fp16", "fp32rt"):
        out += [_conv(prec, 16, 8, 24), _conv(prec, 8, 32, 3), _conv(prec, 32, 32, 3), _conv(prec, 128, 8, 3),
                _conv(prec, 64, 16, 6, k=1), _conv(prec, 32, 8, 24, dw=True), _conv(prec, 64, 16, 6, dw=True)]
    # Dynamic INT8 (ConvInteger) is ~10x slower than FP32 here: fewer, smaller layers.
    out += [_conv("int8dyn", 16, 8, 4), _conv("int8dyn", 8, 32, 2), _conv("int8dyn", 32, 16, 2),
            _conv("int8dyn", 16, 32, 2), _conv("int8dyn", 64, 16, 2, k=1), _conv("int8dyn", 32, 8, 4, dw=True),
            _conv("int8dyn", 64, 16, 2, dw=True)]
    for prec in ("fp32", "int8", "int8dyn", "fp16"):
        out += [_mm(prec, 64, 128, 8), _mm(prec, 256, 256, 3), _mm(prec, 1, 256, 12), _mm(prec, 1, 1024, 3)]
    # Real-shaped kernels (schema 2): layers as deployed models run them, large enough to keep
    # every core busy -- a 3x3 convolution over 32 channels at 112x112 (an ImageNet CNN's early
    # stage), a pointwise 1x1 over 96 channels at 56x56 and a depthwise 3x3 over 144 channels at
    # 56x56 (an inverted-residual block), and a 128-token, 384-wide transformer projection; in
    # FP32, static INT8 (QDQ, per-channel) and FP16. The headline figures and derived ratios
    # come from these; the predictor is calibrated on them.
    for prec in ("fp32", "int8", "fp16"):
        out += [_conv(prec, 32, 112, 1), _conv(prec, 96, 56, 2, k=1), _conv(prec, 144, 56, 2, dw=True),
                _mm(prec, 128, 384, 3)]
    for op, shape, layers in TRANSFORMER_OPS:
        elements = int(np.prod(shape))
        out.append(BenchSpec(f"{op}_{'x'.join(map(str, shape))}",
                             lambda o=op, sh=shape, n=layers: g.transformer_op_chain(o, sh, n), layers, elements, 0,
                             f"{layers} x {op} over {list(shape)} (128-token transformer)"))
    return out


_REAL_WEIGHT = 3.0
# Transformer element-wise kernels at 128 tokens, 12 heads, width 384 (FFN 1536).
TRANSFORMER_OPS: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("softmax", (12, 128, 128), 2), ("softmax_masked", (12, 128, 128), 2), ("layernorm", (128, 384), 4),
    ("gelu", (128, 1536), 2))
# The real-shaped benchmarks behind the headline figures, per precision.
REAL_CONV = "conv_{}_c32s112"
REAL_POINTWISE = "conv_{}_c96s56k1"
REAL_DEPTHWISE = "dw_{}_c144s56"
REAL_GEMM = "gemm_{}_r128w384"
TRANSFORMER_IDS: dict[str, str] = {op: f"{op}_{'x'.join(map(str, sh))}" for op, sh, _ in TRANSFORMER_OPS}
REAL_IDS: tuple[str, ...] = tuple(t.format(p) for p in ("fp32", "int8", "fp16")
                                  for t in (REAL_CONV, REAL_POINTWISE, REAL_DEPTHWISE, REAL_GEMM)) + tuple(
    TRANSFORMER_IDS.values())


BENCHMARKS: tuple[BenchSpec, ...] = tuple(_specs())
BENCH_IDS: tuple[str, ...] = tuple(b.id for b in BENCHMARKS)


def bench_ids(kind: str, precision: str) -> tuple[str, ...]:
    """Ids of the kernel benchmarks of one class (``conv``, ``dw``, ``gemm``, ``gemv``) and
    precision, in definition order (real-shaped layers included): the one home of the benchmark
    ids; the predictor's fits select by these attributes, never by typing ids again.

    Example:
        >>> bench_ids("gemv", "fp32")
        ('gemv_fp32_w256', 'gemv_fp32_w1024')
    """
    return tuple(b.id for b in BENCHMARKS if b.kind == kind and b.precision == precision)


def run_benchmarks(
    workdir: Path,
    thread_settings: tuple[int, ...],
    seconds: float,
    ctx: RunContext | None = None,
    deadline: float | None = None,
    *,
    rounds: int = ROUNDS,
    heavy: Collection[str] = (),
) -> tuple[dict[str, dict[int, Timing]], int]:
    """Every benchmark's figure (microseconds per run) and spread at each thread setting, timed in
    interleaved rounds with a busy machine's disturbances re-timed (:mod:`advisor.profiling._timing`).

    Args:
        workdir: scratch folder for the benchmark graphs.
        thread_settings: intra-op thread counts to measure (e.g. ``(1, 4)``).
        seconds: timed budget per thread setting (building sessions and re-timing come on top).
        ctx: progress and cancellation.
        deadline: a ``time.perf_counter()`` value to finish by: on a busy machine the timed
            rounds are cut short (fewer samples) and re-timing skipped rather than running late.
        rounds: interleaved rounds per thread setting.
        heavy: benchmarks behind headline figures: they get three times the others' share of the
            time (the real-shaped kernels always do).

    Returns:
        ``{id: {threads: Timing}}``, and the fewest interleaved rounds timed at any setting.
    """
    ctx = ctx or RunContext()
    paths: dict[str, tuple[Path, dict[str, np.ndarray]]] = {}
    for spec in BENCHMARKS:
        bg = spec.build()
        p = workdir / f"{spec.id}.onnx"
        p.write_bytes(bg.serialized())
        paths[spec.id] = (p, bg.feed)
    out: dict[str, dict[int, Timing]] = {s.id: {} for s in BENCHMARKS}
    fewest = rounds
    for n, threads in enumerate(thread_settings):
        ctx.check()
        ctx.report("profile", n / len(thread_settings), f"micro-benchmarks at {threads} thread(s)")
        end = None
        if deadline is not None:
            now = time.perf_counter()
            end = now + max(0.0, deadline - now) / (len(thread_settings) - n)
        harness_seconds = 0.1 if seconds >= 1.0 else 0.03
        timed = _sessions(paths, threads, set(heavy))
        # The clock is brought up once, before the first setting (the CPU stays busy after it).
        figures, done = time_setting(timed, threads, seconds, rounds=rounds, warm_with=REAL_CONV.format("fp32"),
                                     clock_seconds=min(0.2, 0.1 * seconds) if n == 0 else 0.0,
                                     end=None if end is None else end - 1.5 * harness_seconds, ctx=ctx,
                                     kernel_time=partial(block_kernel_ns, skip=_BOUNDARY_OPS))
        figures["run"] = _harness_call_us(paths["run"], threads, harness_seconds)
        fewest = min(fewest, done)
        for k, v in figures.items():
            out[k][threads] = v
    return out, fewest


def _sessions(paths: dict[str, tuple[Path, dict[str, np.ndarray]]], threads: int, heavy: set[str]
              ) -> dict[str, Timed]:
    """A bound session per benchmark (not ``run``: the harness is timed by the harness); the
    real-shaped ones with onnxruntime's per-node profiler on (their figure is kernel time)."""
    out = {}
    for bid, (p, feed) in paths.items():
        if bid == "run":
            continue
        real = bid in REAL_IDS
        s = make_session(p, threads, profile_prefix=str(p.with_suffix("")) + f"-t{threads}") if real \
            else make_session(p, threads)
        b = s.io_binding()
        for i in s.get_inputs():
            b.bind_ortvalue_input(i.name, ort.OrtValue.ortvalue_from_numpy(feed[i.name]))
        for o in s.get_outputs():
            b.bind_output(o.name, "cpu")
        out[bid] = Timed(s, b, kernel=real, weight=_REAL_WEIGHT if (real or bid in heavy) else 1.0)
    return out


# Nodes at a chain's boundary that a model runs once, not per layer: layout reorders (NCHWc,
# NHWC for INT8), and quantizing the float input / de-quantizing the output.
_BOUNDARY_OPS = {"ReorderInput", "ReorderOutput", "Transpose", "QuantizeLinear", "DequantizeLinear"}


def _harness_call_us(graph: tuple[Path, dict[str, np.ndarray]], threads: int, seconds: float) -> Timing:
    """The latency harness's own per-inference cost: its p50 on a one-node graph, median over
    three sessions (the call's cost differs a little from one session to the next)."""
    path, feed = graph
    stats = time_models([path, path, path], feed, threads=threads, seconds=max(0.01, seconds / 3), warmup=20,
                        min_runs=30)
    p50 = np.array([st.p50_ms for st in stats]) * 1000.0
    med = float(np.median(p50))
    return Timing(med, float((p50.max() - p50.min()) / 2.0 / med), len(p50), 0, 0)
