"""No wasted trials: a candidate equal to one the study already measured is not measured again.

A candidate's key is its strategy plus every parameter of its steps (defaults included), so
``FIQ`` and ``FIQ(calibration_size=200)`` are the same candidate and a parameter-free strategy
has one key. The key is stored on the trial; a trial is a duplicate when a lower-numbered trial
with the same key finished (measured or failed) or is still running in another worker -- the
lower number wins, so two workers starting the same candidate at once do not both give way.
A duplicate is pruned without measuring (it does not count towards ``--trials``) and an untried
candidate is queued in its place: a one-step neighbour first, then the next untried grid point
of the same strategy, then of the others.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from advisor.search._record import DUPLICATE_ATTR, KEY_ATTR, TrialRecord
from advisor.search.space import default_params, grid, neighbors

__all__ = ["candidate_key", "duplicate_of", "tried_keys", "untried", "queued_keys", "KEY_ATTR", "DUPLICATE_ATTR"]

def _norm(v: Any) -> Any:
    return float(f"{v:.10g}") if isinstance(v, float) else v


def candidate_key(strategy: str, params: dict[str, Any]) -> str:
    """The strategy and all its parameters (missing ones at their defaults), as canonical JSON."""
    full = {**default_params(strategy), **params}
    return json.dumps({"strategy": strategy, **{k: _norm(v) for k, v in sorted(full.items())}}, sort_keys=True)


def _holding(study: optuna.Study) -> list[TrialRecord]:
    """Trials that hold their candidate (:attr:`TrialRecord.holds_candidate`): measured, failed,
    or running -- not one cut short (it runs again), skipped for time, or itself a duplicate."""
    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING)
    records = (TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False, states=states))
    return [r for r in records if r.holds_candidate]


def tried_keys(study: optuna.Study) -> set[str]:
    """Keys of every candidate the study measured, failed on, or is measuring."""
    return {r.candidate_key for r in _holding(study) if r.candidate_key is not None}


def duplicate_of(study: optuna.Study, number: int, key: str) -> int | None:
    """The number of an earlier trial holding ``key`` (finished, or running elsewhere), or ``None``."""
    for r in _holding(study):
        if r.number < number and r.candidate_key == key:
            return r.number
    return None


def untried(strategy: str, params: dict[str, Any], tried: set[str], strategies: Sequence[str],
            space: dict[str, list[Any]] | None = None, queued: set[str] | None = None) -> dict[str, Any] | None:
    """Fixed parameters (``strategy`` included, searched ones only) of a candidate not in
    ``tried`` or ``queued``: a neighbour of ``strategy``/``params``, else the first untried grid
    point of ``strategy``, then of the other ``strategies`` in order; ``None`` once every
    point of the (narrowed) space was tried."""
    skip = set(tried) | set(queued or ())
    order = [strategy, *[s for s in strategies if s != strategy]]
    moves = ((strategy, p) for p in neighbors(strategy, params, space))
    points = ((s, p) for name in order for s, p in grid([name], space))
    for s, p in itertools.chain(moves, points):
        if candidate_key(s, p) not in skip:
            searched = default_params(s, searched_only=True)
            return {"strategy": s, **{k: v for k, v in p.items() if k in searched}}
    return None


def queued_keys(study: optuna.Study) -> set[str]:
    """Keys of the candidates waiting in the study's queue."""
    out = set()
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        fixed = dict(t.system_attrs.get("fixed_params") or {})
        strategy = fixed.pop("strategy", None)
        if strategy is not None:
            try:
                out.add(candidate_key(strategy, fixed))
            except Exception:  # noqa: BLE001 - a foreign queue entry: not ours to judge
                continue
    return out
