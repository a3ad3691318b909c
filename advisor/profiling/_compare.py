"""Two device profiles side by side: the rows ``advisor profiles compare`` prints and the TUI's
device screen shows, each surface rendering them its own way.

Example:
    >>> class P:  # anything with key_figures() will do for the key figures
    ...     def __init__(self, **k): self.k = k
    ...     def key_figures(self): return self.k
    >>> compare_profiles(P(cpu="a", int8_speedup=2.0), P(cpu="b", int8_speedup=3.0))
    [ProfileDiff(figure='cpu', a='a', b='b', ratio=None), ProfileDiff(figure='int8_speedup', a=2.0, b=3.0, ratio=1.5)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from advisor.profiling._profile import DeviceProfile

__all__ = ["ProfileDiff", "compare_profiles"]

#: What the device *is* (not a measured figure): compared without a ratio in the full comparison.
_IDENTITY = ("cpu", "arch", "cores_logical", "isa", "energy_sensor")
#: Derived figures of the full comparison, after the measured ones.
_DERIVED = ("int8_speedup", "int8_gemm_speedup", "int8_dynamic_speedup", "fp16_speedup", "suggested_threads")


@dataclass(frozen=True)
class ProfileDiff:
    """One figure of two profiles.

    Attributes:
        figure: the figure's name: a key figure (``int8_speedup``), or in the full comparison a
            measured figure (``conv.fp32_gflops_1t``) or a derived one (``derived.fp16_speedup``).
        a, b: its value in each profile (``None`` where a profile lacks it).
        ratio: ``b / a`` when both are numbers and ``a`` is not zero, else ``None``.
    """

    figure: str
    a: Any
    b: Any
    ratio: float | None


def _ratio(va: Any, vb: Any) -> float | None:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
    return vb / va if numbers and va else None


def compare_profiles(a: DeviceProfile, b: DeviceProfile, detail: Literal["key", "all"] = "key") -> list[ProfileDiff]:
    """The figures of profiles ``a`` and ``b`` side by side.

    Args:
        a, b: the profiles (for ``detail="key"`` anything with ``key_figures()``).
        detail: ``key``: every key figure either profile has, in order; ``all``: what the device
            is (no ratio), every measured figure by group, then the derived speed-ups and threads
            (both must be :class:`~advisor.profiling.DeviceProfile`).
    """
    if detail == "key":
        fa, fb = ({} if p is None else dict(p.key_figures()) for p in (a, b))
        keys = list(fa) + [k for k in fb if k not in fa]
        return [ProfileDiff(k, fa.get(k), fb.get(k), _ratio(fa.get(k), fb.get(k))) for k in keys]
    if detail != "all":
        raise ValueError(f"detail must be 'key' or 'all', got {detail!r}")
    ka, kb = a.key_figures(), b.key_figures()
    rows = [ProfileDiff(k, ka[k], kb[k], None) for k in _IDENTITY]
    da, db = a.to_dict()["figures"], b.to_dict()["figures"]
    for group in a.figures.groups():
        for name, va in da[group].items():
            vb = db[group][name]
            rows.append(ProfileDiff(f"{group}.{name}", va, vb, _ratio(va, vb)))
    for key in _DERIVED:
        va, vb = getattr(a.derived, key), getattr(b.derived, key)
        rows.append(ProfileDiff(f"derived.{key}", va, vb, _ratio(va, vb)))
    return rows
