"""Synthetic profiles: instant, with the figures a test chooses (no measurement)."""

from __future__ import annotations

from types import MappingProxyType

from advisor.profiling import (
    BENCHMARKS,
    REAL_IDS,
    BenchTimes,
    DeviceProfile,
    HostInfo,
    RunInfo,
    derive,
)
from advisor.profiling._profiler import _figures

HOST = {
    "cpu": "Test CPU", "arch": "x86_64", "os": "Linux-test", "cores_logical": 4, "cores_physical": 4,
    "isa": ["avx2", "avx512f", "avx512_vnni", "fma"], "memory_total_bytes": 8 << 30,
    "memory_available_bytes": 6 << 30, "disk_free_bytes": 100 << 30, "onnxruntime": "1.31.1",
    "providers": ["CPUExecutionProvider"], "energy_sensor": "none",
}


def synthetic_times(
    *,
    fp32_gmacs: float = 50.0,
    int8_gmacs: float = 100.0,
    int8dyn_gmacs: float = 5.0,
    fp16_gmacs: float = 45.0,
    call_us: float = 60.0,
    node_us: float = 0.7,
    scaling: float = 1.8,
    int8_factor: float | None = None,
) -> dict[str, BenchTimes]:
    """Benchmark times a device with these throughputs (GMAC/s at 1 thread) would show; all
    cores run ``scaling`` times faster. With ``int8_factor``, every static INT8 layer takes
    exactly FP32's time (before channel padding) divided by it, whatever ``int8_gmacs`` says."""
    rate = {"fp32": fp32_gmacs, "fp32rt": fp32_gmacs * 0.6, "int8": int8_gmacs, "int8dyn": int8dyn_gmacs,
            "fp16": fp16_gmacs}
    out = {}
    base = 5.0  # the benchmarks' bound call; ``call_us`` is the latency harness's
    for spec in BENCHMARKS:
        kind, _, rest = spec.id.partition("_")
        prec = rest.split("_")[0] if rest else ""
        if spec.id == "run":
            out["run"] = BenchTimes(call_us, call_us)
            continue
        if spec.id == "base":
            per_layer = 0.0
        elif spec.id == "nodes":
            per_layer = node_us
        elif spec.id == "copy":
            per_layer = node_us + 8 * spec.elements / 10e3
        elif spec.id == "eltwise":
            per_layer = node_us + 8 * spec.elements / 40e3
        elif spec.id == "norm" or spec.macs == 0:
            per_layer = node_us + spec.elements * 0.002
        else:
            r = rate[prec] * (0.3 if kind == "dw" else 1.0) * (0.8 if kind == "gemv" else 1.0)
            pad = 16 / spec.channels if (prec in ("fp32", "fp16") and kind == "conv" and spec.channels < 16) else 1
            per_layer = 2.0 + 0.0005 * spec.elements * pad + spec.macs * pad * pad / (r * 1e3)
            if prec == "int8" and int8_factor:
                r = rate["fp32"] * (0.3 if kind == "dw" else 1.0) * (0.8 if kind == "gemv" else 1.0)
                per_layer = (2.0 + 0.0005 * spec.elements + spec.macs / (r * 1e3)) / int8_factor
        # Real-shaped benchmarks are timed per kernel (no call): their time is the layers alone.
        t1 = (0.0 if spec.id in REAL_IDS else base) + spec.layers * per_layer
        b = 0.0 if spec.id in REAL_IDS else base
        out[spec.id] = BenchTimes(round(t1, 3), round(b + (t1 - b) / scaling, 3))
    return out


def make_profile(name: str = "synthetic", *, load: float = 0.0, host: dict | None = None, **rates) -> DeviceProfile:
    return profile_from_times(synthetic_times(**rates), name, load=load, host=host)


def profile_from_times(times: dict[str, BenchTimes], name: str = "synthetic", *, load: float = 0.0,
                       host: dict | None = None) -> DeviceProfile:
    """A profile whose benchmarks took ``times``."""
    h = HostInfo.from_dict({**HOST, **(host or {})})
    figures = _figures(times)
    run = RunInfo(threads_all=h.cores_logical, wall_seconds=7.5, quick=False, background_load_cores=load,
                  steal_percent=0.0, rounds=6, disturbed_blocks=0, retimed_blocks=0, unsettled_benchmarks=0)
    return DeviceProfile(name, "2026-01-02T03:04:05+00:00", h, run, figures, MappingProxyType(times),
                         derive(figures, run, h))
