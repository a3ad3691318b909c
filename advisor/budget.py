"""The user's budget: limits on accuracy loss, size, latency and compression time, and what to
optimise within them. Tier presets follow Lee et al. 2022, section 4.3.

Limits may be absolute (``max_size_kb``, ``max_latency_ms``) or relative to the original model
(``max_size_ratio``, ``max_latency_ratio``: the tier presets use these, since a preset cannot know
your model's size). Both kinds may be given; all given limits apply.

A latency ratio is judged against the original timed *in the same run* as the candidate
(interleaved; :func:`same_run_baseline`), not against the one-off timing at problem open. Latency
differences within the measured noise (:func:`latency_tie`) are ties, broken by accuracy then size.

Example:
    >>> b = Budget.preset("mid")
    >>> b.objective, b.max_accuracy_drop
    ('latency', 2.0)
    >>> Budget(max_latency_ms=-3)
    Traceback (most recent call last):
    ...
    advisor.errors.BudgetError: budget field 'max_latency_ms' must be a positive number, got -3
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from advisor.errors import BudgetError
from advisor.types import LatencyStats, Measurement

__all__ = ["Budget", "TIERS", "CONSTRAINTS", "Limits", "BASELINE_LATENCY_KEY", "same_run_baseline",
           "reference_latency", "noise_ms", "latency_tie", "FEASIBLE_EPS", "within_limit",
           "Limit", "LIMITS"]

# ``Measurement.extra[BASELINE_LATENCY_KEY]``: the original's LatencyStats (as a dict) timed in the
# same run as the candidate, interleaved with it (set by ``Problem.evaluate``).
BASELINE_LATENCY_KEY = "baseline_latency"


def same_run_baseline(m: Measurement) -> LatencyStats | None:
    """The original's latency timed in the same run as ``m`` (interleaved), or ``None`` (the
    original itself, or a record from before same-run baselines were kept)."""
    d = m.extra.get(BASELINE_LATENCY_KEY) if m.extra else None
    return LatencyStats.from_dict(d) if isinstance(d, dict) else None


def reference_latency(baseline: Measurement, m: Measurement) -> LatencyStats:
    """The original's latency that ``m`` is compared with: the same-run timing when there is one,
    else the original's own (``m`` is the original, or an old record)."""
    return same_run_baseline(m) or baseline.latency


def noise_ms(m: Measurement, stat: str = "p90_ms") -> float:
    """Measured run-to-run noise of ``m``'s p90 (or ``stat``) in ms (``spread`` x the figure); 0
    when not measured (a predicted latency has an interval, not a run-to-run noise)."""
    lat = m.latency
    return 0.0 if not lat.spread or not lat.measured else float(lat.spread) * getattr(lat, stat)


#: Accuracy/fidelity differences below this (0.1 pt) do not break a latency tie: they are far
#: inside any split's interval here and no user budget is that fine.
ACCURACY_RESOLUTION = 0.001


def latency_tie(a: Measurement, b: Measurement, stat: str = "p90_ms") -> bool:
    """Whether ``a`` and ``b``'s p90 latencies (or ``stat``) differ by no more than their
    measured noise."""
    return abs(getattr(a.latency, stat) - getattr(b.latency, stat)) <= noise_ms(a, stat) + noise_ms(b, stat)

#: A violation (see :meth:`Budget.violations`) up to this counts as satisfied: float round-off in
#: the ratios, not a real excess. The one tolerance every feasibility check uses.
FEASIBLE_EPS = 1e-12


def within_limit(violation: float) -> bool:
    """Whether one constraint's violation (relative excess over its limit) means it is satisfied."""
    return violation <= FEASIBLE_EPS


CONSTRAINTS = ("accuracy", "size", "latency", "compress_time")

