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
timed in round-robin rounds, so that a change in machine load hits every figure alike. The CPU
is warmed up first (a cold 0.2 s budget under-reads FP32 throughput by ~25% on the build machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from advisor.measure.latency import time_models
from advisor.profiling import _graphs as g
from advisor.progress import RunContext
from advisor.runtime import make_session

__all__ = ["BenchSpec", "BENCHMARKS", "BENCH_IDS", "REAL_IDS", "TRANSFORMER_OPS", "TRANSFORMER_IDS",
           "run_benchmarks", "kernel_ns", "node_medians", "bench_ids"]


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
) -> dict[str, dict[int, tuple[float, float]]]:
    """Median microseconds per run of every benchmark and its spread, at each thread setting.

    The spread is half the range of the per-round medians over the median: how far one round's
    figure strayed from the profile's (a relative +-), measured in this run.

    Args:
        workdir: scratch folder for the benchmark graphs.
        thread_settings: intra-op thread counts to measure (e.g. ``(1, 4)``).
        seconds: timed budget per thread setting (building sessions comes on top).
        ctx: progress and cancellation.
        deadline: a ``time.perf_counter()`` value to finish by: on a busy machine the timed
            rounds are cut short (fewer samples) rather than running late.
    """
    ctx = ctx or RunContext()
    paths: dict[str, tuple[Path, dict[str, np.ndarray]]] = {}
    for spec in BENCHMARKS:
        bg = spec.build()
        p = workdir / f"{spec.id}.onnx"
        onnx.save(bg.model, str(p))
        paths[spec.id] = (p, bg.feed)
    out: dict[str, dict[int, tuple[float, float]]] = {s.id: {} for s in BENCHMARKS}
    for n, threads in enumerate(thread_settings):
        ctx.check()
        ctx.report("profile", n / len(thread_settings), f"micro-benchmarks at {threads} thread(s)")
        end = None
        if deadline is not None:
            now = time.perf_counter()
            end = now + max(0.0, deadline - now) / (len(thread_settings) - n)
        medians = _time_all(paths, threads, seconds, ctx, end)
        for k, v in medians.items():
            out[k][threads] = v
    return out


def _time_all(paths, threads: int, seconds: float, ctx: RunContext, end: float | None = None,
              ) -> dict[str, tuple[float, float]]:
    bound = {}
    for bid, (p, feed) in paths.items():
        if bid == "run":
            continue
        s = (make_session(p, threads, profile_prefix=str(p.with_suffix("")) + f"-t{threads}") if bid in REAL_IDS
             else make_session(p, threads))
        b = s.io_binding()
        for i in s.get_inputs():
            b.bind_ortvalue_input(i.name, ort.OrtValue.ortvalue_from_numpy(feed[i.name]))
        for o in s.get_outputs():
            b.bind_output(o.name, "cpu")
        bound[bid] = (s, b)
    # Warm-up: bring the clock up on real work, then a few runs of each graph (first runs
    # allocate arenas and pack weights); the warm-up runs estimate each graph's run time.
    s, b = bound[REAL_CONV.format("fp32")]
    t_end = time.perf_counter() + min(0.3, 0.08 * seconds)
    while time.perf_counter() < t_end:
        s.run_with_iobinding(b)
    per_run = {}
    for bid, (s, b) in bound.items():
        s.run_with_iobinding(b)
        t0 = time.perf_counter()
        for _ in range(2):
            s.run_with_iobinding(b)
        per_run[bid] = max(2e-6, (time.perf_counter() - t0) / 2)
    ctx.check()
    harness_seconds = 0.1 if seconds >= 1.0 else 0.03
    if end is not None:
        seconds = max(0.05, min(seconds, end - time.perf_counter() - 1.5 * harness_seconds))
    rounds = 6 if seconds >= 1.0 else 2
    # The real-shaped kernels behind the headline figures get a larger share of the time.
    weight = {bid: (_REAL_WEIGHT if bid in REAL_IDS else 1.0) for bid in bound}
    share = 0.95 * seconds / sum(weight.values()) / rounds
    samples: dict[str, list[int]] = {bid: [] for bid in bound}
    per_round: dict[str, list[float]] = {bid: [] for bid in bound}
    order = list(bound)
    for r in range(rounds):
        ctx.check()
        if r >= 2 and end is not None and time.perf_counter() > end - 1.5 * harness_seconds:
            break  # a busy machine: fewer rounds rather than a late profile
        for bid in (order if r % 2 == 0 else reversed(order)):
            s, b = bound[bid]
            n = int(min(400, max(2, weight[bid] * share / per_run[bid])))
            mine = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                s.run_with_iobinding(b)
                mine.append(time.perf_counter_ns() - t0)
            samples[bid] += mine
            per_round[bid].append(float(np.median(mine)))
    out = {}
    for bid, v in samples.items():
        med = float(np.median(v))
        rounds_ = np.asarray(per_round[bid])
        spread = float((rounds_.max() - rounds_.min()) / 2.0 / med)
        if bid in REAL_IDS:
            med = kernel_ns(bound[bid][0], skip=_BOUNDARY_OPS)
        out[bid] = (med / 1000.0, spread)
    out["run"] = _harness_call_us(paths["run"], threads, harness_seconds)
    return out


