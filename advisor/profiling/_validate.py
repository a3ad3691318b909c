"""Checking a profile document (plain YAML values) field by field, naming the field on failure.

Every rule raises :class:`~advisor.errors.ProfileError` with one line such as
``profile field 'figures.gemm.fp32_gflops_1t' must be a positive number, got 'fast'``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from advisor.errors import ProfileError

__all__ = ["mapping", "number", "integer", "boolean", "text", "text_list", "show"]

_TEXT = re.compile(r"^[^\x00-\x08\x0b-\x1f\x7f]*$")


def show(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    if isinstance(value, str):
        s = value if len(value) <= 40 else value[:37] + "..."
        return repr(s)
    if isinstance(value, (dict, list, tuple)):
        return f"a {type(value).__name__}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "a number too large to be real"
    s = repr(value)
    return s if len(s) <= 40 else s[:37] + "..."


def mapping(doc: Any, path: str, keys: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
    """``doc`` must be a mapping with exactly ``keys`` (plus any of ``optional``)."""
    where = f"profile field '{path}'" if path else "profile"
    if not isinstance(doc, dict):
        raise ProfileError(f"{where} must be a mapping of fields, got {show(doc)}")
    for k in doc:
        if not isinstance(k, str) or not _TEXT.match(k):
            raise ProfileError(f"{where} has a key that is not printable text: {show(k)}")
    unknown = sorted(set(doc) - keys - set(optional))
    if unknown:
        name = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ProfileError(f"profile field '{name}' is not part of the schema (unknown key)")
    missing = sorted(keys - set(doc))
    if missing:
        name = f"{path}.{missing[0]}" if path else missing[0]
        raise ProfileError(f"profile field '{name}' is missing")
    return doc


def number(value: Any, path: str, *, lo: float = 0.0, hi: float = 1e12, positive: bool = True) -> float:
    """A finite real number in range (``> lo`` if ``positive`` else ``>= lo``) and ``<= hi``."""
    kind = "a positive number" if positive else f"a number >= {lo:g}"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, int) and abs(value) > 10**15:
        ok = False
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > lo if positive else v >= lo) and v <= hi
    if not ok:
        raise ProfileError(f"profile field '{path}' must be {kind} up to {hi:g}, got {show(value)}")
    return float(value)


def integer(value: Any, path: str, *, lo: int = 0, hi: int = 10**15) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (lo <= value <= hi):
        raise ProfileError(f"profile field '{path}' must be an integer in [{lo}, {hi:g}], got {show(value)}")
    return int(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"profile field '{path}' must be true or false, got {show(value)}")
    return value


def text(value: Any, path: str, *, max_len: int = 200, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or len(value) > max_len or not _TEXT.match(value):
        raise ProfileError(f"profile field '{path}' must be text of at most {max_len} printable characters, "
                           f"got {show(value)}")
    if pattern is not None and not pattern.match(value):
        raise ProfileError(f"profile field '{path}' has an unexpected form: {show(value)}")
    return value


def text_list(value: Any, path: str, *, max_items: int = 128, max_len: int = 64) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > max_items:
        raise ProfileError(f"profile field '{path}' must be a list of at most {max_items} names, got {show(value)}")
    return tuple(text(v, f"{path}[{i}]", max_len=max_len) for i, v in enumerate(value))
