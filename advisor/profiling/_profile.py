"""The device profile: what was measured on a device, as frozen values with a versioned schema.

A profile is saved as YAML (see docs/profiles.md for every field and unit) and validated field
by field when loaded; the derived advice facts (INT8 and FP16 speed-ups, suggested threads and
spinning) are computed from the measured figures, never typed in.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from advisor.errors import ProfileError
from advisor.measure import MeasureSettings
from advisor.profiling import _validate as v
from advisor.profiling._bench import (
    BENCH_IDS,
    REAL_CONV,
    REAL_DEPTHWISE,
    REAL_GEMM,
    REAL_POINTWISE,
    TRANSFORMER_IDS,
)
from advisor.profiling._facts import DeviceFacts
from advisor.profiling._names import check_name

__all__ = [
    "SCHEMA_VERSION",
    "HostInfo",
    "RunInfo",
    "GemmFigures",
    "ConvFigures",
    "MemoryFigures",
    "OverheadFigures",
    "PrecisionFigures",
    "TransformerFigures",
    "ScalingFigures",
    "FIGURE_BENCHMARKS",
    "SCALING_BENCHMARKS",
    "Figures",
    "Derived",
    "BenchTimes",
    "DeviceProfile",
    "derive",
    "speedups",
]

SCHEMA_VERSION = 3
# What older schema versions lack, for the one-line error that refuses them.
_OLD_VERSIONS = {1: "its micro-benchmarks lack the real-shaped kernels and per-figure spreads the "
                    "predictor is calibrated on"}
# Older versions read as they are: schema 2 lacks only the run's re-timing record (``None`` here).
_READABLE = (2, SCHEMA_VERSION)
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?$")
_FLAG = re.compile(r"^[a-z0-9_.+-]{1,40}$")


@dataclass(frozen=True)
class HostInfo:
    """What the device is: CPU, cores, ISA features, memory, disk, OS and onnxruntime."""

    cpu: str
    arch: str
    os: str
    cores_logical: int
    cores_physical: int
    isa: tuple[str, ...]
    memory_total_bytes: int
    memory_available_bytes: int
    disk_free_bytes: int
    onnxruntime: str
    providers: tuple[str, ...]
    energy_sensor: str

    @classmethod
    def from_dict(cls, d: Any, path: str = "host") -> HostInfo:
        d = v.mapping(d, path, _names(cls))
        return cls(
            cpu=v.text(d["cpu"], f"{path}.cpu"),
            arch=v.text(d["arch"], f"{path}.arch", max_len=40),
            os=v.text(d["os"], f"{path}.os"),
            cores_logical=v.integer(d["cores_logical"], f"{path}.cores_logical", lo=1, hi=4096),
            cores_physical=v.integer(d["cores_physical"], f"{path}.cores_physical", lo=1, hi=4096),
            isa=tuple(v.text(f, f"{path}.isa[{i}]", max_len=40, pattern=_FLAG)
                      for i, f in enumerate(v.text_list(d["isa"], f"{path}.isa"))),
            memory_total_bytes=v.integer(d["memory_total_bytes"], f"{path}.memory_total_bytes"),
            memory_available_bytes=v.integer(d["memory_available_bytes"], f"{path}.memory_available_bytes"),
            disk_free_bytes=v.integer(d["disk_free_bytes"], f"{path}.disk_free_bytes"),
            onnxruntime=v.text(d["onnxruntime"], f"{path}.onnxruntime", max_len=40),
            providers=v.text_list(d["providers"], f"{path}.providers"),
            energy_sensor=v.text(d["energy_sensor"], f"{path}.energy_sensor", max_len=80),
        )

    @property
    def channel_block(self) -> int:
        """Channels per block of onnxruntime's blocked (NCHWc) layout for float convolutions: 16
        with AVX-512 and 8 with AVX2 on x86; 1 elsewhere (no blocked layout, nothing padded)."""
        if self.arch.lower() not in ("x86_64", "amd64", "x86", "i686", "i386"):
            return 1
        if "avx512f" in self.isa:
            return 16
        return 8 if ("avx2" in self.isa or "avx" in self.isa) else 1


@dataclass(frozen=True)
class RunInfo:
    """How the profile was taken: thread settings, wall time, budget, the machine's load, and
    (schema 3) the timing's record: interleaved rounds per thread setting, timed blocks a busy
    machine disturbed, blocks re-timed, and benchmark figures (per thread setting) left with fewer
    than the undisturbed rounds they need. Those four are ``None`` in a schema-2 profile."""

    threads_all: int
    wall_seconds: float
    quick: bool
    background_load_cores: float
    steal_percent: float
    rounds: int | None = None
    disturbed_blocks: int | None = None
    retimed_blocks: int | None = None
    unsettled_benchmarks: int | None = None

    @classmethod
    def from_dict(cls, d: Any, path: str = "run", version: int = SCHEMA_VERSION) -> RunInfo:
        names = _names(cls) if version >= 3 else _names(cls) - set(_RUN_V3)
        d = v.mapping(d, path, names)
        return cls(
            threads_all=v.integer(d["threads_all"], f"{path}.threads_all", lo=1, hi=4096),
            wall_seconds=v.number(d["wall_seconds"], f"{path}.wall_seconds", hi=1e6),
            quick=v.boolean(d["quick"], f"{path}.quick"),
            background_load_cores=v.number(d["background_load_cores"], f"{path}.background_load_cores",
                                           positive=False, hi=4096),
            steal_percent=v.number(d["steal_percent"], f"{path}.steal_percent", positive=False, hi=100),
            **{k: v.integer(d[k], f"{path}.{k}", lo=lo, hi=10**7) for k, lo in _RUN_V3.items() if k in names},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values; the schema-3 fields only when recorded (a schema-2 profile stays schema 2)."""
        return {k: val for k, val in asdict(self).items() if not (k in _RUN_V3 and val is None)}


