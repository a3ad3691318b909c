"""Probes of the host: CPU model, cores, ISA features, memory, disk, OS, onnxruntime, energy sensor.

Linux (x86 and ARM) reads ``/proc/cpuinfo``; macOS asks ``sysctl``; anything else falls back to
:mod:`platform`. Only the features that matter to inference kernels are reported, under one
vocabulary across vendors (see docs/profiles.md).
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import onnxruntime as ort
import psutil

from advisor.measure.energy import energy_sensor

__all__ = ["probe_host", "cpu_isa", "isa_features", "X86_FEATURES", "ARM_FEATURES"]

# /proc/cpuinfo flag -> reported name. x86: vector width, VNNI (INT8 dot products), AMX (INT8/BF16
# tiles), F16C / AVX512-FP16 (half precision).
X86_FEATURES = {
    "sse4_2": "sse4_2", "avx": "avx", "fma": "fma", "f16c": "f16c", "avx2": "avx2",
    "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vl": "avx512vl", "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni", "avx512_bf16": "avx512_bf16", "avx512_fp16": "avx512_fp16",
    "amx_tile": "amx_tile", "amx_int8": "amx_int8", "amx_bf16": "amx_bf16",
}
# ARM: NEON (asimd), dot product (INT8), half precision arithmetic, INT8 matrix multiply, SVE.
ARM_FEATURES = {
    "asimd": "neon", "neon": "neon", "asimddp": "asimddp", "fphp": "fphp", "asimdhp": "asimdhp",
    "i8mm": "i8mm", "bf16": "bf16", "sve": "sve", "sve2": "sve2",
}
_MAC_SYSCTL = {
    "hw.optional.avx2_0": "avx2", "hw.optional.avx512f": "avx512f", "hw.optional.avx512vnni": "avx512_vnni",
    "hw.optional.f16c": "f16c", "hw.optional.neon": "neon", "hw.optional.arm.FEAT_DotProd": "asimddp",
    "hw.optional.arm.FEAT_FP16": "asimdhp", "hw.optional.arm.FEAT_I8MM": "i8mm", "hw.optional.arm.FEAT_BF16": "bf16",
}


def isa_features(flags: set[str]) -> tuple[str, ...]:
    """Map raw CPU flags (x86 ``flags`` or ARM ``Features``) to the reported feature names."""
    out = {X86_FEATURES[f] for f in flags if f in X86_FEATURES}
    out |= {ARM_FEATURES[f] for f in flags if f in ARM_FEATURES}
    return tuple(sorted(out))


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key, val = key.strip().lower(), val.strip()
        if key in ("model name", "hardware", "cpu model", "model") and not model and val and not val.isdigit():
            model = val
        elif key in ("flags", "features") and not flags:
            flags = set(val.split())
    return model, flags


def _sysctl(name: str) -> str:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_and_isa() -> tuple[str, tuple[str, ...]]:
    model, flags = _cpuinfo()
    if platform.system() == "Darwin":
        model = model or _sysctl("machdep.cpu.brand_string")
        isa = {tag for key, tag in _MAC_SYSCTL.items() if _sysctl(key) == "1"}
        if platform.machine() == "arm64":
            isa.add("neon")
        return model or platform.machine(), tuple(sorted(isa))
    if not model:
        model = platform.processor() or platform.machine() or "unknown"
    return model, isa_features(flags)


def cpu_isa() -> tuple[str, ...]:
    """This CPU's reported ISA features (``avx2``, ``avx512_vnni``, ``neon``, ...), as in a profile's ``host.isa``."""
    return _cpu_and_isa()[1]


def probe_host(disk_path: Path | str = ".") -> dict:
    """The ``host`` section of a profile, as plain values (free disk measured at ``disk_path``)."""
    cpu, isa = _cpu_and_isa()
    logical = psutil.cpu_count(logical=True) or 1
    physical = psutil.cpu_count(logical=False) or logical
    vm = psutil.virtual_memory()
    p = Path(disk_path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = psutil.disk_usage(str(p)).free
    except OSError:
        free = 0
    return {
        "cpu": " ".join(cpu.split())[:200],
        "arch": platform.machine() or "unknown",
        "os": platform.platform(terse=True)[:200],
        "cores_logical": int(logical),
        "cores_physical": int(physical),
        "isa": list(isa),
        "memory_total_bytes": int(vm.total),
        "memory_available_bytes": int(vm.available),
        "disk_free_bytes": int(free),
        "onnxruntime": ort.__version__,
        "providers": list(ort.get_available_providers()),
        "energy_sensor": energy_sensor(),
    }
