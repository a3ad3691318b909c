"""Strategies: a technique or a chain of them (``KD+FIQ``), with the paper's names as aliases,
and the candidates: which strategies the advisor considers and which apply to a model and data.

``NQ`` is the original model (no step). ``PRQ`` is Lee et al.'s pruning followed by BLQ (and
``PRN+BLQ`` is called ``PRQ``). Any chain ``A+B+...`` is allowed when each step's needs are met by
the step before it: a step that needs the PyTorch model cannot follow one that leaves only an
ONNX graph (e.g. INT8).

The candidate list is read from the techniques' declarations (:func:`search_strategies`): each
searched technique alone, and each chain a technique declares in ``then``. This module sits below
both the ranking and the search, which both start from it.

Example:
    >>> s = Strategy.parse("kd+fiq")
    >>> s.name, s.steps
    ('KD+FIQ', ('KD', 'FIQ'))
    >>> Strategy.parse("PRQ").steps, Strategy.parse("PRN+BLQ").name
    (('PRN', 'BLQ'), 'PRQ')
    >>> "KD+FIQ" in search_strategies()
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advisor.errors import InputError
from advisor.techniques import (
    Technique,
    TechniqueConfig,
    all_techniques,
    get_technique,
    technique_names,
)

if TYPE_CHECKING:
    from advisor.data import DataSplits
    from advisor.models import Model

__all__ = ["Strategy", "ALIASES", "split_params", "search_strategies", "applicable_strategies"]

ALIASES: dict[str, tuple[str, ...]] = {
    "NQ": (),
    "PRQ": ("PRN", "BLQ"),  # Lee et al. 2022: pruning, then baseline quantization
}


@dataclass(frozen=True)
class Strategy:
    """A named chain of technique steps (``steps`` empty for NQ)."""

    name: str
    steps: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Strategy:
        name = text.strip().upper().replace(" ", "")
        if not name:
            raise InputError("strategy name is empty")
        if name in ALIASES:
            steps = ALIASES[name]
        else:
            steps = tuple(s for part in name.split("+") for s in ALIASES.get(part, (part,)))
            if not steps:
                raise InputError(f"strategy '{text}' has no steps")
            for s in steps:
                try:
                    get_technique(s)
                except InputError:
                    known = ", ".join([*ALIASES, *technique_names()])
                    raise InputError(f"unknown strategy step '{s}' in '{text}'; known: {known}") from None
        if len(set(steps)) != len(steps):
            raise InputError(f"strategy '{text}' repeats a step")
        name = next((alias for alias, chain in ALIASES.items() if chain == steps), name)
        for i, s in enumerate(steps):
            t = get_technique(s)
            blocked = [p for p in steps[:i] if not get_technique(p).keeps_torch]
            if t.needs_torch and blocked:
                raise InputError(
                    f"strategy '{text}': {s} needs the PyTorch model but {blocked[0]} before it leaves only "
                    f"an ONNX graph; put {s} first"
                )
        return cls(name, steps)

    @classmethod
    def of(cls, steps: Iterable[str]) -> Strategy:
        """The strategy of these steps, under its canonical name (``("PRN", "BLQ")`` is PRQ)."""
        return cls.parse("+".join(steps) or "NQ")

    @property
    def is_baseline(self) -> bool:
        return not self.steps

    @property
    def techniques(self) -> tuple[Technique, ...]:
        """The registered technique of each step, in order."""
        return tuple(get_technique(s) for s in self.steps)

    @property
    def trains(self) -> bool:
        return any(get_technique(s).trains for s in self.steps)

    def configs(self, params: dict[str, Any] | None = None) -> list[TechniqueConfig]:
        """One validated config per step from ``params`` (``STEP.name`` or unambiguous ``name``)."""
        per_step = split_params(self, params or {})
        return [get_technique(s).config(per_step[s]) for s in self.steps]

    def why_not(self, model: Model, data: DataSplits, configs: Sequence[TechniqueConfig] | None = None) -> str | None:
        """The first reason a step cannot apply to this model and data, or ``None``. With the
        steps' ``configs``, a step whose configuration needs no PyTorch module (distillation into
        a named student) is not asked for one, and provides one to the steps after it if it
        keeps PyTorch."""
        torch_available = model.has_torch
        for i, t in enumerate(self.techniques):
            if configs is not None and not t.needs_torch_with(configs[i]):
                torch_available = True
            reason = t.why_not(model, data, torch_available=torch_available)
            if reason:
                return reason
            torch_available = t.keeps_torch
        return None


def split_params(strategy: Strategy, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route ``{"FIQ.method": "entropy", "sparsity": 0.8}`` to each step's own parameters."""
    out: dict[str, dict[str, Any]] = {s: {} for s in strategy.steps}
    for key, value in params.items():
        if "." in key:
            step, _, name = key.partition(".")
            step = step.upper()
            if step not in out:
                raise InputError(f"parameter '{key}' names step {step}, which is not in strategy {strategy.name}")
            out[step][name] = value
            continue
        owners = [s for s in strategy.steps if any(p["name"] == key for p in get_technique(s).Config.params())]
        if not owners:
            known = sorted({f"{s}.{p['name']}" for s in strategy.steps for p in get_technique(s).Config.params()})
            raise InputError(
                f"strategy {strategy.name} has no parameter '{key}' (its parameters: {', '.join(known) or 'none'})"
            )
        if len(owners) > 1:
            raise InputError(
                f"parameter '{key}' is ambiguous in {strategy.name}: write {owners[0]}.{key} or {owners[1]}.{key}")
        out[owners[0]][key] = value
    return out


def search_strategies() -> tuple[str, ...]:
    """The strategies the advisor considers by default, read from the techniques' declarations:
    every ``searched`` technique alone, then each chain it declares in ``then``; post-training
    techniques first (they cost seconds), each group in name order. A chain that the step order
    rules out (a PyTorch step after an ONNX-only one) is an error in the declaring technique."""
    out: list[str] = []
    for t in sorted(all_techniques(), key=lambda t: (t.trains, t.name)):
        if not t.searched:
            continue
        out.append(t.name)
        out += [Strategy.of((t.name, nxt)).name for nxt in t.then]
    return tuple(dict.fromkeys(out))


def applicable_strategies(model: Model, data: DataSplits, strategies: Iterable[str] | None = None
                          ) -> tuple[list[str], dict[str, str]]:
    """Strategies (default: :func:`search_strategies`) that can apply to this model and data,
    and why each other one cannot (an unknown name is excluded with the parse error)."""
    ok, excluded = [], {}
    for name in search_strategies() if strategies is None else strategies:
        try:
            s = Strategy.parse(name)
        except InputError as e:
            excluded[name] = str(e)
            continue
        reason = s.why_not(model, data)
        if reason:
            excluded[s.name] = reason
        else:
            ok.append(s.name)
    return ok, excluded