# Schema 3's additions to ``run``, with their least values.
_RUN_V3 = {"rounds": 1, "disturbed_blocks": 0, "retimed_blocks": 0, "unsettled_benchmarks": 0}


class _Group:
    """Headline figures of one kind: every field a positive number (units in the field name)."""

    @classmethod
    def from_dict(cls, d: Any, path: str):
        d = v.mapping(d, path, _names(cls))
        return cls(**{k: v.number(d[k], f"{path}.{k}", hi=1e9) for k in _names(cls)})


@dataclass(frozen=True)
class PrecisionFigures(_Group):
    """One real-shaped kernel in FP32, static INT8 (QDQ, per-channel) and FP16: GFLOP/s (INT8:
    GOP/s), 2 operations per multiply-add."""

    fp32_gflops_1t: float
    fp32_gflops_all: float
    int8_gops_1t: float
    int8_gops_all: float
    fp16_gflops_1t: float
    fp16_gflops_all: float


@dataclass(frozen=True)
class GemmFigures(PrecisionFigures):
    """128-token transformer projections ``[128, 384] x [384, 384]`` (the fields of
    :class:`PrecisionFigures`)."""


@dataclass(frozen=True)
class ConvFigures(_Group):
    """3x3 convolutions over 32 channels at 112x112 (dynamic INT8: 32 channels at 16x16)."""

    fp32_gflops_1t: float
    fp32_gflops_all: float
    int8_gops_1t: float
    int8_gops_all: float
    int8_dynamic_gops_1t: float
    int8_dynamic_gops_all: float
    fp16_gflops_1t: float
    fp16_gflops_all: float


@dataclass(frozen=True)
class TransformerFigures(_Group):
    """Element-wise transformer kernels at 128 tokens, in G elements per second: Softmax over
    [12, 128, 128] (and the same with a quarter of each row masked to the float minimum, as
    padding leaves it), LayerNormalization over [128, 384], GELU (exported erf form) over [128, 1536]."""

    softmax_gelems_1t: float
    softmax_gelems_all: float
    softmax_masked_gelems_1t: float
    softmax_masked_gelems_all: float
    layernorm_gelems_1t: float
    layernorm_gelems_all: float
    gelu_gelems_1t: float
    gelu_gelems_all: float