# Nodes at a chain's boundary that a model runs once, not per layer: layout reorders (NCHWc,
# NHWC for INT8), and quantizing the float input / de-quantizing the output.
_BOUNDARY_OPS = {"ReorderInput", "ReorderOutput", "Transpose", "QuantizeLinear", "DequantizeLinear"}


def kernel_ns(session: ort.InferenceSession, skip: Collection[str] = (), warmup: int = 0) -> float:
    """Nanoseconds per run as the sum of onnxruntime's median per-node kernel times, from the
    trace of a session made with ``make_session(..., profile_prefix=...)`` (the trace file is
    read and removed). ``skip``: op types left out (for a real-shaped chain, the boundary nodes
    ``_BOUNDARY_OPS``: in a model they run once, not per layer, and in a short chain they would be
    a third of the time); ``warmup``: first runs of each node left out."""
    return 1000.0 * sum(us for _, us in node_medians(session, skip, warmup).values())


def node_medians(session: ort.InferenceSession, skip: Collection[str] = (), warmup: int = 0,
                 ) -> dict[str, tuple[str, float]]:
    """Each traced node's ``(op type, median microseconds per run)``, keyed by the node's name in
    the session's optimised graph, from the trace of a session made with
    ``make_session(..., profile_prefix=...)`` (the trace file is read and removed): the one
    reader of onnxruntime's per-node profile (:func:`kernel_ns` sums it)."""
    trace = Path(session.end_profiling())
    try:
        events = json.loads(trace.read_text())
    finally:
        trace.unlink(missing_ok=True)
    per_node: dict[str, tuple[str, list[float]]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e.get("args", {}).get("op_name", "")
        if op in skip:
            continue
        per_node.setdefault(e["name"].removesuffix("_kernel_time"), (op, []))[1].append(float(e["dur"]))
    return {name: (op, float(np.median(v[warmup:] or v))) for name, (op, v) in per_node.items()}


def _harness_call_us(graph: tuple[Path, dict[str, np.ndarray]], threads: int, seconds: float,
                     ) -> tuple[float, float]:
    """The latency harness's own per-inference cost: its p50 on a one-node graph, median over
    three sessions (the call's cost differs a little from one session to the next)."""
    path, feed = graph
    stats = time_models([path, path, path], feed, threads=threads, seconds=max(0.01, seconds / 3), warmup=20,
                        min_runs=30)
    p50 = np.array([st.p50_ms for st in stats]) * 1000.0
    med = float(np.median(p50))
    return med, float((p50.max() - p50.min()) / 2.0 / med)