TIERS: dict[str, dict[str, Any]] = {
    # Lee et al. 2022, 4.3: low-end AIoT (e.g. vacant-parking detection, 2 classes): tiny memory,
    # not delay-sensitive -> their pick PRQ; we optimise size.
    "low": {"max_accuracy_drop": 3.0, "max_size_ratio": 0.15, "max_compress_seconds": 900.0,
            "objective": "size",
            "example": "vacant-parking detection (2 classes): tiny memory, not delay-sensitive"},
    # mid-end AIoT (licence-plate recognition, 10-20 classes): embedded and real-time -> PRN.
    "mid": {"max_accuracy_drop": 2.0, "max_size_ratio": 0.5, "max_latency_ratio": 1.0,
            "max_compress_seconds": 300.0, "objective": "latency",
            "example": "licence-plate recognition (10-20 classes): embedded, real-time"},
    # high-end AIoT (autonomous driving): real-time and accuracy -> F16 or PRN.
    "high": {"max_accuracy_drop": 0.5, "max_latency_ratio": 0.8, "max_compress_seconds": 600.0,
             "objective": "latency",
             "example": "autonomous driving: real-time and accuracy"},
}

OBJECTIVES = ("latency", "size", "accuracy")


@dataclass(frozen=True)
class Limit:
    """One numeric budget field: its bounds, and how the front ends ask for it.

    Attributes:
        field: the :class:`Budget` field.
        label: what the TUI's form calls it.
        unit: the unit of its value.
        lo: its lowest value (excluded unless ``lo_ok``).
        hi: its highest value (included).
        lo_ok: whether ``lo`` itself is allowed.
        flag: the CLI flag (without ``--``) and the TUI input id; ``None`` for limits only a
            budget file or a tier sets (the ratios).
        help: the CLI's help for the flag.
        text: how a budget summary states it, formatted with the value (``"size <= {:g} KB"``).
    """

    field: str
    label: str
    unit: str
    lo: float = 0.0
    hi: float = math.inf
    lo_ok: bool = False
    flag: str | None = None
    help: str = ""
    text: str = "{}"

    def check(self, v: Any) -> float:
        """``v`` as a float within the bounds, else a :class:`BudgetError` naming the field."""
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BudgetError(f"budget field '{self.field}' must be a number, got {v!r}")
        if not math.isfinite(v):
            raise BudgetError(f"budget field '{self.field}' must be a finite number, got {v}")
        if v < self.lo or (v == self.lo and not self.lo_ok) or v > self.hi:
            if math.isinf(self.hi) and self.lo == 0 and not self.lo_ok:
                raise BudgetError(f"budget field '{self.field}' must be a positive number, got {v}")
            raise BudgetError(f"budget field '{self.field}' must be in [{self.lo:g}, {self.hi:g}] {self.unit}, got {v}")
        return float(v)

    def parse(self, answer: Any) -> float | None:
        """An answer (a number, or the text typed; blank or ``None`` = not given) checked."""
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            return None
        if isinstance(answer, str):
            try:
                answer = float(answer.strip())
            except ValueError:
                raise BudgetError(f"budget field '{self.field}' must be a number, got {answer.strip()!r}") from None
        return self.check(answer)


#: Every numeric budget field with its bounds: the one statement of them (Budget validates with
#: it, the CLI's flags and the TUI's form are built from it).
LIMITS: dict[str, Limit] = {lim.field: lim for lim in (
    Limit("max_accuracy_drop", "max accuracy loss (points)", "points", 0.0, 100.0, lo_ok=True,
          flag="max-accuracy-drop", help="largest accuracy (or fidelity) loss, points",
          text="accuracy drop <= {:g} pt"),
    Limit("max_size_kb", "max model size (KB)", "KB", flag="max-size", help="largest model file, KB",
          text="size <= {:g} KB"),
    Limit("max_size_ratio", "max model size (fraction of the original)", "of the original",
          text="size <= {:.0%} of original"),
    Limit("max_latency_ms", "max latency p90 (ms)", "ms", flag="max-latency",
          help="largest p90 latency at batch 1, ms", text="p90 <= {:g} ms"),
    Limit("max_latency_ratio", "max latency p90 (fraction of the original)", "of the original",
          text="p90 <= {:.0%} of original"),
    Limit("max_compress_seconds", "max compression time (s)", "s", flag="max-compress-time",
          help="longest compression, seconds", text="compression <= {:g} s"),
)}


@dataclass(frozen=True)
class Limits:
    """A budget resolved against the measured original model: absolute numbers, ``None`` = no limit."""

    min_quality: float | None
    max_size_bytes: float | None
    max_latency_ms: float | None
    max_compress_seconds: float | None


