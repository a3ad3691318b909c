"""Measurement of models on this device (or on a measuring target): latency, size, accuracy or
fidelity, memory, energy. Every figure the advisor shows as *measured* comes from here.

The package's names load on first use (PEP 562), so its light modules -- what a measuring target
imports (:mod:`.latency`, :mod:`.scores`, :mod:`.remote`, :mod:`.load`, :mod:`.provenance`) -- come
without torch or scipy. Example:

    >>> from advisor.measure import MeasureSettings
    >>> MeasureSettings(threads=1).threads
    1
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "MeasureSettings": "settings", "measure_models": "_measure", "measure_model": "_measure", "time_all": "_measure",
    "Reference": "_measure", "reference_outputs": "_measure", "quality_of": "_measure",
    "paired_quality": "_measure", "original_drop": "_measure", "DEFAULT_CONFIDENCE": "_measure",
    "time_models": "latency", "sample_feed": "latency", "file_sizes": "size", "peak_memory_bytes": "memory",
    "energy_sensor": "energy",
}


__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'advisor.measure' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"advisor.measure.{_HOME[name]}"), name)
    globals()[name] = value
    return value
