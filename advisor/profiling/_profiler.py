"""``profile_device``: probe the host, run the micro-benchmarks, derive the advice facts."""

from __future__ import annotations

import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from advisor.profiling._bench import BENCHMARKS, LoadMeter, run_benchmarks
from advisor.profiling._host import probe_host
from advisor.profiling._names import check_name, sanitize_name
from advisor.profiling._profile import (
    BenchTimes,
    ConvFigures,
    DeviceProfile,
    Figures,
    GemmFigures,
    HostInfo,
    MemoryFigures,
    OverheadFigures,
    RunInfo,
    derive,
)
from advisor.progress import RunContext

__all__ = ["profile_device", "default_name", "DEFAULT_SECONDS", "QUICK_SECONDS"]

# Timed seconds per thread setting; building the graphs and sessions and warming up add ~1 s.
DEFAULT_SECONDS = 2.8
QUICK_SECONDS = 0.25
# Hard limits on the whole profile: on a busy machine the timed rounds are cut short instead.
DEFAULT_DEADLINE = 8.8
QUICK_DEADLINE = 2.5
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
) -> DeviceProfile:
    """Measure this device: host probes plus micro-benchmarks at 1 thread and at all cores.

    Args:
        name: profile name (default: the host name, sanitised).
        quick: a short budget (~1-2 s in all) for tests and previews; figures are noisier.
        seconds: timed budget per thread setting (overrides ``quick`` and lifts the deadline).
        disk_path: where free disk space is measured (the profiles folder).
        ctx: progress and cancellation.

    Example:
        >>> p = profile_device("bench-box", quick=True)  # doctest: +SKIP
        >>> p.derived.int8_speedup > 0  # doctest: +SKIP
        True
    """
    import advisor.measure  # noqa: F401 - a one-off import (torch) the CLI has already paid; not profiling work

    ctx = ctx or RunContext()
    name = check_name(name) if name is not None else default_name()
    t0 = time.perf_counter()
    meter = LoadMeter()
    ctx.report("profile", 0.0, "probing the host")
    host = HostInfo.from_dict(probe_host(disk_path))
    threads_all = max(1, host.cores_logical)
    settings = (1,) if threads_all == 1 else (1, threads_all)
    budget = seconds if seconds is not None else (QUICK_SECONDS if quick else DEFAULT_SECONDS)
    deadline = None if seconds is not None else t0 + (QUICK_DEADLINE if quick else DEFAULT_DEADLINE)
    with tempfile.TemporaryDirectory(prefix="advisor-profile-") as tmp:
        us = run_benchmarks(Path(tmp), settings, budget, ctx, deadline=deadline)
    times = {bid: BenchTimes(round(t[1], 3), round(t[threads_all], 3)) for bid, t in us.items()}
    figures = _figures(times)
    load, steal = meter.read()
    run = RunInfo(threads_all=threads_all, wall_seconds=round(time.perf_counter() - t0, 3), quick=bool(quick),
                  background_load_cores=round(load, 3), steal_percent=round(steal, 2))
    ctx.report("profile", 1.0, "done")
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    return DeviceProfile(name, created, host, run, figures, MappingProxyType(times), derive(figures, run, host))


def _figures(times: dict[str, BenchTimes]) -> Figures:
    def us(bid: str, sfx: str) -> float:
        return getattr(times[bid], f"us_{sfx}")

    def net(bid: str, sfx: str, nodes: int = 0) -> float:
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

    gemm = GemmFigures(*both("gemm_fp32_r256w256"), *both("gemm_int8_r256w256"), *both("gemm_fp16_r256w256"))
    conv = ConvFigures(*both("conv_fp32_c32s32"), *both("conv_int8_c32s32"), *both("conv_int8dyn_c32s16"),
                       *both("conv_fp16_c32s32"), *both("dw_fp32_c64s16"))
    memory = MemoryFigures(gbs("copy", 8, "1t"), gbs("copy", 8, "all"), gbs("eltwise", 8, "1t"),
                           gbs("eltwise", 8, "all"))
    node = {sfx: round(max(0.001, (us("nodes", sfx) - us("base", sfx)) / _SPEC["nodes"].layers), 4)
            for sfx in ("1t", "all")}
    overhead = OverheadFigures(round(us("run", "1t"), 3), round(us("run", "all"), 3), node["1t"], node["all"])
    return Figures(gemm, conv, memory, overhead)
