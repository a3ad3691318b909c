"""Device facts: the key figures of a :class:`~advisor.profiling.DeviceProfile` as one typed
value, and the verdicts drawn from them (with their thresholds) in one place.

The ranking rules, the knowledge-base records and the TUI's device screen all read a device
through :class:`DeviceFacts`, so "INT8 is faster here" means the same threshold everywhere.

Example:
    >>> f = DeviceFacts(int8_speedup=1.3, fp16_speedup=0.96)
    >>> f.int8_verdict(), f.fp16_verdict(), DeviceFacts().int8_verdict()
    ('faster', 'no-gain', None)
    >>> DeviceFacts.from_dict(f.to_dict()) == f
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # _profile's DeviceProfile.facts() calls from_profile: a run-time import would be a cycle
    from advisor.profiling._profile import DeviceProfile

__all__ = ["DeviceFacts", "Verdict"]

#: How a precision runs against FP32 on the device.
Verdict = Literal["faster", "similar", "slower", "no-gain"]


def _number(v: Any) -> float | None:
    """A finite number as float, else ``None`` (bools are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


@dataclass(frozen=True)
class DeviceFacts:
    """What the advice knows about a device: a profile's key figures (``None`` = unknown).

    ``DeviceFacts()`` (every field ``None``) stands for "no profile". The dict form
    (:meth:`to_dict`) is the profile's ``key_figures()`` -- the advice's ``device`` section and
    what the knowledge base keeps.

    Attributes:
        profile: the profile's name.
        cpu, arch: the CPU model and architecture.
        cores_logical, cores_physical: core counts.
        isa: ISA features (``avx2``, ``neon``...).
        conv_fp32_gflops, conv_int8_gops, gemm_fp32_gflops, gemm_int8_gops, bandwidth_gbs:
            measured throughputs at the suggested thread count.
        int8_speedup: static INT8 over FP32 convolution speed (measured).
        int8_gemm_speedup: the same for GEMMs.
        int8_dynamic_speedup: dynamic INT8 (ConvInteger) over FP32.
        fp16_speedup: FP16 over FP32.
        suggested_threads, suggested_spinning: how latencies are timed on the device.
        energy_sensor: the energy sensor, if any.
        background_load_cores: cores busy with other work while profiling.
        profiled: when the profile was measured (ISO time).
    """

    profile: str | None = None
    cpu: str | None = None
    arch: str | None = None
    cores_logical: int | None = None
    cores_physical: int | None = None
    isa: tuple[str, ...] | None = None
    conv_fp32_gflops: float | None = None
    conv_int8_gops: float | None = None
    gemm_fp32_gflops: float | None = None
    gemm_int8_gops: float | None = None
    bandwidth_gbs: float | None = None
    int8_speedup: float | None = None
    int8_gemm_speedup: float | None = None
    int8_dynamic_speedup: float | None = None
    fp16_speedup: float | None = None
    suggested_threads: int | None = None
    suggested_spinning: bool | None = None
    energy_sensor: str | None = None
    background_load_cores: float | None = None
    profiled: str | None = None

    #: INT8 at least this much faster than FP32 is "faster" (the rules move INT8 strategies up).
    INT8_FASTER: ClassVar[float] = 1.2
    #: Any precision below this fraction of FP32 speed is "slower" (INT8 strategies move down).
    SLOWER: ClassVar[float] = 0.9
    #: FP16 below this over FP32 is "no-gain": F16 halves the file, not the latency.
    FP16_FASTER: ClassVar[float] = 1.1
    #: Background load (share of the logical cores) from which the device counts as busy.
    BUSY_SHARE: ClassVar[float] = 0.25

    def __post_init__(self) -> None:
        if self.isa is not None and not isinstance(self.isa, tuple):
            object.__setattr__(self, "isa", tuple(self.isa))

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> DeviceFacts:
        """The facts of a measured profile: its host, the figures at its suggested thread count,
        its derived speed-ups and suggestions, its background load (``DeviceProfile.facts()``)."""
        d, f, host = profile.derived, profile.figures, profile.host
        sfx = "1t" if d.suggested_threads == 1 else "all"
        return cls(
            profile=profile.name,
            cpu=host.cpu,
            arch=host.arch,
            cores_logical=host.cores_logical,
            cores_physical=host.cores_physical,
            isa=tuple(host.isa),
            conv_fp32_gflops=getattr(f.conv, f"fp32_gflops_{sfx}"),
            conv_int8_gops=getattr(f.conv, f"int8_gops_{sfx}"),
            gemm_fp32_gflops=getattr(f.gemm, f"fp32_gflops_{sfx}"),
            gemm_int8_gops=getattr(f.gemm, f"int8_gops_{sfx}"),
            bandwidth_gbs=getattr(f.memory, f"bandwidth_gbs_{sfx}"),
            int8_speedup=d.int8_speedup,
            int8_gemm_speedup=d.int8_gemm_speedup,
            int8_dynamic_speedup=d.int8_dynamic_speedup,
            fp16_speedup=d.fp16_speedup,
            suggested_threads=d.suggested_threads,
            suggested_spinning=d.suggested_spinning,
            energy_sensor=host.energy_sensor,
            background_load_cores=profile.run.background_load_cores,
            profiled=profile.created,
        )

    @classmethod
    def of(cls, profile: DeviceProfile | None) -> DeviceFacts:
        """The facts of ``profile``: its own ``facts()`` (typed, no dict in between); for any other
        object with ``key_figures()`` (a stand-in) the dict form read back; empty for ``None``."""
        if profile is None:
            return cls()
        facts = getattr(profile, "facts", None)
        return facts() if callable(facts) else cls.from_dict(profile.key_figures())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DeviceFacts:
        """From the dict form (``key_figures()``, a record's facts); missing keys are unknown,
        keys this version does not know are ignored (records written by other versions)."""
        if not d:
            return cls()
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The dict form, as ``DeviceProfile.key_figures()`` gives it (``isa`` a list)."""
        d = asdict(self)
        if d["isa"] is not None:
            d["isa"] = list(d["isa"])
        return d

    @property
    def is_empty(self) -> bool:
        """No profile behind these facts (every field unknown)."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def number(self, name: str) -> float | None:
        """Field ``name`` as a finite float, or ``None`` when unknown or not a number."""
        return _number(getattr(self, name))

    def int8_verdict(self) -> Verdict | None:
        """Static INT8 against FP32 here: ``faster`` (>= 1.2x), ``slower`` (< 0.9x) or
        ``similar``; ``None`` when not measured."""
        return self._verdict(self.number("int8_speedup"), self.INT8_FASTER)

    def int8_dynamic_verdict(self) -> Verdict | None:
        """Dynamic INT8 against FP32 here, with the same thresholds as :meth:`int8_verdict`."""
        return self._verdict(self.number("int8_dynamic_speedup"), self.INT8_FASTER)

    def fp16_verdict(self) -> Verdict | None:
        """FP16 against FP32 here: ``faster`` (>= 1.1x) or ``no-gain``; ``None`` when not measured."""
        s = self.number("fp16_speedup")
        if s is None:
            return None
        return "faster" if s >= self.FP16_FASTER else "no-gain"

    def busy_share(self) -> float | None:
        """Background load while profiling as a share of the logical cores (``None`` unknown)."""
        busy = self.number("background_load_cores")
        return None if busy is None else busy / (self.cores_logical or 1)

    def is_busy(self) -> bool:
        """The device was busy (>= 25% of its cores) while profiled."""
        share = self.busy_share()
        return share is not None and share >= self.BUSY_SHARE

    def _verdict(self, s: float | None, faster: float) -> Verdict | None:
        if s is None:
            return None
        if s >= faster:
            return "faster"
        return "slower" if s < self.SLOWER else "similar"
