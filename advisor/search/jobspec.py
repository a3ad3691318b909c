"""The job description stored with a study, so a worker can rebuild the same problem: :class:`JobSpec`.

It is kept in the study's user attribute :data:`~advisor.search.storage.SPEC_KEY` as the plain
mapping :meth:`JobSpec.to_dict` gives (the format studies were written in before the type existed).

Example:
    >>> spec = JobSpec(model="builtin:digits-cnn", data="builtin:digits", budget=Budget.preset("mid"))
    >>> JobSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from advisor.budget import Budget
from advisor.errors import AdvisorError, InputError

__all__ = ["JobSpec", "SPLIT_POLICIES"]

#: How the data is split (:attr:`advisor.data.DataSplits.policy`).
SPLIT_POLICIES = ("train", "post-training", "train-data")


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to rebuild a problem and join its search.

    Sources are absolute paths (or ``builtin:``/``hub:`` names); ``split`` is the data's split
    policy; ``strategies`` and ``trials`` are set once the spec is stored with a study (the
    study's strategy choices and its target number of finished trials).

    Raises:
        InputError: a field has the wrong type or value (one line naming the field).
    """

    model: str
    data: str
    budget: Budget
    train_data: str | None = None
    metric: str | None = None
    split: str | None = None
    weights: str | None = None
    input_shape: tuple[int, ...] | None = None
    threads: int = 1
    spinning: bool = False
    strategies: tuple[str, ...] | None = None
    trials: int | None = None

    def __post_init__(self) -> None:
        for name in ("model", "data"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InputError(f"job description field '{name}' must be a non-empty string, got {value!r}")
        for name in ("train_data", "metric", "weights"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InputError(f"job description field '{name}' must be a string or null, got {value!r}")
        if not isinstance(self.budget, Budget):
            raise InputError(f"job description field 'budget' must be a Budget, got {type(self.budget).__name__}")
        if self.split is not None and self.split not in SPLIT_POLICIES:
            raise InputError(f"job description field 'split' must be one of {', '.join(SPLIT_POLICIES)} or null, "
                             f"got {self.split!r}")
        if self.input_shape is not None:
            shape = self.input_shape
            if not isinstance(shape, (tuple, list)) or not shape or not all(_positive_int(d) for d in shape):
                raise InputError(f"job description field 'input_shape' must be a list of positive integers, "
                                 f"got {shape!r}")
            object.__setattr__(self, "input_shape", tuple(shape))
        if not _positive_int(self.threads):
            raise InputError(f"job description field 'threads' must be an integer >= 1, got {self.threads!r}")
        if not isinstance(self.spinning, bool):
            raise InputError(f"job description field 'spinning' must be true or false, got {self.spinning!r}")
        if self.strategies is not None:
            if isinstance(self.strategies, str) or not all(isinstance(s, str) and s for s in self.strategies):
                raise InputError(f"job description field 'strategies' must be a list of strategy names, "
                                 f"got {self.strategies!r}")
            object.__setattr__(self, "strategies", tuple(self.strategies))
        if self.trials is not None and not _positive_int(self.trials):
            raise InputError(f"job description field 'trials' must be an integer >= 1, got {self.trials!r}")

    def stored(self, strategies: list[str] | tuple[str, ...], trials: int) -> JobSpec:
        """This spec as stored with a study: with its strategy choices and target trial count."""
        return replace(self, strategies=tuple(strategies), trials=trials)

    def to_dict(self) -> dict[str, Any]:
        """The stored mapping (JSON values); ``strategies`` and ``trials`` only once set."""
        d: dict[str, Any] = {
            "model": self.model,
            "data": self.data,
            "train_data": self.train_data,
            "metric": self.metric,
            "split": self.split,
            "weights": self.weights,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "budget": self.budget.to_dict(),
            "threads": self.threads,
            "spinning": self.spinning,
        }
        if self.strategies is not None:
            d["strategies"] = list(self.strategies)
        if self.trials is not None:
            d["trials"] = self.trials
        return d

    @classmethod
    def from_dict(cls, d: Any) -> JobSpec:
        """From the stored mapping.

        Raises:
            InputError: not a mapping, an unknown field (a newer advisor wrote it), a missing or
                bad one.
        """
        if not isinstance(d, dict):
            raise InputError(f"a job description must be a mapping, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in names)
        if unknown:
            raise InputError(f"job description has unknown field(s) {', '.join(unknown)}; "
                             "was the study written by a newer advisor?")
        missing = [k for k in ("model", "data", "budget") if d.get(k) is None]
        if missing:
            raise InputError(f"job description is missing field(s) {', '.join(missing)}")
        try:
            budget = Budget.from_dict(d["budget"])
        except AdvisorError as e:
            raise InputError(f"job description field 'budget': {e}") from None
        values = {k: v for k, v in d.items() if k != "budget" and v is not None}
        return cls(budget=budget, **values)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1
