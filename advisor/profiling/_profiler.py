"""``profile_device``: probe the host, run the micro-benchmarks, derive the advice facts."""

from __future__ import annotations

import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from advisor.measure.load import LoadMeter
from advisor.profiling._bench import (
    BENCHMARKS,
    REAL_CONV,
    REAL_DEPTHWISE,
    REAL_GEMM,
    REAL_IDS,
    REAL_POINTWISE,
    TRANSFORMER_IDS,
    run_benchmarks,
)
from advisor.profiling._host import probe_host
from advisor.profiling._names import check_name, sanitize_name
from advisor.profiling._profile import (
    FIGURE_BENCHMARKS,
    SCALING_BENCHMARKS,
    BenchTimes,
    ConvFigures,
    DeviceProfile,
    Figures,
    GemmFigures,
    HostInfo,
    MemoryFigures,
    OverheadFigures,
    PrecisionFigures,
    RunInfo,
    ScalingFigures,
    TransformerFigures,
    derive,
)
from advisor.profiling._timing import QUICK_ROUNDS, ROUNDS, SETTLED
from advisor.progress import RunContext

__all__ = ["profile_device", "default_name", "DEFAULT_SECONDS", "QUICK_SECONDS", "DEFAULT_DEADLINE", "QUICK_DEADLINE"]

# Timed seconds per thread setting; building the graphs and sessions, warming up and reading the
# kernel traces add ~1.5 s, re-timing what a busy machine disturbed comes on top (within the deadline).
DEFAULT_SECONDS = 2.0
QUICK_SECONDS = 0.25
# Hard limits on the whole profile: on a busy machine the timed rounds are cut short and the
# re-timing skipped instead.
DEFAULT_DEADLINE = 7.5
QUICK_DEADLINE = 2.5
# Kept back from the deadline for what follows the timed rounds (the kernel traces, the figures).
_FINISH = 0.4
_SPEC = {b.id: b for b in BENCHMARKS}


def default_name() -> str:
    """This machine's host name, made safe as a profile name."""
    return sanitize_name(socket.gethostname() or "device")


def profile_device(
    name: str | None = None,
    *,
    quick: bool = False,
    seconds: float | None = None,
    disk_path: Path | str = ".",
    ctx: RunContext | None = None,
    deadline: float | None = None,
) -> DeviceProfile:
    """Measure this device: host probes plus micro-benchmarks at 1 thread and at all cores.

    Args:
        name: profile name (default: the host name, sanitised).
        quick: a short budget (~1-2 s in all) for tests and previews; figures are noisier.
        seconds: timed budget per thread setting (overrides ``quick`` and lifts the default deadline).
        disk_path: where free disk space is measured (the profiles folder).
        ctx: progress and cancellation.
        deadline: a ``time.perf_counter()`` value to be done by (default: ``DEFAULT_DEADLINE``
            seconds from now, ``QUICK_DEADLINE`` with ``quick``): on a busy machine rounds are cut
            short and re-timing skipped rather than finishing late (``advisor profile`` passes
            its own, so that the whole command, start-up included, stays within ten seconds).

    Example:
        >>> p = profile_device("bench-box", quick=True)  # doctest: +SKIP
        >>> p.derived.int8_speedup > 0  # doctest: +SKIP
        True
    """
    ctx = ctx or RunContext()
    name = check_name(name) if name is not None else default_name()
    t0 = time.perf_counter()
    meter = LoadMeter()
    ctx.report("profile", 0.0, "probing the host")
    host = HostInfo.from_dict(probe_host(disk_path))
    threads_all = max(1, host.cores_logical)
    settings = (1,) if threads_all == 1 else (1, threads_all)
    budget = seconds if seconds is not None else (QUICK_SECONDS if quick else DEFAULT_SECONDS)
    if deadline is None and seconds is None:
        deadline = t0 + (QUICK_DEADLINE if quick else DEFAULT_DEADLINE)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    heavy = {*FIGURE_BENCHMARKS.values(), "base"}  # behind the headline figures: more of the time
    with tempfile.TemporaryDirectory(prefix="advisor-profile-") as tmp:
        timed, done = run_benchmarks(Path(tmp), settings, budget, ctx, deadline=None if deadline is None
                                     else deadline - _FINISH, rounds=rounds, heavy=heavy)
    times = {bid: BenchTimes(round(t[1].us, 3), round(t[threads_all].us, 3), round(t[1].spread, 4),
                             round(t[threads_all].spread, 4)) for bid, t in timed.items()}
    figures = _figures(times)
    load, steal = meter.read()
    every = [x for t in timed.values() for x in {1: t[1], threads_all: t[threads_all]}.values()]
    run = RunInfo(threads_all=threads_all, wall_seconds=round(time.perf_counter() - t0, 3), quick=bool(quick),
                  background_load_cores=round(load, 3), steal_percent=round(steal, 2), rounds=done,
                  disturbed_blocks=sum(x.disturbed for x in every), retimed_blocks=sum(x.retimed for x in every),
                  unsettled_benchmarks=sum(x.rounds < min(SETTLED, done) for x in every))
    ctx.report("profile", 1.0, "done")
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    return DeviceProfile(name, created, host, run, figures, MappingProxyType(times), derive(figures, run, host))