@dataclass(frozen=True)
class ScalingFigures(_Group):
    """How each real-shaped kernel class scales from 1 thread to all cores: time at 1 thread
    over time at all cores (1.0: no gain; the core count: perfect scaling)."""

    conv: float
    pointwise: float
    depthwise: float
    gemm: float
    conv_int8: float
    pointwise_int8: float
    depthwise_int8: float
    gemm_int8: float
    softmax: float
    layernorm: float
    gelu: float


@dataclass(frozen=True)
class MemoryFigures(_Group):
    """Bandwidth of element-wise work: over 4 MB (beyond the core caches) and over 64 KB activations."""

    bandwidth_gbs_1t: float
    bandwidth_gbs_all: float
    cache_gbs_1t: float
    cache_gbs_all: float


@dataclass(frozen=True)
class OverheadFigures(_Group):
    """Cost of one inference call (microseconds) and of one trivial node in a graph."""

    run_us_1t: float
    run_us_all: float
    node_us_1t: float
    node_us_all: float


@dataclass(frozen=True)
class Figures:
    """The headline figures people read (the predictor uses the full ``benchmarks`` table).

    Every throughput comes from a real-shaped kernel (see ``FIGURE_BENCHMARKS``)."""

    gemm: GemmFigures
    conv: ConvFigures
    pointwise: PrecisionFigures
    depthwise: PrecisionFigures
    transformer: TransformerFigures
    memory: MemoryFigures
    overhead: OverheadFigures
    scaling: ScalingFigures

    @classmethod
    def from_dict(cls, d: Any, path: str = "figures") -> Figures:
        d = v.mapping(d, path, _names(cls))
        return cls(**{f.name: f.type_cls.from_dict(d[f.name], f"{path}.{f.name}") for f in _GROUPS})

    def groups(self) -> tuple[str, ...]:
        return tuple(f.name for f in _GROUPS)


@dataclass(frozen=True)
class _GroupField:
    name: str
    type_cls: type


_GROUPS = (_GroupField("gemm", GemmFigures), _GroupField("conv", ConvFigures),
           _GroupField("pointwise", PrecisionFigures), _GroupField("depthwise", PrecisionFigures),
           _GroupField("transformer", TransformerFigures), _GroupField("memory", MemoryFigures),
           _GroupField("overhead", OverheadFigures), _GroupField("scaling", ScalingFigures))

# The micro-benchmark each figure (``group.name`` without the thread suffix) comes from: its
# ``spread`` is the figure's own measured spread.
_KINDS = (("conv", REAL_CONV), ("pointwise", REAL_POINTWISE), ("depthwise", REAL_DEPTHWISE), ("gemm", REAL_GEMM))
FIGURE_BENCHMARKS: dict[str, str] = {
    **{f"{grp}.{p}_{unit}": bid.format(p) for grp, bid in _KINDS
       for p, unit in (("fp32", "gflops"), ("int8", "gops"), ("fp16", "gflops"))},
    "conv.int8_dynamic_gops": "conv_int8dyn_c32s16",
    **{f"transformer.{op}_gelems": bid for op, bid in TRANSFORMER_IDS.items()},
    "memory.bandwidth_gbs": "copy",
    "memory.cache_gbs": "eltwise",
    "overhead.run_us": "run",
    "overhead.node_us": "nodes",
}
# The benchmark each thread-scaling ratio (``scaling.<name>``) compares at 1 thread and at all cores.
SCALING_BENCHMARKS: dict[str, str] = {
    **{f"{grp}{sfx}": bid.format(p) for grp, bid in _KINDS for p, sfx in (("fp32", ""), ("int8", "_int8"))},
    **{op: TRANSFORMER_IDS[op] for op in ("softmax", "layernorm", "gelu")},
}


