"""What one trial of the study holds, as a typed value: :class:`TrialRecord`.

The record is stored in the trial's Optuna user attributes (one JSON value per key, readable in
optuna-dashboard); this module is the one place that knows the key names. The stored format is
the one studies were written in before the record existed, so older studies resume unchanged.

Example:
    >>> rec = TrialRecord(number=3, strategy="KD+FIQ", params={"KD.width": 0.5}, train_scale=2.0)
    >>> rec.to_user_attrs()
    {'strategy': 'KD+FIQ', 'train_scale': 2.0}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from advisor.types import Measurement

__all__ = ["TrialRecord", "KEY_ATTR", "DUPLICATE_ATTR", "write_record"]

KEY_ATTR = "candidate"  # the candidate's canonical key (advisor.search.dedupe)
DUPLICATE_ATTR = "duplicate_of"  # the earlier trial that holds the same candidate

# field -> user-attribute key, for the fields stored in user attributes (the others come from
# the trial itself: its number, state and parameters)
_KEYS = {
    "strategy": "strategy",
    "host": "host",
    "pid": "pid",
    "candidate_key": KEY_ATTR,
    "duplicate_of": DUPLICATE_ATTR,
    "exhausted": "exhausted",
    "skipped": "skipped",
    "predicted_compress_seconds": "predicted_compress_seconds",
    "stopped": "stopped",
    "error": "error",
    "interrupted": "interrupted",
    "constraints": "constraints",
    "verdicts": "verdicts",
    "feasible": "feasible",
    "train_scale": "train_scale",
    "measurement": "measurement",
    "notes": "notes",
    "model_file": "model_file",
    "model_sha256": "model_sha256",
    "artifact": "artifact",
}
# a field at this value is not written (and reads back as it) -- except that a measured trial
# always has its training scale and notes written
_UNSET: dict[str, Any] = {"exhausted": False, "interrupted": False, "train_scale": 1.0, "notes": {}}
_WITH_MEASUREMENT = ("train_scale", "notes")


@dataclass(frozen=True)
class TrialRecord:
    """One trial: the candidate it ran (``strategy`` is the canonical name such as ``KD+FIQ``,
    ``params`` its parameters as the study holds them) and what became of it.

    A field left at its default was not recorded. ``label`` (``KD+FIQ(width=0.5) #3``) is only
    for display and is not stored.
    """

    number: int = -1
    state: TrialState | None = None
    strategy: str = "?"
    params: dict[str, Any] = field(default_factory=dict)
    host: str | None = None
    pid: int | None = None
    candidate_key: str | None = None
    duplicate_of: int | None = None  # a duplicate of that earlier trial's candidate: not measured
    exhausted: bool = False  # no untried candidate was left to queue in a duplicate's place
    skipped: str | None = None  # not run: it would not have fitted in the time left (why)
    predicted_compress_seconds: float | None = None
    stopped: str | None = None  # stopped at the compression-time limit (why)
    error: str | None = None  # the technique failed or could not apply (why)
    interrupted: bool = False  # cut short by Stop/Ctrl-C: runs again when the study resumes
    constraints: dict[str, float] | None = None  # each budget limit's excess at its pessimistic end (<= 0: met)
    verdicts: dict[str, str] | None = None  # each budget limit's state: fits / unresolved / within noise / breaks
    feasible: bool | None = None
    train_scale: float = 1.0
    measurement: Measurement | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # the technique's notes (JSON scalars)
    model_file: str | None = None
    model_sha256: str | None = None
    artifact: dict[str, Any] | None = None  # the measured model in the study's artifact store (ArtifactRef)
    fail_reason: str | None = None  # Optuna's own reason for a failed trial

    @property
    def model_path(self) -> Path | None:
        return None if self.model_file is None else Path(self.model_file)

    @property
    def not_run(self) -> bool:
        """Measured nothing by design: skipped for time, or a duplicate of an earlier trial's
        candidate (:mod:`advisor.search.dedupe`)."""
        return bool(self.skipped) or self.duplicate_of is not None

    @property
    def holds_candidate(self) -> bool:
        """Whether the trial holds its candidate: keyed, and not cut short, skipped or a duplicate."""
        return self.candidate_key is not None and not (self.interrupted or self.not_run)

    def to_user_attrs(self) -> dict[str, Any]:
        """The recorded fields as Optuna user attributes (JSON values)."""
        out: dict[str, Any] = {}
        for name, key in _KEYS.items():
            value = getattr(self, name)
            unset = name in _UNSET and value == _UNSET[name]
            if value is None or (unset and not (self.measurement is not None and name in _WITH_MEASUREMENT)):
                continue
            out[key] = value.to_dict() if isinstance(value, Measurement) else value
        return out

    @classmethod
    def from_trial(cls, t: FrozenTrial) -> TrialRecord:
        """The record of a stored trial (also one written before this type existed)."""
        a = t.user_attrs
        values: dict[str, Any] = {name: a[key] for name, key in _KEYS.items() if a.get(key) is not None}
        values["strategy"] = a.get("strategy") or t.params.get("strategy", "?")
        values["interrupted"] = bool(a.get("interrupted"))
        values["exhausted"] = bool(a.get("exhausted"))
        if "measurement" in values:
            values["measurement"] = Measurement.from_dict(values["measurement"])
        values["notes"] = dict(a.get("notes") or {})
        return cls(number=t.number, state=t.state, params={k: v for k, v in t.params.items() if k != "strategy"},
                   fail_reason=t.system_attrs.get("fail_reason"), **values)


def write_record(trial: optuna.Trial, record: TrialRecord, **changes: Any) -> TrialRecord:
    """``record`` with ``changes``, each changed field stored on the running ``trial`` at once
    (so a worker that dies mid-trial leaves what it had recorded)."""
    unknown = set(changes) - set(_KEYS)
    if unknown:
        raise TypeError(f"not stored in user attributes: {sorted(unknown)}")
    for name, value in changes.items():
        if value is not None:
            trial.set_user_attr(_KEYS[name], value.to_dict() if isinstance(value, Measurement) else value)
    return dataclasses.replace(record, **changes)
