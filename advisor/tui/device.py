"""The one place the TUI calls the device profiler (``advisor.profiling``).

If the profiler's names change, only this module changes. No Textual here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor.errors import ProfileError
from advisor.jobs import is_this_device as same
from advisor.measure import MeasureSettings
from advisor.profiling import (
    DeviceFacts,
    DeviceProfile,
    ProfileStore,
    compare_profiles,
    profile_device,
    sanitize_name,
    save_profile,
)
from advisor.progress import RunContext

__all__ = [
    "measure",
    "save",
    "load",
    "saved_names",
    "compare",
    "key_figures",
    "facts",
    "measure_settings",
    "clean_name",
    "name_problem",
]


def clean_name(text: str) -> str:
    """A profile name from what the user typed: spaces and odd characters become ``-``."""
    return sanitize_name(text.strip(), fallback="")


def name_problem(text: str) -> str | None:
    """Why ``text`` cannot be a profile name (``None`` if it can, possibly after :func:`clean_name`)."""
    if not text.strip():
        return "give the profile a name, e.g. pi4-lab"
    if not clean_name(text):
        return f"a profile name needs letters or digits (got '{text.strip()}')"
    return None


def measure(ctx: RunContext, quick: bool = False, disk_path: Path | None = None) -> DeviceProfile:
    """Profile this device now (seconds); reports progress and stops on ``ctx.cancel``."""
    return profile_device(
        quick=quick, ctx=ctx, disk_path=disk_path if disk_path and disk_path.is_dir() else "."
    )


def save(profile: DeviceProfile, name: str, directory: Path) -> tuple[DeviceProfile, Path]:
    """Save ``profile`` as ``directory/NAME.yaml`` (the name is cleaned first).

    Returns the profile under its new name and the file written."""
    problem = name_problem(name)
    if problem:
        raise ProfileError(problem)
    named = profile.renamed(clean_name(name))
    return named, save_profile(named, directory)


def load(name: str, directory: Path) -> DeviceProfile:
    """A saved profile by name (in ``directory``) or by path to its YAML file."""
    return ProfileStore(directory).resolve(name)


def saved_names(directory: Path) -> list[str]:
    return ProfileStore(directory).names()


def compare(a: DeviceProfile, b: DeviceProfile) -> list[tuple[str, str, str, str]]:
    """Key figures side by side: ``(figure, a, b, b/a)`` for every figure either profile has
    (the rows of :func:`advisor.profiling.compare_profiles`, with readable labels)."""
    return [
        (LABELS.get(d.figure, d.figure), _fmt(d.a), _fmt(d.b), "" if d.ratio is None else f"{d.ratio:.2f}x")
        for d in compare_profiles(a, b)
    ]


def key_figures(profile: DeviceProfile | None) -> dict[str, Any]:
    """The profile's key figures (``{}`` without a profile)."""
    if profile is None:
        return {}
    return dict(profile.key_figures())


def measure_settings(profile: DeviceProfile | None) -> MeasureSettings:
    """Timing settings for this device: the profile's suggested threads and spinning, else the
    defaults (one thread, no spinning)."""
    if profile is None:
        return MeasureSettings()
    return replace(profile.measure_settings(), device=profile.name)


def is_this_device(profile: DeviceProfile | None) -> bool:
    """Does ``profile`` describe the machine the TUI runs on? (A profile of another device makes
    the advice predict latencies for it instead of measuring them.)"""
    if profile is None or not hasattr(profile, "host"):
        return True

    return same(profile)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        shown = ", ".join(str(x) for x in v[:6])
        return (shown + (f" +{len(v) - 6} more" if len(v) > 6 else "")) or "-"
    return str(v)


LABELS = {
    "profile": "profile name",
    "cpu": "CPU",
    "arch": "architecture",
    "cores_logical": "logical cores",
    "cores_physical": "physical cores",
    "isa": "ISA features",
    "conv_fp32_gflops": "FP32 conv GFLOP/s",
    "conv_int8_gops": "INT8 conv GOP/s",
    "gemm_fp32_gflops": "FP32 GEMM GFLOP/s",
    "gemm_int8_gops": "INT8 GEMM GOP/s",
    "bandwidth_gbs": "memory bandwidth GB/s",
    "int8_speedup": "INT8 / FP32 speed",
    "int8_gemm_speedup": "INT8 / FP32 speed, GEMM",
    "int8_dynamic_speedup": "dynamic INT8 / FP32",
    "fp16_speedup": "FP16 / FP32 speed",
    "suggested_threads": "timing threads",
    "suggested_spinning": "thread spinning",
    "energy_sensor": "energy sensor",
    "background_load_cores": "background load (cores)",
    "profiled": "profiled at",
}


def figure_rows(profile: DeviceProfile | None) -> list[tuple[str, str]]:
    """``(label, value)`` for each key figure, with readable labels."""
    return [(LABELS.get(k, k), _fmt(v)) for k, v in key_figures(profile).items()]


def facts(profile: DeviceProfile | None) -> list[str]:
    """Plain-language facts derived from the key figures, e.g. "INT8 is 3.1x faster than FP32 here".

    The verdicts and their thresholds are :class:`~advisor.profiling.DeviceFacts`', the same the
    ranking rules use."""
    f = DeviceFacts.of(profile)
    out = []
    if profile is not None and not is_this_device(profile):
        out.append(
            f"This profile describes another device ({f.cpu}, {f.cores_logical} cores): "
            "latencies will be predicted for it from its figures, not measured here."
        )
    s8 = f.int8_speedup
    verdict = f.int8_verdict()
    if verdict == "faster":
        out.append(f"INT8 is {s8:.1f}x faster than FP32 here: static INT8 quantization should pay off.")
    elif verdict == "slower":
        out.append(f"INT8 is {1 / s8:.1f}x slower than FP32 here: quantization saves size, not time.")
    elif verdict == "similar":
        out.append(f"INT8 runs about as fast as FP32 here ({s8:.2f}x): quantize for size, not speed.")
    s16 = f.fp16_speedup
    verdict = f.fp16_verdict()
    if verdict == "faster":
        out.append(f"FP16 is {s16:.1f}x faster than FP32 here.")
    elif verdict == "no-gain":
        out.append(f"FP16 gives no speed-up here ({s16:.2f}x FP32): it halves the size only.")
    if f.int8_dynamic_verdict() == "slower":
        out.append(
            f"Dynamic INT8 convolutions run {1 / f.int8_dynamic_speedup:.1f}x slower than FP32 here: "
            "prefer static INT8."
        )
    t = f.suggested_threads
    if t:
        load = f.number("background_load_cores")
        why = f" (background load {load:.2f} cores while profiling)" if load is not None else ""
        out.append(f"Latency will be measured with {t} intra-op thread(s){why}.")
    return out
