"""The user's budget: limits on accuracy loss, size, latency and compression time, and what to
optimise within them. Tier presets follow Lee et al. 2022, section 4.3.

Limits may be absolute (``max_size_kb``, ``max_latency_ms``) or relative to the original model
(``max_size_ratio``, ``max_latency_ratio``: the tier presets use these, since a preset cannot know
your model's size). Both kinds may be given; all given limits apply.

How each limit is judged on measured figures (on intervals: fits / unresolved / breaks), and the
pick, live in :mod:`advisor.decide`; ``confidence`` says how sure a "fits" of the accuracy limit
must be.

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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from advisor.errors import BudgetError
from advisor.types import Measurement

__all__ = ["Budget", "TIERS", "CONSTRAINTS", "Limits", "Limit", "LIMITS", "DEFAULT_CONFIDENCE"]

#: How sure a "fits" of the accuracy limit must be by default: each verdict is a one-sided test at
#: 95% (docs/measurement.md, "The decision rule"). ``--confidence`` changes it.
DEFAULT_CONFIDENCE = 0.95


def _confidence(answer: Any) -> float | None:
    """A confidence answer (a number, or the text typed; blank or ``None`` = the default)."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return None
    if isinstance(answer, str):
        try:
            return float(answer.strip())
        except ValueError:
            raise BudgetError(
                f"budget field 'confidence' must be a number in [0.5, 1), got {answer.strip()!r}") from None
    return answer


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
    confidence: float = DEFAULT_CONFIDENCE  # one-sided: how sure a "fits" of the accuracy limit must be

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
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.5 <= c < 1:
            raise BudgetError(f"budget field 'confidence' must be a number in [0.5, 1), got {c!r}")
        object.__setattr__(self, "confidence", float(c))

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
                ``None`` = not given), ``tier`` (``None`` = custom limits only),
                ``objective`` (``None`` or ``"auto"`` = the tier's, else latency) and
                ``confidence`` (``None`` or blank = the default).

        Raises:
            BudgetError: an unknown key, a limit that is not a number within its bounds (the
                message names the field), or neither a tier nor a limit.
        """
        extra = ("tier", "objective", "confidence")
        unknown = [k for k in answers if k not in LIMITS and k not in extra]
        if unknown:
            raise BudgetError(f"unknown budget field {unknown[0]!r}; fields: {', '.join([*LIMITS, *extra])}")
        limits = {k: v for k, v in ((k, LIMITS[k].parse(a)) for k, a in answers.items() if k in LIMITS)
                  if v is not None}
        objective = answers.get("objective")
        objective = None if objective in (None, "", "auto") else objective
        tier = answers.get("tier") or None
        confidence = _confidence(answers.get("confidence"))
        if tier is not None:
            return cls.preset(tier, **limits, objective=objective, confidence=confidence)
        if not limits:
            raise BudgetError(f"give a budget: a tier ({', '.join(TIERS)}) or at least one limit")
        return cls(**limits, objective=objective or "latency", confidence=confidence or DEFAULT_CONFIDENCE)

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
        return all(getattr(self, f.name) is None for f in fields(self)
                   if f.name not in ("objective", "tier", "confidence"))

    def with_limits(self, **limits: Any) -> Budget:
        return replace(self, **{k: v for k, v in limits.items() if v is not None})

    def resolve(self, baseline: Measurement, reference_p90_ms: float | None = None) -> Limits:
        """Absolute limits for this model, from the baseline's measured size, latency and quality.

        A latency ratio applies to ``reference_p90_ms`` (the original's p90 timed in a candidate's
        own run) when given, else to the baseline's one-off timing; for display only: decisions use
        the same-run ratio itself (:mod:`advisor.decide`).
        """
        ref_p90 = baseline.latency.p90_ms if reference_p90_ms is None else reference_p90_ms
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

    def describe(self) -> str:
        parts = []
        if self.tier:
            parts.append(f"tier {self.tier}")
        parts += [lim.text.format(getattr(self, name)) for name, lim in LIMITS.items()
                  if getattr(self, name) is not None]
        parts.append(f"objective: lowest {self.objective}")
        if self.max_accuracy_drop is not None:
            parts.append(f"accuracy limit judged at {self.confidence:.0%} confidence")
        return ", ".join(parts)
