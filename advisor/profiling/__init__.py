"""Device profiles: measure a device in seconds, save it under a name, predict latency from it.

Example:
    >>> profile = profile_device("lab-pi")                       # doctest: +SKIP
    >>> path = save_profile(profile, "profiles")                 # profiles/lab-pi.yaml  # doctest: +SKIP
    >>> profile = ProfileStore("profiles").load("lab-pi")        # doctest: +SKIP
    >>> predict_latency("model.onnx", profile, threads=1).p50_ms  # doctest: +SKIP
    0.412
    >>> sanitize_name("lab pi/3")
    'lab-pi-3'

See docs/profiles.md for the YAML schema, the commands and how prediction works.
"""

from advisor.profiling._bench import BENCH_IDS, BENCHMARKS, REAL_IDS, BenchSpec
from advisor.profiling._compare import ProfileDiff, compare_profiles
from advisor.profiling._facts import DeviceFacts
from advisor.profiling._host import cpu_isa, probe_host
from advisor.profiling._names import check_name, sanitize_name
from advisor.profiling._profile import (
    FIGURE_BENCHMARKS,
    SCHEMA_VERSION,
    BenchTimes,
    ConvFigures,
    Derived,
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
from advisor.profiling._profiler import default_name, profile_device
from advisor.profiling._store import (
    DEFAULT_PROFILES_DIR,
    ProfileEntry,
    ProfileStore,
    dump_profile,
    load_profile,
    parse_profile,
    save_profile,
)

# The predictor (scipy, the ONNX cost counter, torch through advisor.models) loads on first use,
# so that `advisor profile` starts without it (start-up: the whole command must take <= 10 s).
_LAZY = {"Prediction": "predict", "predict_latency": "predict", "roofline_floor_ms": "predict"}


def __getattr__(name: str):
    if name in _LAZY:
        from advisor.profiling import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'advisor.profiling' has no attribute '{name}'")


__all__ = [
    "SCHEMA_VERSION",
    "FIGURE_BENCHMARKS",
    "REAL_IDS",
    "PrecisionFigures",
    "ScalingFigures",
    "TransformerFigures",
    "DEFAULT_PROFILES_DIR",
    "BENCHMARKS",
    "BENCH_IDS",
    "BenchSpec",
    "BenchTimes",
    "ConvFigures",
    "Derived",
    "DeviceFacts",
    "DeviceProfile",
    "Figures",
    "GemmFigures",
    "HostInfo",
    "MemoryFigures",
    "OverheadFigures",
    "Prediction",
    "ProfileDiff",
    "ProfileEntry",
    "ProfileStore",
    "RunInfo",
    "check_name",
    "compare_profiles",
    "default_name",
    "derive",
    "dump_profile",
    "load_profile",
    "parse_profile",
    "predict_latency",
    "probe_host",
    "cpu_isa",
    "profile_device",
    "roofline_floor_ms",
    "sanitize_name",
    "save_profile",
]