def _figures(times: dict[str, BenchTimes]) -> Figures:
    def us(bid: str, sfx: str) -> float:
        return getattr(times[bid], f"us_{sfx}")

    def net(bid: str, sfx: str, nodes: int = 0) -> float:
        if bid in REAL_IDS:  # timed per kernel already (no call, no boundary nodes)
            return us(bid, sfx)
        base = us("base", sfx)
        node = max(0.0, (us("nodes", sfx) - base) / _SPEC["nodes"].layers)
        return max(0.01 * us(bid, sfx), us(bid, sfx) - base - nodes * node)

    def gflops(bid: str, sfx: str) -> float:
        spec = _SPEC[bid]
        return round(2.0 * spec.macs * spec.layers / net(bid, sfx) / 1000.0, 3)

    def both(bid: str) -> tuple[float, float]:
        return gflops(bid, "1t"), gflops(bid, "all")

    def gbs(bid: str, per_element: int, sfx: str) -> float:
        spec = _SPEC[bid]
        return round(per_element * spec.elements * spec.layers / net(bid, sfx, spec.layers) / 1000.0, 3)

    def precisions(template: str) -> list[float]:
        return [x for p in ("fp32", "int8", "fp16") for x in both(template.format(p))]

    def elems(bid: str, sfx: str) -> float:  # G elements per second
        spec = _SPEC[bid]
        return round(spec.elements * spec.layers / net(bid, sfx) / 1000.0, 4)

    def scaling(bid: str) -> float:
        return round(net(bid, "1t") / net(bid, "all"), 3)

    gemm = GemmFigures(*precisions(REAL_GEMM))
    conv = ConvFigures(*both(REAL_CONV.format("fp32")), *both(REAL_CONV.format("int8")),
                       *both("conv_int8dyn_c32s16"), *both(REAL_CONV.format("fp16")))
    pointwise = PrecisionFigures(*precisions(REAL_POINTWISE))
    depthwise = PrecisionFigures(*precisions(REAL_DEPTHWISE))
    transformer = TransformerFigures(*(elems(TRANSFORMER_IDS[op], sfx) for op in ("softmax", "softmax_masked",
                                                                                  "layernorm", "gelu")
                                       for sfx in ("1t", "all")))
    scale = ScalingFigures(**{name: scaling(bid) for name, bid in SCALING_BENCHMARKS.items()})
    memory = MemoryFigures(gbs("copy", 8, "1t"), gbs("copy", 8, "all"), gbs("eltwise", 8, "1t"),
                           gbs("eltwise", 8, "all"))
    node = {sfx: round(max(0.001, (us("nodes", sfx) - us("base", sfx)) / _SPEC["nodes"].layers), 4)
            for sfx in ("1t", "all")}
    overhead = OverheadFigures(round(us("run", "1t"), 3), round(us("run", "all"), 3), node["1t"], node["all"])
    return Figures(gemm, conv, pointwise, depthwise, transformer, memory, overhead, scale)