@dataclass(frozen=True)
class BenchTimes:
    """Median microseconds per run of one micro-benchmark, at 1 thread and at all cores, and
    each one's measured spread (half the range of the per-round medians over the median)."""

    us_1t: float
    us_all: float
    spread_1t: float = 0.0
    spread_all: float = 0.0

    def us(self, threads: int) -> float:
        return self.us_1t if threads <= 1 else self.us_all

    def spread(self, threads: int) -> float:
        return self.spread_1t if threads <= 1 else self.spread_all


@dataclass(frozen=True)
class Derived:
    """Advice facts computed from the figures (see :func:`derive`)."""

    int8_speedup: float
    int8_gemm_speedup: float
    int8_dynamic_speedup: float
    fp16_speedup: float
    suggested_threads: int
    suggested_spinning: bool

    @classmethod
    def from_dict(cls, d: Any, path: str = "derived") -> Derived:
        d = v.mapping(d, path, _names(cls))
        return cls(
            int8_speedup=v.number(d["int8_speedup"], f"{path}.int8_speedup", hi=1e6),
            int8_gemm_speedup=v.number(d["int8_gemm_speedup"], f"{path}.int8_gemm_speedup", hi=1e6),
            int8_dynamic_speedup=v.number(d["int8_dynamic_speedup"], f"{path}.int8_dynamic_speedup", hi=1e6),
            fp16_speedup=v.number(d["fp16_speedup"], f"{path}.fp16_speedup", hi=1e6),
            suggested_threads=v.integer(d["suggested_threads"], f"{path}.suggested_threads", lo=1, hi=4096),
            suggested_spinning=v.boolean(d["suggested_spinning"], f"{path}.suggested_spinning"),
        )


def derive(figures: Figures, run: RunInfo, host: HostInfo) -> Derived:
    """The advice facts, from measured figures only.

    * ``suggested_threads`` (what latencies are timed at): every core but one, so the timing loop
      and the rest of the machine keep a core (on this 2-core VM, 2 spinning threads gave block
      noise up to +-97% and 1 thread +-2%, docs/ecosystem); 1 when other work held at least half a
      core while profiling (threads that wait for a core make every inference slower: 2 spinning
      threads on a busy 2-core host ran 2x slower than 1), or when all cores give less than 1.15x
      the one-thread FP32 convolution throughput.
    * ``suggested_spinning``: only with several threads on a quiet host (background < 0.1 core,
      hypervisor steal < 2%): spinning trades CPU time for wake-up latency.
    * ``int8_speedup``: static INT8 over FP32 for a CNN, geometric mean of the throughput ratios
      of the real-shaped 3x3, pointwise and depthwise convolutions at the suggested thread count;
      ``int8_gemm_speedup`` the same for the 128-token transformer GEMM (INT8 matrix products
      gain far more than convolutions on VNNI/AMX CPUs, so one number would misstate both);
      ``fp16_speedup`` FP16 over FP32 over all four kernels; ``int8_dynamic_speedup`` the dynamic
      INT8 convolution (ConvInteger) over the FP32 3x3 convolution.
    """
    busy = run.background_load_cores + run.steal_percent / 100.0 * host.cores_logical
    scaling = figures.conv.fp32_gflops_all / figures.conv.fp32_gflops_1t
    threads = 1 if (run.threads_all <= 2 or busy >= 0.5 or scaling < 1.15) else run.threads_all - 1
    spinning = threads > 1 and run.background_load_cores < 0.1 and run.steal_percent < 2.0
    s = speedups(figures, "1t" if threads == 1 else "all")
    return Derived(s["int8_speedup"], s["int8_gemm_speedup"], s["int8_dynamic_speedup"], s["fp16_speedup"], threads,
                   spinning)


def speedups(figures: Figures, sfx: str) -> dict[str, float]:
    """The derived speed-ups (see :func:`derive`) at one thread setting: ``sfx`` ``1t`` or ``all``."""
    c = figures.conv
    convs = (figures.conv, figures.pointwise, figures.depthwise)

    def fig(group, name: str) -> float:
        return getattr(group, f"{name}_{sfx}")

    def ratio(name: str, kinds) -> float:
        logs = [math.log(fig(k, name) / fig(k, "fp32_gflops")) for k in kinds]
        return math.exp(sum(logs) / len(logs))

    out = {"int8_speedup": ratio("int8_gops", convs), "int8_gemm_speedup": ratio("int8_gops", (figures.gemm,)),
           "int8_dynamic_speedup": fig(c, "int8_dynamic_gops") / fig(c, "fp32_gflops"),
           "fp16_speedup": ratio("fp16_gflops", (*convs, figures.gemm))}
    return {k: round(v, 3) for k, v in out.items()}