@dataclass(frozen=True)
class Budget:
    """Limits and objective. Every field is optional except the objective (default: latency)."""

    max_accuracy_drop: float | None = None  # percentage points of accuracy (or fidelity)
    max_size_kb: float | None = None
    max_size_ratio: float | None = None  # fraction of the original file size
    max_latency_ms: float | None = None  # p90 at batch 1
    max_latency_ratio: float | None = None  # fraction of the original p90
    max_compress_seconds: float | None = None
    objective: str = "latency"
    tier: str | None = None

    def __post_init__(self) -> None:
        for name, limit in LIMITS.items():
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, limit.check(v))
        if self.objective not in OBJECTIVES:
            raise BudgetError(
                f"budget field 'objective' must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.tier is not None and self.tier not in TIERS:
            raise BudgetError(f"budget field 'tier' must be one of {', '.join(TIERS)}, got {self.tier!r}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Budget:
        """The preset for service tier ``name`` (low/mid/high), with explicit limits on top."""
        if name not in TIERS:
            raise BudgetError(f"unknown tier '{name}'; tiers: {', '.join(TIERS)}")
        base = {k: v for k, v in TIERS[name].items() if k != "example"}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base, tier=name)

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any]) -> Budget:
        """The budget a form or the command line describes.

        Args:
            answers: limits by :class:`Budget` field (a number or the text typed; blank or
                ``None`` = not given), ``tier`` (``None`` = custom limits only) and
                ``objective`` (``None`` or ``"auto"`` = the tier's, else latency).

        Raises:
            BudgetError: an unknown key, a limit that is not a number within its bounds (the
                message names the field), or neither a tier nor a limit.
        """
        unknown = [k for k in answers if k not in LIMITS and k not in ("tier", "objective")]
        if unknown:
            raise BudgetError(
                f"unknown budget field {unknown[0]!r}; fields: {', '.join([*LIMITS, 'objective', 'tier'])}")
        limits = {k: v for k, v in ((k, LIMITS[k].parse(a)) for k, a in answers.items() if k in LIMITS)
                  if v is not None}
        objective = answers.get("objective")
        objective = None if objective in (None, "", "auto") else objective
        tier = answers.get("tier") or None
        if tier is not None:
            return cls.preset(tier, **limits, objective=objective)
        if not limits:
            raise BudgetError(f"give a budget: a tier ({', '.join(TIERS)}) or at least one limit")
        return cls(**limits, objective=objective or "latency")

    @classmethod
    def from_dict(cls, d: Any) -> Budget:
        """From a YAML/JSON mapping; unknown keys and wrong types are errors naming the field."""
        if not isinstance(d, dict):
            raise BudgetError(f"a budget must be a mapping of fields, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        for k in d:
            if not isinstance(k, str) or k not in names:
                raise BudgetError(f"unknown budget field {k!r}; fields: {', '.join(sorted(names))}")
        for k in ("objective", "tier"):
            if k in d and d[k] is not None and not isinstance(d[k], str):
                raise BudgetError(f"budget field '{k}' must be a string, got {d[k]!r}")
        if d.get("tier"):
            rest = {k: v for k, v in d.items() if k != "tier"}
            return cls.preset(d["tier"], **rest)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name not in ("objective", "tier"))

    def with_limits(self, **limits: Any) -> Budget:
        return replace(self, **{k: v for k, v in limits.items() if v is not None})

    def resolve(self, baseline: Measurement, m: Measurement | None = None) -> Limits:
        """Absolute limits for this model, from the baseline's measured size, latency and quality.

        With ``m``, the latency ratio applies to the original's timing from ``m``'s own run
        (:func:`reference_latency`); without, to the baseline's one-off timing.
        """
        ref_p90 = (baseline.latency if m is None else reference_latency(baseline, m)).p90_ms
        size = [x for x in (
            None if self.max_size_kb is None else self.max_size_kb * 1024,
            None if self.max_size_ratio is None else self.max_size_ratio * baseline.size_bytes,
        ) if x is not None]
        lat = [x for x in (
            self.max_latency_ms,
            None if self.max_latency_ratio is None else self.max_latency_ratio * ref_p90,
        ) if x is not None]
        return Limits(
            min_quality=None if self.max_accuracy_drop is None else baseline.quality - self.max_accuracy_drop / 100,
            max_size_bytes=min(size) if size else None,
            max_latency_ms=min(lat) if lat else None,
            max_compress_seconds=self.max_compress_seconds,
        )

    def violations(self, baseline: Measurement, m: Measurement) -> dict[str, float]:
        """Per constraint: how far ``m`` is over its limit, relative to the limit (<= 0 = satisfied)."""
        lim = self.resolve(baseline, m)
        out: dict[str, float] = {}
        if lim.min_quality is not None:
            out["accuracy"] = (lim.min_quality - m.quality) * 100  # points over the allowed drop
        if lim.max_size_bytes is not None:
            out["size"] = m.size_bytes / lim.max_size_bytes - 1
        if lim.max_latency_ms is not None:
            out["latency"] = m.latency.p90_ms / lim.max_latency_ms - 1
        if lim.max_compress_seconds is not None:
            out["compress_time"] = m.compress_seconds / lim.max_compress_seconds - 1
        return out

    def satisfied(self, baseline: Measurement, m: Measurement) -> dict[str, bool]:
        return {k: within_limit(v) for k, v in self.violations(baseline, m).items()}

    def fits(self, baseline: Measurement, m: Measurement) -> bool:
        return all(self.satisfied(baseline, m).values())

    def score(self, m: Measurement) -> tuple[float, float, float]:
        """Exact sort key on the objective (smaller is better), without noise: latency: lowest
        p90, then accuracy, then size; size: smallest file, then p90, then accuracy; accuracy:
        highest quality, then p90, then size. The pick itself is :meth:`pick` (noise-aware)."""
        if self.objective == "size":
            return (float(m.size_bytes), m.latency.p90_ms, -m.quality)
        if self.objective == "accuracy":
            return (-m.quality, m.latency.p90_ms, float(m.size_bytes))
        return (m.latency.p90_ms, -m.quality, float(m.size_bytes))

    def pick(self, ms: Sequence[Measurement]) -> tuple[int, list[int]]:
        """The best of ``ms`` (all within the budget) on the objective, latency ties within noise.

        Keys in order (latency: p90, accuracy, p50, size; size: size, p90, accuracy; accuracy:
        accuracy, p90, size); at the p90 (p50) key, every candidate whose p90 (p50) is within
        measured noise of the fastest remaining one (:func:`latency_tie`) stays in, so the next
        keys decide; at the accuracy key, differences below :data:`ACCURACY_RESOLUTION` (0.1 pt)
        are no difference.

        Returns:
            The index of the pick, and the indices that tied on latency within noise with the
            fastest at that step (empty when no tie decided anything).
        """
        if not ms:
            raise ValueError("pick needs at least one measurement")
        order = {"latency": ("latency", "accuracy", "p50", "size"), "size": ("size", "latency", "accuracy"),
                 "accuracy": ("accuracy", "latency", "size")}[self.objective]
        live = list(range(len(ms)))
        tied: list[int] = []
        for key in order:
            if key == "latency":
                fastest = min(live, key=lambda i: ms[i].latency.p90_ms)
                live = [i for i in live if i == fastest or latency_tie(ms[i], ms[fastest])]
                tied = live if len(live) > 1 else []
            elif key == "accuracy":
                top = max(ms[i].quality for i in live)
                live = [i for i in live if ms[i].quality >= top - ACCURACY_RESOLUTION]
            elif key == "p50":  # the median is the steadier figure when p90s tie within noise
                fastest = min(live, key=lambda i: ms[i].latency.p50_ms)
                live = [i for i in live if i == fastest or latency_tie(ms[i], ms[fastest], "p50_ms")]
            else:
                small = min(ms[i].size_bytes for i in live)
                live = [i for i in live if ms[i].size_bytes <= small]
        return min(live, key=lambda i: self.score(ms[i])), tied

    def describe(self) -> str:
        parts = []
        if self.tier:
            parts.append(f"tier {self.tier}")
        parts += [lim.text.format(getattr(self, name)) for name, lim in LIMITS.items()
                  if getattr(self, name) is not None]
        parts.append(f"objective: lowest {self.objective}")
        return ", ".join(parts)
