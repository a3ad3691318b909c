"""How to time: threads, spinning, seconds per model, whether to probe memory, the device's name.
Light (no numpy even): the profiler and a measuring target import it."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from advisor.errors import InputError

__all__ = ["MeasureSettings"]


@dataclass(frozen=True)
class MeasureSettings:
    """How to time: intra-op ``threads`` and ``spinning`` for the reported latency; optionally a
    second timing at ``all_threads``; about ``seconds`` of timed runs per model."""

    threads: int = 1
    spinning: bool = False
    all_threads: int | None = None
    seconds: float = 0.4
    memory: bool = True
    device: str | None = None  # the device profile's name, recorded with every figure (Provenance)

    def __post_init__(self) -> None:
        """Raises :class:`~advisor.errors.InputError` naming the field (one line)."""
        for name, lo in (("threads", 1), ("all_threads", 1)):
            v = getattr(self, name)
            if v is None and name == "all_threads":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise InputError(f"measure setting '{name}' must be an integer >= {lo}, got {v!r}")
        s = self.seconds
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
            raise InputError(f"measure setting 'seconds' must be a finite number > 0, got {s!r}")