@dataclass(frozen=True)
class DeviceProfile:
    """Everything measured about one device, under a name.

    ``benchmarks`` maps each micro-benchmark id (``advisor.profiling.BENCH_IDS``) to its
    :class:`BenchTimes`; ``derived`` is recomputed from ``figures`` when a profile is built or
    loaded, so it can never disagree with them.
    """

    name: str
    created: str
    host: HostInfo
    run: RunInfo
    figures: Figures
    benchmarks: MappingProxyType
    derived: Derived
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        missing = [k for k in _RUN_V3 if getattr(self.run, k) is None]
        if self.schema_version >= 3 and missing:
            raise ValueError(f"a schema-{self.schema_version} profile records the timing: run.{missing[0]} is None")

    # -- the views other stages use ---------------------------------------------------------
    @property
    def threads_all(self) -> int:
        return self.run.threads_all

    @property
    def channel_block(self) -> int:
        return self.host.channel_block

    def benchmark_us(self, bench_id: str, threads: int) -> float:
        """Microseconds per run of micro-benchmark ``bench_id`` at ``threads`` (1 or all cores)."""
        return self.benchmarks[bench_id].us(threads)

    def benchmark_spread(self, bench_id: str, threads: int) -> float:
        """Measured relative spread of micro-benchmark ``bench_id`` at ``threads``."""
        return self.benchmarks[bench_id].spread(threads)

    def figure_spread(self, figure: str) -> float:
        """The measured spread of a figure, e.g. ``conv.fp32_gflops_1t``: its benchmark's spread
        at that thread setting; for a thread-scaling ratio (``scaling.conv``) the root sum of
        squares of its benchmark's spreads at 1 thread and at all cores. 0 for a name with no
        source benchmark."""
        group, _, name = figure.partition(".")
        if group == "scaling":
            bid = SCALING_BENCHMARKS.get(name)
            return 0.0 if bid is None else math.hypot(self.benchmark_spread(bid, 1),
                                                      self.benchmark_spread(bid, self.threads_all))
        stem, _, sfx = figure.rpartition("_")
        bid = FIGURE_BENCHMARKS.get(stem)
        return 0.0 if bid is None else self.benchmark_spread(bid, 1 if sfx == "1t" else self.threads_all)

    def headline_figures(self) -> dict[str, float]:
        """The figures the advice reads from this profile, by name: every throughput and overhead
        figure at 1 thread (the predictor's setting, and the default timing's on a busy machine)
        and the speed-ups derived from them (``derived.int8_speedup_1t``...); the same at all cores
        when the profile suggests all cores (the rules and the default timing then use them). The
        derived facts are the speed-ups at the suggested setting. Thread-scaling ratios are not
        among them (nothing reads them; each is two headline figures' ratio)."""
        sfxs = ("1t",) if self.derived.suggested_threads == 1 else ("1t", "all")
        plain = self.to_dict()["figures"]
        out: dict[str, float] = {}
        for sfx in sfxs:
            out.update({f"{g}.{k}": val for g in self.figures.groups() if g != "scaling"
                        for k, val in plain[g].items() if k.endswith(f"_{sfx}")})
            out.update({f"derived.{k}_{sfx}": val for k, val in speedups(self.figures, sfx).items()})
        return out

    def facts(self) -> DeviceFacts:
        """The key figures as one typed value (what the rules, the TUI and the records read)."""
        return DeviceFacts.from_profile(self)

    def key_figures(self) -> dict[str, Any]:
        """The small summary the advice shows in its ``device`` section (:meth:`facts` as a dict)."""
        return self.facts().to_dict()

    def measure_settings(self):
        """:class:`advisor.measure.MeasureSettings` with the suggested threads and spinning."""
        return MeasureSettings(threads=self.derived.suggested_threads, spinning=self.derived.suggested_spinning)

    def renamed(self, name: str) -> DeviceProfile:
        """The same measurements under another (valid) name."""
        return replace(self, name=check_name(name))

    # -- plain values ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain values (the YAML document): tuples become lists, the mapping a dict."""

        def plain(x):
            return {k: (list(val) if isinstance(val, tuple) else val) for k, val in asdict(x).items()}

        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "created": self.created,
            "host": plain(self.host),
            "run": self.run.to_dict(),
            "figures": {k: plain(getattr(self.figures, k)) for k in self.figures.groups()},
            "derived": plain(self.derived),
            "benchmarks": {k: plain(t) for k, t in self.benchmarks.items()},
        }

    @classmethod
    def from_dict(cls, doc: Any) -> DeviceProfile:
        """Validate a plain document (e.g. from YAML) and build the profile.

        Raises:
            ProfileError: one line naming the first bad field.
        """
        if not isinstance(doc, dict):
            raise ProfileError(f"profile must be a mapping of fields, got {v.show(doc)}")
        if "schema_version" not in doc:
            raise ProfileError("profile field 'schema_version' is missing")
        ver = doc["schema_version"]
        if isinstance(ver, bool) or not isinstance(ver, int):
            raise ProfileError(f"profile field 'schema_version' must be an integer, got {v.show(ver)}")
        if ver in _OLD_VERSIONS:
            raise ProfileError(f"profile schema_version {ver} is older than this advisor's {SCHEMA_VERSION}: "
                               f"{_OLD_VERSIONS[ver]}; run `advisor profile` again on that device")
        if ver not in _READABLE:
            raise ProfileError(f"profile field 'schema_version' is {ver}; this advisor reads versions "
                               f"{', '.join(map(str, _READABLE))} (profile again with this version)")
        d = v.mapping(doc, "", {"schema_version", "name", "created", "host", "run", "figures", "derived",
                                "benchmarks"})
        try:
            name = check_name(v.text(d["name"], "name", max_len=200))
        except ProfileError as e:
            raise ProfileError(f"profile field 'name': {e}") from None
        host = HostInfo.from_dict(d["host"])
        run = RunInfo.from_dict(d["run"], version=ver)
        figures = Figures.from_dict(d["figures"])
        stored = Derived.from_dict(d["derived"])
        bench = v.mapping(d["benchmarks"], "benchmarks", set(BENCH_IDS))
        times = {}
        for bid in BENCH_IDS:
            entry = v.mapping(bench[bid], f"benchmarks.{bid}", _names(BenchTimes))
            times[bid] = BenchTimes(
                *(v.number(entry[k], f"benchmarks.{bid}.{k}", hi=1e9) for k in ("us_1t", "us_all")),
                *(v.number(entry[k], f"benchmarks.{bid}.{k}", positive=False, hi=100.0)
                  for k in ("spread_1t", "spread_all")))
        if run.threads_all > host.cores_logical:
            raise ProfileError(f"profile field 'run.threads_all' is {run.threads_all}, more than "
                               f"host.cores_logical ({host.cores_logical})")
        derived = derive(figures, run, host)
        _check_derived(stored, derived)
        return cls(name, v.text(d["created"], "created", max_len=40, pattern=_ISO), host, run, figures,
                   MappingProxyType(times), derived, schema_version=ver)


def _check_derived(stored: Derived, computed: Derived) -> None:
    for f in fields(Derived):
        a, b = getattr(stored, f.name), getattr(computed, f.name)
        same = abs(a - b) <= 0.01 * max(abs(b), 1e-9) + 0.001 if isinstance(b, float) else a == b
        if not same:
            raise ProfileError(f"profile field 'derived.{f.name}' is {v.show(a)} but the measured figures give "
                               f"{v.show(b)}; derived facts cannot be edited (profile again instead)")


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)}
