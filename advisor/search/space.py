"""The search space: which strategies, and each step's parameters from its own declaration.

Parameter names in the study are ``STEP.name`` (``FIQ.calibration_size``), shared by every
strategy that contains the step, so the sampler learns across ``FIQ``, ``KD+FIQ`` and ``PRN+FIQ``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from typing import Any

import optuna

from advisor.strategies import Strategy
from advisor.techniques import get_technique

__all__ = ["suggest", "default_params", "grid", "grid_values", "neighbors"]

def suggest(
    trial: optuna.Trial, strategies: list[str], space: dict[str, list[Any]] | None = None
) -> tuple[str, dict[str, Any]]:
    """Sample a strategy and every parameter of its steps (enqueued values come back as given).

    ``space`` narrows parameters to listed values (``{"PRN.sparsity": [0.5, 0.9]}``); others use
    the technique's declared search range.
    """
    name = trial.suggest_categorical("strategy", sorted(strategies))  # same choices on every resume
    s = Strategy.parse(name)
    params: dict[str, Any] = {}
    space = space or {}
    for step in s.steps:
        fixed = {}
        for key, values in space.items():
            st, _, pname = key.partition(".")
            if st == step:
                fixed[pname] = trial.suggest_categorical(key, list(values))
        cfg = get_technique(step).Config.suggest(trial, prefix=f"{step}.", fixed=fixed)
        params.update({f"{step}.{k}": v for k, v in cfg.to_dict().items()})
    return s.name, params


def default_params(strategy: str, searched_only: bool = False) -> dict[str, Any]:
    """Every parameter of every step at its default (what a first, enqueued trial runs).

    With ``searched_only``, only the parameters the sampler suggests (those with a search range
    or choices): exactly the keys an Optuna trial of this strategy records.
    """
    s = Strategy.parse(strategy)
    out: dict[str, Any] = {}
    for step, cfg in zip(s.steps, s.configs({}), strict=True):
        searched = {f.name for f in dataclasses.fields(cfg)
                    if f.metadata.get("choices") is not None or f.metadata.get("search") is not None}
        out.update({f"{step}.{k}": v for k, v in cfg.to_dict().items() if not searched_only or k in searched})
    return out


def grid_values(step: str) -> dict[str, list[Any]]:
    """The discrete values the search can take for each parameter of ``step``."""
    cfg_cls = get_technique(step).Config
    out: dict[str, list[Any]] = {}
    for f in dataclasses.fields(cfg_cls):
        m = f.metadata
        if m.get("choices") is not None:
            out[f.name] = list(m["search"] if m.get("search") is not None else m["choices"])
        elif m.get("search") is not None:
            lo, hi = m["search"]
            if type(f.default) is int:
                step_v = int(m.get("step") or 1)
                out[f.name] = list(range(int(lo), int(hi) + 1, step_v))
            else:
                st = m.get("step")
                if st is None:
                    out[f.name] = sorted({float(lo), float(f.default), float(hi)})
                else:
                    n = int(round((hi - lo) / st))
                    out[f.name] = [round(lo + i * st, 10) for i in range(n + 1)]
        else:
            out[f.name] = [f.default]
    return out


def grid(strategies: list[str], space: dict[str, list[Any]] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every point of the discrete search space (for the exhaustive-grid benchmark)."""
    space = space or {}
    for name in strategies:
        s = Strategy.parse(name)
        axes: list[tuple[str, list[Any]]] = []
        for step in s.steps:
            axes += [(f"{step}.{k}", space.get(f"{step}.{k}", v)) for k, v in grid_values(step).items()]
        if not axes:
            yield s.name, {}
            continue
        keys = [k for k, _ in axes]
        for combo in itertools.product(*[v for _, v in axes]):
            yield s.name, dict(zip(keys, combo, strict=True))


def neighbors(strategy: str, params: dict[str, Any], space: dict[str, list[Any]] | None = None) -> list[dict[str, Any]]:
    """One-step moves from ``params``: each searched parameter of each step moved, alone, to the
    next value down and up its search grid (about a quarter of the range for long numeric grids),
    in the steps' declaration order -- the capacity knob (width, sparsity, channel or rank ratio)
    comes first in every technique. Used to refine around the search's incumbent.
    """
    space = space or {}
    out: list[dict[str, Any]] = []
    for step in Strategy.parse(strategy).steps:
        for pname, values in grid_values(step).items():
            key = f"{step}.{pname}"
            values = list(space.get(key, values))
            if key not in params or len(values) < 2:
                continue
            try:
                i = values.index(params[key])
            except ValueError:
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                    continue
                i = min(range(len(values)), key=lambda j: abs(values[j] - params[key]))
            jump = max(1, len(values) // 4)
            for j in (i - jump, i + jump):
                if 0 <= j < len(values) and values[j] != params[key]:
                    out.append({**params, key: values[j]})
    return out
