"""Where the rules meet the regression: the one place that says how a rule's firing changes a
strategy's place, how much it counts against the predictions, and the order itself.

- A rule's **shift** (score units: one unit is a factor e on the objective) counts in full where
  the regression is unsure about the budget's objective and fades, down to a tenth, where its
  calibrated interval is narrow (:data:`RULE_FULL_AT`: the spread at which a rule counts in full).
  Shifts move the order, never the predicted figures, so predicted-vs-measured stays honest.
- ``exclude`` removes a strategy (with the reason), ``last`` sends it after every other one,
  ``note`` only explains.
- The **sort key**: strategies with at least an even chance to meet the budget first, best first
  on the objective after the shifts; then the rest by their chance; then those without a
  prediction (their dry run failed); last, those a rule sends last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from advisor.budget import Budget
from advisor.ranking.rules import Firing
from advisor.types import Reason

if TYPE_CHECKING:
    from advisor.ranking._rank import RankedStrategy

__all__ = ["RULE_FULL_AT", "RULE_FLOOR", "EVEN_CHANCE", "apply_firing", "effective_shift", "objective", "sort_key",
           "assign_ranks"]

#: The predictive spread (std-equivalent of the calibrated interval; log units for latency and
#: size, points for accuracy) at which a rule's shift counts in full.
RULE_FULL_AT = {"latency": 1.0, "size": 1.0, "accuracy": 3.0}
#: A rule never counts less than this share of its shift.
RULE_FLOOR = 0.1
#: The chance to meet the budget from which a strategy is in the first group.
EVEN_CHANCE = 0.5
_STD_KEY = {"latency": "latency", "size": "size", "accuracy": "accuracy"}


def apply_firing(f: Firing, by_name: dict[str, RankedStrategy], general: list[Reason]) -> None:
    """Record one rule firing on the strategies it touches (a firing for none is a general note)."""
    if not f.strategies:
        general.append(f.reason)
        return
    for name in f.strategies:
        item = by_name.get(name)
        if item is None:
            continue
        item.reasons.append(f.reason)
        if f.effect == "exclude":
            item.excluded = f.reason.text
        elif f.effect == "last":
            item.last = True
        elif f.effect == "shift":
            item.shifts.append((f.shift, f.aspect))


def effective_shift(item: RankedStrategy, budget: Budget) -> float:
    """The rules' shifts about the budget's objective (or about everything), faded where the
    regression is confident: full at a spread of ``RULE_FULL_AT``, never below ``RULE_FLOOR``."""
    total = sum(sh for sh, aspect in item.shifts if aspect in ("any", budget.objective))
    if not total:
        return 0.0
    std = item.std.get(_STD_KEY[budget.objective])
    weight = 1.0 if std is None else min(1.0, max(RULE_FLOOR, std / RULE_FULL_AT[budget.objective]))
    return total * weight


def objective(item: RankedStrategy, budget: Budget) -> float:
    """The predicted objective in score units (log latency, log size, accuracy points)."""
    pr = item.predicted
    if budget.objective == "size":
        return math.log(max(1.0, pr["size_bytes"].mean))
    if budget.objective == "accuracy":
        return pr["accuracy_drop_pts"].mean
    return math.log(max(1e-6, pr["latency_ms_p90"].mean))


def sort_key(item: RankedStrategy) -> tuple:
    """Predicted strategies first (even chance to fit, best score first; then by chance), then the
    unknown ones, then those a rule sent last."""
    even = item.p_meets >= EVEN_CHANCE
    return (item.last, item.unknown is not None, not even, item.score if even else -item.p_meets)


def assign_ranks(items: Iterable[RankedStrategy], budget: Budget) -> list[RankedStrategy]:
    """Score the live strategies (objective minus the effective shift), sort them by
    :func:`sort_key` and number them from 1; excluded ones follow, unranked."""
    items = list(items)
    for i in items:
        if i.excluded is None and i.unknown is None:
            i.shift = effective_shift(i, budget)
            i.score = objective(i, budget) - i.shift
    live = sorted((i for i in items if i.excluded is None), key=sort_key)
    for r, i in enumerate(live, 1):
        i.rank = r
    return live + [i for i in items if i.excluded is not None]
