"""Timing the micro-benchmarks of one thread setting: interleaved rounds, a busy machine detected
and the blocks it disturbed dropped and re-timed, and one figure (with its spread) per benchmark.

How (docs/profiles.md, "How they are timed"):

1. **Warm-up**: the clock is brought up on real work (the real-shaped FP32 convolution), then every
   graph runs a few times untimed (first runs allocate arenas and pack weights); those runs also
   say how long one run takes.
2. **Rounds**: all benchmarks are timed in :data:`ROUNDS` interleaved round-robin rounds
   (alternating direction), one *block* of runs per benchmark per round, so a change in load hits
   every figure alike. A block's figure is the median of its runs (for a real-shaped kernel: the
   sum of its nodes' median kernel times over the block's runs, from onnxruntime's trace).
3. **Busy machine**: each round is watched by :class:`advisor.measure.load.LoadMeter` (other
   processes' CPU, hypervisor steal) and each block by :class:`advisor.measure.load.CpuShare`
   (the CPU this process got over the block's wall time). The machine was *busy* for a block when
   other processes needed more than the cores the block left free (at least :data:`BUSY_CORES`
   of a core beyond them) or the hypervisor stole :data:`BUSY_STEAL` percent in its round, or when
   the block got less than :data:`SHARE_LOST` of the CPU it gets undisturbed. A busy block more
   than :data:`SLOWER` slower than the median of the quiet ones is *disturbed*, and dropped.
   Slower blocks on a quiet machine are the device's own variability: they stay (they widen the
   spread). On a machine busy throughout there is nothing quiet to compare with: the blocks are
   compared with the median of them all, and the figure measures the machine as it is.
4. **Re-timing**: a benchmark left with fewer than :data:`SETTLED` undisturbed blocks gets more,
   interleaved with the others that need them, for at most :data:`RETRY_PASSES` passes, while the
   deadline allows and as long as the last round was quiet (re-timed now, a block would only be
   disturbed again); what was re-timed is counted.
5. **Figure and spread**: the figure is the median of the undisturbed blocks' figures, its spread
   half their range over the figure (a relative +-).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import psutil

from advisor.measure.load import CpuShare, LoadMeter
from advisor.progress import RunContext

__all__ = ["ROUNDS", "QUICK_ROUNDS", "Timing", "Timed", "time_setting", "kernel_ns", "node_trace", "node_times",
           "node_medians", "block_kernel_ns"]

#: Interleaved rounds per thread setting (``--quick``: :data:`QUICK_ROUNDS`).
ROUNDS = 6
QUICK_ROUNDS = 3
#: Other processes' load (cores) beyond the cores a round leaves free from which it counts as busy.
BUSY_CORES = 0.25
#: Hypervisor steal (percent) in a round from which the machine counts as busy during it.
BUSY_STEAL = 2.0
#: A block that got less than this share of the CPU it gets undisturbed lost the CPU to other work.
SHARE_LOST = 0.9
#: A busy block this much slower than the median of the quiet ones was disturbed by the busy machine.
SLOWER = 0.10
#: Undisturbed blocks a figure needs before it stops being re-timed.
SETTLED = 4
#: Re-timing passes over the figures that are not settled, at most.
RETRY_PASSES = 3
_MIN_RUNS, _MAX_RUNS = 3, 400


@dataclass
class Timed:
    """A benchmark ready to time: its session and I/O binding; ``kernel`` when its figure is the
    kernel time from onnxruntime's trace (the session was made with the profiler on)."""

    session: ort.InferenceSession
    binding: ort.IOBinding
    kernel: bool = False
    runs: int = 0  # runs so far (warm-up included): aligns the blocks with the trace
    per_run: float = 1e-3  # seconds per run, from the warm-up
    weight: float = 1.0  # share of the timed budget
    blocks: list[_Block] = field(default_factory=list)

    def run(self, n: int) -> list[int]:
        s, b, out = self.session, self.binding, []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            s.run_with_iobinding(b)
            out.append(time.perf_counter_ns() - t0)
        self.runs += n
        return out


@dataclass
class _Block:
    round: int
    first: int  # index of its first run in the session
    runs: int
    value_ns: float  # median run time (wall), or the kernel time once the trace is read
    share: float  # CPU time over wall time of this process during the block
    retimed: bool = False
    busy: bool = False  # other work or steal during its round (set at the end of the round)


@dataclass(frozen=True)
class Timing:
    """One benchmark at one thread setting: the figure (microseconds per run) and its spread,
    how many undisturbed blocks it rests on (``rounds``), how many blocks a busy machine
    disturbed, and how many were re-timed."""

    us: float
    spread: float
    rounds: int
    disturbed: int
    retimed: int


