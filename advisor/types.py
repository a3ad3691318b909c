"""Plain, frozen values passed between the advisor's stages.

Data flows one way: questionnaire -> :class:`~advisor.budget.Budget` -> device profile ->
candidate strategies -> trials -> :class:`Measurement` -> ranking -> advice with :class:`Reason`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TensorSpec", "Reason", "Measurement", "LatencyStats", "QualityFigure", "LATENCY_SOURCES"]

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

    @property
    def measured(self) -> bool:
        return self.source != "predicted"

    def describe_source(self) -> str:
        """Words every surface uses for where this latency comes from."""
        if self.source == "predicted":
            iv = ("" if self.interval_ms is None
                  else f", 95% interval {self.interval_ms[0]:.3g}-{self.interval_ms[1]:.3g} ms")
            return f"predicted for profile {self.profile or '?'}{iv}"
        if self.source == "earlier-run":
            return "measured here, earlier run"
        return "measured here, same run (interleaved with the original)"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.interval_ms is not None:
            d["interval_ms"] = list(self.interval_ms)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyStats:
        iv = d.get("interval_ms")
        return cls(**{k: d[k] for k in ("p50_ms", "p90_ms", "runs", "threads", "spinning") },
                   batch=d.get("batch", 1), energy_mj=d.get("energy_mj"), source=d.get("source", "same-run"),
                   profile=d.get("profile"), interval_ms=None if iv is None else (float(iv[0]), float(iv[1])),
                   spread=d.get("spread"))


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
        )
