"""Latency through onnxruntime: inputs bound once (IOBinding), warm-up, many timed runs, p50/p90,
and the same-run ratios every latency decision rests on.

When several models are compared they are timed *interleaved* in one run (round-robin blocks,
alternating direction), so that a change in machine load hits all of them alike: block ``b`` of one
model pairs with block ``b`` of every other, and a ratio's interval comes from those paired blocks
(:func:`ratio_figure`). While a block runs, this process must hold the CPU it asked for
(:class:`~advisor.measure.load.CpuShare`); a round in which it did not (another process, a
hypervisor took the core) is timed again, up to :data:`MAX_RETIMED` rounds, and counted in
``retimed``. Every figure is ``source="same-run"`` with its ``spread`` (:func:`block_spread`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from advisor.measure.energy import read_energy_uj
from advisor.measure.load import CpuShare
from advisor.measure.provenance import this_device
from advisor.progress import RunContext
from advisor.runtime import make_session
from advisor.types import LatencyStats, RatioFigure, TensorSpec

__all__ = ["time_models", "sample_feed", "block_spread", "BLOCKS", "Timer", "ratio_figure", "compare",
           "LATENCY_RESOLUTION", "DISTURBED_SHARE", "MAX_RETIMED", "race_models", "median_bounds", "race_resolved"]

BLOCKS = 10  # round-robin timing blocks per run
#: A round whose CPU share fell below this fraction of the model's median share was disturbed.
DISTURBED_SHARE = 0.85
MAX_RETIMED = 6  # rounds timed again at most per timing (a machine busy throughout is not "disturbed")
#: Speed differences within +-3% are ties whatever the interval says: two sessions of the very same
#: file differ by up to ~2% on this machine (memory placement), and no deployment decision turns on 3%.
LATENCY_RESOLUTION = 0.03


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


class Timer:
    """Sessions of several models on one input, timed in interleaved rounds that can be extended:
    :meth:`rounds` adds blocks, :meth:`stats` gives every model's figures over all blocks so far."""

    def __init__(self, paths: Sequence[Path | str], feed: dict[str, np.ndarray], *, threads: int = 1,
                 spinning: bool = False, warmup: int = 20, seconds: float = 0.4, min_runs: int = 30,
                 max_runs: int = 2000, blocks: int = BLOCKS, ctx: RunContext | None = None,
                 device: str | None = None) -> None:
        self.threads, self.spinning, self.ctx = threads, spinning, ctx
        self.where = this_device(device, threads)
        self.batch = len(next(iter(feed.values()))) if feed else 1
        sessions = [make_session(p, threads, spinning) for p in paths]
        self.bound = [(s, _bind(s, feed)) for s in sessions]
        per_run = []
        for s, io in self.bound:
            t0 = time.perf_counter_ns()
            for _ in range(warmup):
                s.run_with_iobinding(io)
            per_run.append(max(1e-6, (time.perf_counter_ns() - t0) / 1e9 / max(1, warmup)))
        runs = [int(min(max_runs, max(min_runs, seconds / t))) for t in per_run]
        self.per_block = [max(1, r // blocks) for r in runs]
        self.blocks: list[list[np.ndarray]] = []  # [block][model] -> ns per run
        self.shares: list[list[float]] = []
        self.energy_uj = [0 for _ in self.bound]
        self.has_sensor = read_energy_uj() is not None
        self.retimed = 0
        self.run = uuid.uuid4().hex[:12]  # figures of one Timer pair up block by block

    def _block(self, b: int) -> tuple[list[np.ndarray], list[float]]:
        k_models = len(self.bound)
        times: list[np.ndarray] = [np.empty(0)] * k_models
        shares = [1.0] * k_models
        order = range(k_models) if b % 2 == 0 else reversed(range(k_models))
        for k in order:
            s, io = self.bound[k]
            n = self.per_block[k]
            ns = np.empty(n, dtype=np.int64)
            e0 = read_energy_uj() if self.has_sensor else None
            share = CpuShare().start()
            for i in range(n):
                t0 = time.perf_counter_ns()
                s.run_with_iobinding(io)
                ns[i] = time.perf_counter_ns() - t0
            shares[k] = share.read()
            times[k] = ns
            if e0 is not None:
                e1 = read_energy_uj()
                self.energy_uj[k] += max(0, (e1 or e0) - e0)  # counter wrap-around counts as 0
        return times, shares

    def rounds(self, blocks: int = BLOCKS) -> Timer:
        """Time ``blocks`` more round-robin blocks, then re-time the rounds a busy machine disturbed."""
        first = len(self.blocks)
        for b in range(first, first + blocks):
            if self.ctx is not None:
                self.ctx.check()
                self.ctx.report("latency", (b - first) / blocks,
                                f"timing {len(self.bound)} model(s), block {b - first + 1}/{blocks}")
            t, sh = self._block(b)
            self.blocks.append(t)
            self.shares.append(sh)
        for b in self.disturbed():
            if self.retimed >= MAX_RETIMED:
                break
            self.blocks[b], self.shares[b] = self._block(b)
            self.retimed += 1
        return self

    def disturbed(self) -> list[int]:
        """Blocks in which some model got less than :data:`DISTURBED_SHARE` of its median CPU share."""
        arr = np.asarray(self.shares)  # [block, model]
        ref = np.median(arr, axis=0)
        return [b for b in range(len(arr)) if np.any(arr[b] < DISTURBED_SHARE * ref)]

    def stats(self) -> list[LatencyStats]:
        out = []
        for k in range(len(self.bound)):
            per = [np.asarray(blk[k], dtype=np.float64) / 1e6 for blk in self.blocks]
            ms = np.concatenate(per)
            out.append(LatencyStats(
                p50_ms=float(np.percentile(ms, 50)),
                p90_ms=float(np.percentile(ms, 90)),
                runs=len(ms),
                threads=self.threads,
                spinning=self.spinning,
                batch=self.batch,
                energy_mj=(self.energy_uj[k] / 1000.0 / len(ms)) if self.has_sensor else None,
                source="same-run",
                spread=block_spread(ms, [len(p) for p in per]),
                blocks_p50=tuple(float(np.percentile(p, 50)) for p in per),
                blocks_p90=tuple(float(np.percentile(p, 90)) for p in per),
                retimed=self.retimed,
                run=self.run,
                where=self.where,
            ))
        return out


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
    blocks: int = BLOCKS,
    ctx: RunContext | None = None,
    device: str | None = None,
) -> list[LatencyStats]:
    """Time every model on the same input, interleaved; return p50/p90 per model (milliseconds).

    Each model gets ``warmup`` untimed runs, then about ``seconds`` of timed runs (at least
    ``min_runs``), taken in ``blocks`` round-robin blocks across the models.
    """
    timer = Timer(paths, feed, threads=threads, spinning=spinning, warmup=warmup, seconds=seconds,
                  min_runs=min_runs, max_runs=max_runs, blocks=blocks, ctx=ctx, device=device)
    return timer.rounds(blocks).stats()


def race_models(
    paths: Sequence[Path | str],
    feed: dict[str, np.ndarray],
    resolved: Callable[[list[LatencyStats]], bool],
    *,
    threads: int = 1,
    spinning: bool = False,
    seconds: float = 0.4,
    blocks: int = BLOCKS,
    max_rounds: int = 4,
    ctx: RunContext | None = None,
    device: str | None = None,
) -> list[LatencyStats]:
    """Time ``paths`` together, interleaved, in rounds of ``blocks`` blocks until ``resolved`` says
    the figures separate the models (or call them tied) or ``max_rounds`` rounds have run."""
    timer = Timer(paths, feed, threads=threads, spinning=spinning, seconds=seconds, blocks=blocks, ctx=ctx,
                  device=device)
    for _ in range(max_rounds):
        out = timer.rounds(blocks).stats()
        if resolved(out):
            break
    return out


def _order_index(n: int, alpha: float) -> int:
    """0-based index ``j`` of the order statistic that is a one-sided lower bound at error ``alpha``
    for the median of ``n`` values: the largest ``j`` with ``P(Binomial(n, 1/2) <= j) <= alpha``
    (exact, from the binomial coefficients: no scipy on a measuring target)."""
    cdf, j = 0.0, -1
    while j + 1 < n:
        nxt = cdf + math.comb(n, j + 1) / 2.0**n
        if nxt > alpha:
            break
        cdf, j = nxt, j + 1
    return max(0, j)


def median_bounds(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free bounds of the median of ``values``: the order statistics whose binomial tail
    is at most ``1 - confidence`` each side (10 values at 95%: the 2nd smallest and 2nd largest)."""
    r = np.sort(np.asarray(values, dtype=np.float64))
    j = _order_index(len(r), 1 - confidence)
    return float(r[j]), float(r[len(r) - 1 - j])


def ratio_figure(candidate: LatencyStats, reference: LatencyStats, stat: str = "p50",
                 confidence: float = 0.95) -> RatioFigure:
    """``candidate / reference`` latency (p50 or p90) from one interleaved run, with bounds.

    The bounds are the distribution-free ones for the median of the per-block ratios
    (:func:`median_bounds`). Figures from different runs are not paired: their bounds are the ratio
    widened by both runs' measured noise (``spread``); predicted latencies and records without
    blocks get a zero-width figure (compared exactly).
    """
    if candidate.where is not None and reference.where is not None and \
            candidate.where.fingerprint != reference.where.fingerprint:
        raise ValueError(f"latencies measured on {candidate.where.name} and {reference.where.name} are not "
                         "compared directly: a ratio holds within one device")
    value = getattr(candidate, f"{stat}_ms") / getattr(reference, f"{stat}_ms")
    a = getattr(candidate, f"blocks_{stat}")
    b = getattr(reference, f"blocks_{stat}")
    if not (candidate.measured and reference.measured) or not a or not b or len(a) != len(b):
        return RatioFigure(value, value, value, 0, stat, confidence)
    if candidate.run is None or candidate.run != reference.run:  # not paired: widen by both runs' noise
        noise = (candidate.spread or 0.0) + (reference.spread or 0.0)
        return RatioFigure(value, value * (1 - noise), value * (1 + noise), 0, stat, confidence)
    lo, hi = median_bounds(np.asarray(a) / np.asarray(b), confidence)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return RatioFigure(value, value, value, 0, stat, confidence)
    return RatioFigure(value, min(lo, value), max(hi, value), len(a), stat, confidence)


def compare(fig: RatioFigure, resolution: float = LATENCY_RESOLUTION) -> str:
    """``faster`` (the whole interval below ``1 - resolution``), ``slower`` (above ``1 + resolution``)
    or ``tied`` (within measured noise or within the resolution)."""
    if fig.hi < 1 - resolution:
        return "faster"
    if fig.lo > 1 + resolution:
        return "slower"
    return "tied"


def race_resolved(stats: list[LatencyStats]) -> bool:
    """Whether a final race (the original first, then the finalists) has separated its finalists:
    each one clearly apart from the fastest, or equal to it within :data:`LATENCY_RESOLUTION` (a single
    finalist: against the original)."""
    finals = stats[1:]
    ref = stats[0] if len(finals) < 2 else min(finals, key=lambda s: s.p50_ms)
    return all(_settled(ratio_figure(s, ref)) for s in finals if s is not ref)


def _settled(fig: RatioFigure) -> bool:
    return compare(fig) != "tied" or (fig.lo >= 1 - LATENCY_RESOLUTION and fig.hi <= 1 + LATENCY_RESOLUTION)


def block_spread(ms: np.ndarray, block_sizes: Sequence[int]) -> float:
    """Run-to-run noise of a p50, measured: the half-range of the per-block medians relative to
    their median, ``(max - min) / (2 * median)`` over the timing blocks (0.03 = +-3%)."""
    meds, i = [], 0
    for n in block_sizes:
        if n > 0:
            meds.append(float(np.median(ms[i:i + n])))
        i += n
    if len(meds) < 2:
        return 0.0
    mid = float(np.median(meds))
    return 0.0 if mid <= 0 else round((max(meds) - min(meds)) / (2 * mid), 5)
