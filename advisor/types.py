"""Plain, frozen values passed between the advisor's stages.

Data flows one way: questionnaire -> :class:`~advisor.budget.Budget` -> device profile ->
candidate strategies -> trials -> :class:`Measurement` -> ranking -> advice with :class:`Reason`.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TensorSpec", "Reason", "Measurement", "LatencyStats", "QualityFigure", "DropFigure", "RatioFigure",
           "LATENCY_SOURCES", "VERDICTS", "Provenance"]

# Where a latency figure comes from. Every surface (advice.md, advice.json, CLI, TUI, plot) shows it.
#   "same-run":  measured here, timed interleaved with the original in the same run
#   "earlier-run": measured here, in a separate (earlier) run, e.g. the one-off baseline timing
#   "predicted": predicted for another device's profile (see LatencyStats.profile, .interval_ms)
LATENCY_SOURCES = ("same-run", "earlier-run", "predicted")


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and element type of one model input or output.

    ``shape`` holds ``None`` for a dimension the model leaves free (usually the batch).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str  # numpy dtype name, e.g. "float32"

    def concrete(self, batch: int = 1) -> tuple[int, ...]:
        """The shape with the first free dimension set to ``batch`` and any other to 1."""
        out = []
        for i, d in enumerate(self.shape):
            out.append(d if d is not None else (batch if i == 0 else 1))
        return tuple(out)


@dataclass(frozen=True)
class Reason:
    """One line of justification: what we say, the evidence it rests on, and where that comes from."""

    text: str
    evidence: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Provenance:
    """Where a figure was measured: the host's name, the device profile's name (``None``: not
    profiled), and what the figure depends on -- CPU model, logical cores, onnxruntime version,
    intra-op threads. Figures with different :attr:`fingerprint` are never compared directly."""

    host: str
    device: str | None
    cpu: str
    cores: int
    onnxruntime: str
    threads: int

    @property
    def fingerprint(self) -> str:
        key = f"{self.cpu}|{self.cores}|{self.onnxruntime}|{self.threads}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    @property
    def here(self) -> bool:
        """Whether this process runs on the host that measured."""
        return self.host == socket.gethostname()

    @property
    def name(self) -> str:
        """The device's name for people: its profile's name, else its host name."""
        return self.device or self.host

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        return cls(str(d["host"]), d.get("device"), str(d.get("cpu", "")), int(d.get("cores", 0)),
                   str(d.get("onnxruntime", "")), int(d.get("threads", 0)))


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one model at one thread setting, from many timed runs (milliseconds)."""

    p50_ms: float
    p90_ms: float
    runs: int
    threads: int
    spinning: bool
    batch: int = 1
    energy_mj: float | None = None  # per inference, where a RAPL sensor exists; else None
    source: str = "same-run"  # one of LATENCY_SOURCES
    profile: str | None = None  # the profile a predicted figure is for
    interval_ms: tuple[float, float] | None = None  # 95% interval of a predicted p50
    spread: float | None = None  # measured run-to-run noise of p50 (relative, e.g. 0.03 = 3%)
    # per-block p50 and p90 of an interleaved timing (ms): blocks of one run pair up across models, so
    # a ratio's interval comes from them (advisor.measure.latency.ratio_figure)
    blocks_p50: tuple[float, ...] | None = None
    blocks_p90: tuple[float, ...] | None = None
    retimed: int = 0  # blocks timed again because the machine was busy during them
    run: str | None = None  # id of the interleaved timing run: figures of one run pair up block by block
    where: Provenance | None = None  # the device that measured it (None: a record from before provenance)

    @property
    def measured(self) -> bool:
        return self.source != "predicted"

    @property
    def measured_where(self) -> str:
        """``measured here`` (this host, or a record without provenance), ``measured here on NAME`` (this
        host, a named device) or ``measured on NAME`` (a measuring target or a fleet worker elsewhere)."""
        if self.where is None:
            return "measured here"
        if self.where.here:
            return f"measured here on {self.where.device}" if self.where.device else "measured here"
        return f"measured on {self.where.name}"

    def label(self) -> str:
        """Short label of where this latency comes from, for table headers and columns: ``measured
        here, same run`` / ``measured on NAME, earlier run`` / ``predicted for profile P``."""
        if self.source == "predicted":
            return f"predicted for profile {self.profile or '?'}"
        return f"{self.measured_where}, {'earlier run' if self.source == 'earlier-run' else 'same run'}"

    def describe_source(self) -> str:
        """Words every surface uses for where this latency comes from."""
        if self.source == "predicted":
            iv = ("" if self.interval_ms is None
                  else f", 95% interval {self.interval_ms[0]:.3g}-{self.interval_ms[1]:.3g} ms")
            return f"predicted for profile {self.profile or '?'}{iv}"
        if self.source == "earlier-run":
            return f"{self.measured_where}, earlier run"
        return f"{self.measured_where}, same run (interleaved with the original)"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("interval_ms", "blocks_p50", "blocks_p90"):
            if d[k] is not None:
                d[k] = [float(v) for v in d[k]]
        d["where"] = None if self.where is None else self.where.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyStats:
        def floats(key: str) -> tuple[float, ...] | None:
            v = d.get(key)
            return None if v is None else tuple(float(x) for x in v)

        iv = floats("interval_ms")
        return cls(**{k: d[k] for k in ("p50_ms", "p90_ms", "runs", "threads", "spinning") },
                   batch=d.get("batch", 1), energy_mj=d.get("energy_mj"), source=d.get("source", "same-run"),
                   profile=d.get("profile"), interval_ms=None if iv is None else (iv[0], iv[1]),
                   spread=d.get("spread"), blocks_p50=floats("blocks_p50"), blocks_p90=floats("blocks_p90"),
                   retimed=int(d.get("retimed", 0)), run=d.get("run"),
                   where=None if d.get("where") is None else Provenance.from_dict(d["where"]))


