"""Latency through onnxruntime: inputs bound once (IOBinding), warm-up, many timed runs, p50/p90.

When several models are compared they are timed *interleaved* in one run (round-robin blocks),
so that a change in machine load hits all of them alike and their ratios stay honest. Every
figure is ``source="same-run"``; its ``spread`` is the run's measured noise (see :func:`block_spread`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from advisor.measure.energy import read_energy_uj
from advisor.progress import RunContext
from advisor.runtime import make_session
from advisor.types import LatencyStats, TensorSpec

__all__ = ["time_models", "sample_feed", "block_spread", "BLOCKS"]

BLOCKS = 10  # round-robin timing blocks per run


def sample_feed(
    inputs: tuple[TensorSpec, ...], arrays: dict[str, np.ndarray] | None, batch: int = 1
) -> dict[str, np.ndarray]:
    """One batch to time with: the first ``batch`` test samples, or zeros of the input's shape."""
    feed = {}
    for spec in inputs:
        if arrays is not None and spec.name in arrays and len(arrays[spec.name]) >= batch:
            feed[spec.name] = np.ascontiguousarray(arrays[spec.name][:batch])
        else:
            feed[spec.name] = np.zeros(spec.concrete(batch), dtype=np.dtype(spec.dtype))
    return feed


def _bind(session: ort.InferenceSession, feed: dict[str, np.ndarray]) -> ort.IOBinding:
    """Inputs bound once as OrtValues, outputs to CPU memory: each timed call is then just
    ``run_with_iobinding`` (~5 us of Python overhead here, stable; ``run_with_ort_values`` cost
    50-120 us per call in onnxruntime 1.31 and varied between sessions, +-20% on 0.1 ms models)."""
    io = session.io_binding()
    for i in session.get_inputs():
        io.bind_ortvalue_input(i.name, ort.OrtValue.ortvalue_from_numpy(feed[i.name]))
    for o in session.get_outputs():
        io.bind_output(o.name, "cpu")
    return io


def time_models(
    paths: Sequence[Path | str],
    feed: dict[str, np.ndarray],
    *,
    threads: int = 1,
    spinning: bool = False,
    warmup: int = 20,
    seconds: float = 0.4,
    min_runs: int = 30,
    max_runs: int = 2000,
    ctx: RunContext | None = None,
) -> list[LatencyStats]:
    """Time every model on the same input, interleaved; return p50/p90 per model (milliseconds).

    Each model gets ``warmup`` untimed runs, then about ``seconds`` of timed runs (at least
    ``min_runs``), taken in ten round-robin blocks across the models.
    """
    sessions = [make_session(p, threads, spinning) for p in paths]
    bound = []
    for s in sessions:
        bound.append((s, _bind(s, feed)))
    per_run = []
    for s, io in bound:
        t0 = time.perf_counter_ns()
        for _ in range(warmup):
            s.run_with_iobinding(io)
        per_run.append(max(1e-6, (time.perf_counter_ns() - t0) / 1e9 / max(1, warmup)))
    runs = [int(min(max_runs, max(min_runs, seconds / t))) for t in per_run]
    blocks = BLOCKS
    samples: list[list[int]] = [[] for _ in bound]
    per_block: list[list[int]] = [[] for _ in bound]  # how many samples each block added
    energy_uj = [0 for _ in bound]
    has_sensor = read_energy_uj() is not None
    for b in range(blocks):
        if ctx is not None:
            ctx.check()
            ctx.report("latency", b / blocks, f"timing {len(bound)} model(s), block {b + 1}/{blocks}")
        order = range(len(bound)) if b % 2 == 0 else reversed(range(len(bound)))
        for k in order:
            s, io = bound[k]
            n = max(1, runs[k] // blocks)
            e0 = read_energy_uj() if has_sensor else None
            for _ in range(n):
                t0 = time.perf_counter_ns()
                s.run_with_iobinding(io)
                samples[k].append(time.perf_counter_ns() - t0)
            per_block[k].append(n)
            if e0 is not None:
                e1 = read_energy_uj()
                energy_uj[k] += max(0, (e1 or e0) - e0)  # counter wrap-around counts as 0
    batch = len(next(iter(feed.values()))) if feed else 1
    out = []
    for k, ns in enumerate(samples):
        ms = np.asarray(ns, dtype=np.float64) / 1e6
        out.append(
            LatencyStats(
                p50_ms=float(np.percentile(ms, 50)),
                p90_ms=float(np.percentile(ms, 90)),
                runs=len(ms),
                threads=threads,
                spinning=spinning,
                batch=batch,
                energy_mj=(energy_uj[k] / 1000.0 / len(ms)) if has_sensor else None,
                source="same-run",
                spread=block_spread(ms, per_block[k]),
            )
        )
    return out


def block_spread(ms: np.ndarray, block_sizes: Sequence[int]) -> float:
    """Run-to-run noise of a p50, measured: the half-range of the per-block medians relative to
    their median, ``(max - min) / (2 * median)`` over the timing blocks (0.03 = +-3%).

    Two latencies whose difference is within the sum of their spreads (scaled to the figure
    compared) have overlapping block ranges: the advisor counts them as a tie.
    """
    meds, i = [], 0
    for n in block_sizes:
        if n > 0:
            meds.append(float(np.median(ms[i:i + n])))
        i += n
    if len(meds) < 2:
        return 0.0
    mid = float(np.median(meds))
    return 0.0 if mid <= 0 else round((max(meds) - min(meds)) / (2 * mid), 5)