def time_setting(
    timed: dict[str, Timed],
    threads: int,
    seconds: float,
    *,
    rounds: int = ROUNDS,
    cores: int | None = None,
    warm_with: str | None = None,
    clock_seconds: float = 0.2,
    end: float | None = None,
    ctx: RunContext | None = None,
    kernel_time: Callable[[Timed], list[float]] | None = None,
) -> tuple[dict[str, Timing], int]:
    """Time every benchmark of ``timed`` at ``threads``: warm-up, ``rounds`` interleaved rounds
    of about ``seconds`` in all, re-timing what a busy machine disturbed, robust figures. Returns
    the figures by id and the number of rounds timed (fewer than ``rounds`` when ``end`` came first).

    Args:
        timed: the benchmarks by id, sessions made at ``threads``.
        threads: the sessions' intra-op threads (1: a block holds one core when undisturbed).
        seconds: timed budget of the rounds (re-timing comes on top, within ``end``).
        rounds: interleaved rounds.
        cores: the machine's logical cores (default: psutil's count): other work counts as busy
            once it needs more than the ``cores - threads`` the blocks leave free.
        warm_with: the benchmark to bring the clock up with (default: the first).
        clock_seconds: how long to run it first (0: the CPU is busy already).
        end: a ``time.perf_counter()`` value to finish by: rounds get shorter when they run late
            (a busy machine), the last are dropped (at least two are timed) and re-timing skipped
            rather than finishing late.
        ctx: cancellation.
        kernel_time: for a ``kernel`` benchmark, its blocks' kernel times in nanoseconds (in
            block order), read from its session's trace; default :func:`block_kernel_ns`.
    """
    ctx = ctx or RunContext()
    kernel_time = kernel_time or block_kernel_ns
    cores = cores or psutil.cpu_count() or 1
    _warm_up(timed, warm_with or next(iter(timed)), clock_seconds)
    ctx.check()
    if end is not None:  # what is left after building and warming up
        seconds = max(0.05, min(seconds, end - time.perf_counter()))
    total = sum(t.weight for t in timed.values())
    order = list(timed)
    plan = 0.95 * seconds / rounds  # seconds per round
    pace = 1.0  # how much longer than planned rounds run (a busy machine): blocks shrink by it
    done, busy = 0, False
    for r in range(rounds):
        ctx.check()
        left = math.inf if end is None else end - time.perf_counter()
        if r >= 2 and left < 0.25 * plan:
            break  # a busy machine: fewer rounds rather than a late profile
        budget = min(plan, left / (rounds - r))  # late rounds share what is left
        t0 = time.perf_counter()
        busy = _round(timed, order if r % 2 == 0 else order[::-1], r, threads, cores, budget / total / pace)
        pace = min(8.0, max(0.5, pace * (time.perf_counter() - t0) / budget))
        done += 1
    for p in range(RETRY_PASSES):
        ctx.check()
        need = [bid for bid, t in timed.items() if _undisturbed(t, threads) < min(SETTLED, len(t.blocks))]
        cost = pace * plan * sum(timed[b].weight for b in need) / total
        if busy or not need or (end is not None and time.perf_counter() + cost > end):
            break  # still busy (re-timed blocks would be disturbed again), nothing to do, or no time
        busy = _round({bid: timed[bid] for bid in need}, need if p % 2 == 0 else need[::-1], -1 - p, threads, cores,
                      plan / total / pace, retimed=True)
    out = {}
    for bid, t in timed.items():
        if t.kernel:
            for blk, ns in zip(t.blocks, kernel_time(t), strict=True):
                blk.value_ns = ns
        out[bid] = _figure(t, threads)
    return out, done


def _warm_up(timed: dict[str, Timed], clock: str, seconds: float) -> None:
    """Bring the clock up on real work for ``seconds``, then two untimed runs of every graph (the
    first allocates its buffers; the second estimates its run time, which sizes its blocks)."""
    t = timed[clock]
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t.run(1)
    for t in timed.values():
        t.run(1)
        t.per_run = max(2e-6, t.run(1)[0] / 1e9)