@dataclass(frozen=True)
class QualityFigure:
    """One accuracy/fidelity figure on one split, with its 95% interval.

    ``metric`` is what was computed (``accuracy``, ``agreement``, ``cosine``, ``rel-l2`` ...);
    ``value``/``lo``/``hi`` are on the higher-is-better [0, 1] scale the budget uses;
    ``method`` names the interval (``wilson``, ``bootstrap``); ``per_output`` maps each scored
    output to its own value (the worst binds); ``split`` is ``validation`` or ``test``.
    """

    value: float
    lo: float
    hi: float
    n: int
    metric: str
    split: str
    method: str = "wilson"
    per_output: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityFigure:
        return cls(float(d["value"]), float(d["lo"]), float(d["hi"]), int(d["n"]), str(d["metric"]),
                   str(d["split"]), str(d.get("method", "wilson")), dict(d.get("per_output") or {}))


#: The three states of a limit judged on an interval: it holds at the chosen confidence, the interval
#: straddles it (more samples, or a longer timing, would settle it), or it is broken.
VERDICTS = ("fits", "unresolved", "breaks")


@dataclass(frozen=True)
class DropFigure:
    """A candidate's paired drop against the original on one split, in points (see
    :mod:`advisor.measure.paired`): ``value`` is ``100 x mean(original_i - candidate_i)``; ``lo``/``hi``
    are one-sided bounds at ``confidence`` (each end's error ``alpha``; a race spends it in parts);
    ``n`` samples used out of ``of`` the split holds; ``sd`` the per-sample spread (points); ``groups``
    how many independent groups the samples form when the data carries them; ``looks`` how many
    looks the race took; ``output`` the model output that binds (the worst)."""

    value: float
    lo: float
    hi: float
    n: int
    metric: str
    split: str
    method: str
    confidence: float
    sd: float | None = None
    groups: int | None = None
    of: int = 0
    looks: int = 1
    alpha: float | None = None
    output: str = ""

    def verdict(self, limit_pts: float | None) -> str:
        """``fits`` (``hi <= limit``), ``breaks`` (``lo > limit``) or ``unresolved``; no limit: ``fits``."""
        if limit_pts is None:
            return "fits"
        if self.hi <= limit_pts + 1e-9:
            return "fits"
        return "breaks" if self.lo > limit_pts + 1e-9 else "unresolved"

    def describe(self) -> str:
        """``drop 0.50 pt [0.01, 1.57] (95% one-sided bounds, exact (Clopper-Pearson), n=400 validation)``."""
        used = f"n={self.n}" + (f" of {self.of}" if self.of and self.of != self.n else "")
        grp = f", {self.groups} groups" if self.groups else ""
        return (f"drop {self.value:.2f} pt [{self.lo:.2f}, {self.hi:.2f}] ({self.confidence:.0%} one-sided bounds, "
                f"{self.method}, {used}{grp} {self.split})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DropFigure:
        return cls(**{k: d[k] for k in ("value", "lo", "hi", "n", "metric", "split", "method", "confidence")},
                   sd=d.get("sd"), groups=d.get("groups"), of=int(d.get("of") or d["n"]), looks=int(d.get("looks", 1)),
                   alpha=d.get("alpha"), output=str(d.get("output", "")))


@dataclass(frozen=True)
class RatioFigure:
    """A latency ratio ``candidate / reference`` timed in one run (interleaved), with bounds from the
    per-block ratios (see :func:`advisor.measure.latency.ratio_figure`): ``value`` is the ratio of the
    two p50s (or p90s), ``lo``/``hi`` the distribution-free interval of the blocks' median ratio at
    ``confidence``, ``blocks`` how many paired blocks it rests on. Below 1: faster."""

    value: float
    lo: float
    hi: float
    blocks: int
    stat: str = "p50"
    confidence: float = 0.95

    @property
    def speedup(self) -> float:
        return 1.0 / self.value if self.value > 0 else float("nan")

    def verdict(self, limit: float, resolution: float = 0.0) -> str:
        """Against a ratio limit: ``fits`` when ``hi <= limit``, ``breaks`` when ``lo > limit``, else
        ``unresolved`` (within noise). Ratios within ``resolution`` of the limit are within noise."""
        if self.hi <= limit * (1 + resolution):
            return "fits"
        return "breaks" if self.lo > limit * (1 + resolution) else "unresolved"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RatioFigure:
        return cls(float(d["value"]), float(d["lo"]), float(d["hi"]), int(d["blocks"]), str(d.get("stat", "p50")),
                   float(d.get("confidence", 0.95)))


@dataclass(frozen=True)
class Measurement:
    """Everything measured about one model on this device; field names as in ``advice.json``.

    ``quality`` is accuracy on labelled data or fidelity to the baseline on unlabelled data, a
    fraction in [0, 1]; ``metric`` says which.
    """

    metric: str  # "accuracy" or "fidelity"
    quality: float
    size_bytes: int
    size_compressed_bytes: int
    latency: LatencyStats
    peak_memory_bytes: int
    compress_seconds: float
    latency_all_threads: LatencyStats | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # ``quality`` is the figure selection uses (validation split); ``reported`` is the held-out
    # test figure with its interval, the one advice shows for the pick (None where not measured).
    selection: QualityFigure | None = None
    reported: QualityFigure | None = None
    # the paired drop against the original on the same samples: ``drop`` on validation (what the
    # accuracy limit is judged on while choosing; a race may have used part of the split),
    # ``confirmation`` on the untouched test split (measured for the pick: it confirms or not)
    drop: DropFigure | None = None
    confirmation: DropFigure | None = None

    @property
    def latency_ms_p50(self) -> float:
        return self.latency.p50_ms

    @property
    def latency_ms_p90(self) -> float:
        return self.latency.p90_ms

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            self.metric: round(self.quality, 6),
            "metric": self.metric,
            "size_bytes": self.size_bytes,
            "size_compressed_bytes": self.size_compressed_bytes,
            "latency_ms_p50": round(self.latency.p50_ms, 5),
            "latency_ms_p90": round(self.latency.p90_ms, 5),
            "latency": self.latency.to_dict(),
            "peak_memory_bytes": self.peak_memory_bytes,
            "compress_seconds": round(self.compress_seconds, 3),
            "energy_mj_per_inference": self.latency.energy_mj,
        }
        if self.latency_all_threads is not None:
            d["latency_all_threads"] = self.latency_all_threads.to_dict()
        if self.selection is not None:
            d["selection"] = self.selection.to_dict()
        if self.reported is not None:
            d["reported"] = self.reported.to_dict()
        if self.drop is not None:
            d["drop"] = self.drop.to_dict()
        if self.confirmation is not None:
            d["confirmation"] = self.confirmation.to_dict()
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict` (used to rebuild measurements stored with Optuna trials)."""
        metric = d["metric"]
        lat_all = d.get("latency_all_threads")
        return cls(
            metric=metric,
            quality=float(d[metric]),
            size_bytes=int(d["size_bytes"]),
            size_compressed_bytes=int(d["size_compressed_bytes"]),
            latency=LatencyStats.from_dict(d["latency"]),
            peak_memory_bytes=int(d["peak_memory_bytes"]),
            compress_seconds=float(d["compress_seconds"]),
            latency_all_threads=None if lat_all is None else LatencyStats.from_dict(lat_all),
            extra=dict(d.get("extra") or {}),
            selection=None if d.get("selection") is None else QualityFigure.from_dict(d["selection"]),
            reported=None if d.get("reported") is None else QualityFigure.from_dict(d["reported"]),
            drop=None if d.get("drop") is None else DropFigure.from_dict(d["drop"]),
            confirmation=None if d.get("confirmation") is None else DropFigure.from_dict(d["confirmation"]),
        )