def _round(timed: dict[str, Timed], order: Sequence[str], r: int, threads: int, cores: int, per_weight: float,
           *, retimed: bool = False) -> bool:
    """One interleaved round: a block of runs per benchmark, each watched by :class:`CpuShare`,
    the whole round by :class:`LoadMeter`. Returns whether the machine was busy during it."""
    meter, new = LoadMeter(), []
    for bid in order:
        t = timed[bid]
        n = int(min(_MAX_RUNS, max(_MIN_RUNS, t.weight * per_weight / t.per_run)))
        share = CpuShare().start()
        first = t.runs
        runs = t.run(n)
        blk = _Block(r, first, n, float(np.median(runs)), share.read(), retimed)
        t.blocks.append(blk)
        new.append(blk)
    other, steal = meter.read()
    # Other work counts once it needs more than the cores these blocks leave free.
    busy = other >= BUSY_CORES + max(0, cores - threads) or steal >= BUSY_STEAL
    for blk in new:
        blk.busy = busy
    return busy


def _expected_share(t: Timed, threads: int) -> float:
    """The CPU share a block of ``t`` gets undisturbed: one core at one thread; with several,
    the best any of its blocks got (how much of the work runs in parallel is the graph's)."""
    return 1.0 if threads <= 1 else max(1.0, max(b.share for b in t.blocks))


def _disturbed(t: Timed, threads: int) -> list[bool]:
    """Per block: did a busy machine disturb it? Busy while it ran (its round, or its own CPU
    share) and more than ``SLOWER`` slower than the median of the quiet blocks (of all blocks
    when fewer than two were quiet: a machine busy throughout is measured as it is)."""
    expected = _expected_share(t, threads)
    busy = [b.busy or b.share < SHARE_LOST * expected for b in t.blocks]
    quiet = [b.value_ns for b, x in zip(t.blocks, busy, strict=True) if not x]
    ref = float(np.median(quiet if len(quiet) >= 2 else [b.value_ns for b in t.blocks]))
    return [x and b.value_ns > (1.0 + SLOWER) * ref for b, x in zip(t.blocks, busy, strict=True)]


def _undisturbed(t: Timed, threads: int) -> int:
    return sum(not d for d in _disturbed(t, threads))


def _figure(t: Timed, threads: int) -> Timing:
    bad = _disturbed(t, threads)
    kept = [b.value_ns for b, d in zip(t.blocks, bad, strict=True) if not d] or [b.value_ns for b in t.blocks]
    fig = float(np.median(kept))
    spread = (max(kept) - min(kept)) / 2.0 / fig if fig > 0 else 0.0
    return Timing(fig / 1000.0, float(spread), len(kept), sum(bad), sum(b.retimed for b in t.blocks))


# -- onnxruntime's per-node trace ------------------------------------------------------------------

def node_trace(session: ort.InferenceSession, skip: Collection[str] = ()) -> dict[str, tuple[str, list[float]]]:
    """Every node's ``(op type, kernel time in microseconds per run, in run order)``, keyed by the
    node's name in the session's optimised graph, from the trace of a session made with
    ``make_session(..., profile_prefix=...)`` (the trace file is read and removed): the one reader
    of onnxruntime's per-node profile. ``skip``: op types left out."""
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
    return per_node


def node_times(session: ort.InferenceSession, skip: Collection[str] = ()) -> dict[str, list[float]]:
    """Every node's kernel time (microseconds) per run, in run order (see :func:`node_trace`)."""
    return {name: durs for name, (_, durs) in node_trace(session, skip).items()}


def node_medians(session: ort.InferenceSession, skip: Collection[str] = (), warmup: int = 0,
                 ) -> dict[str, tuple[str, float]]:
    """Each node's ``(op type, median microseconds per run)`` (see :func:`node_trace`);
    ``warmup``: first runs of each node left out."""
    return {name: (op, float(np.median(v[warmup:] or v))) for name, (op, v) in node_trace(session, skip).items()}


def kernel_ns(session: ort.InferenceSession, skip: Collection[str] = (), warmup: int = 0) -> float:
    """Nanoseconds per run as the sum of onnxruntime's median per-node kernel times over the
    session's runs (see :func:`node_times`); ``warmup``: first runs of each node left out."""
    per_node = node_times(session, skip)
    return 1000.0 * sum(float(np.median(v[warmup:] or v)) for v in per_node.values())


def block_kernel_ns(t: Timed, skip: Collection[str] = ()) -> list[float]:
    """Each block's kernel time (nanoseconds): the sum over nodes of their median kernel time over
    the block's runs. A node missing from some runs (a trace cut short) falls back to its median
    over all runs."""
    per_node = node_times(t.session, skip)
    out = []
    for b in t.blocks:
        total = 0.0
        for durs in per_node.values():
            part = durs[b.first:b.first + b.runs] if len(durs) == t.runs else durs
            total += float(np.median(part)) if part else math.nan
        out.append(1000.0 * total)
    return out
