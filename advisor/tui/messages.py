"""Messages the TUI's workers post (thread-safe ``post_message``) to their screens.

Each is a small dataclass. Progress messages collapse: a newer one for the same job replaces one
still waiting in the queue (``can_replace``), so bursts from the library never flood the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from advisor.advice import Advice
from advisor.problem import Evaluation, Problem
from advisor.profiling import DeviceProfile
from advisor.ranking import Ranking

__all__ = [
    "JobProgress",
    "JobFailed",
    "ProfileReady",
    "ProblemLoaded",
    "RankingReady",
    "TrialFinished",
    "SearchFinished",
]


@dataclass
class JobProgress(Message):
    """Progress of the job ``job`` (``profile``, ``load``, ``rank``, ``search``)."""

    job: str
    stage: str
    fraction: float
    text: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress) and message.job == self.job


@dataclass
class JobFailed(Message):
    """A job stopped with an error (one line for the user) or because the user cancelled it."""

    job: str
    error: str
    cancelled: bool = False


@dataclass
class ProfileReady(Message):
    profile: DeviceProfile
    measured: bool = True


@dataclass
class TargetReady(Message):
    """A measuring target of the fleet answered: every figure will be measured there."""

    target: Any  # advisor.measure.remote.Target
    profile: DeviceProfile | None


@dataclass
class ProblemLoaded(Message):
    problem: Problem
    inputs: dict[str, Any]
    excluded: dict[str, str]


@dataclass
class RankingReady(Message):
    ranking: Ranking


@dataclass
class TrialFinished(Message):
    """One finished trial (an :class:`~advisor.problem.Evaluation`), posted from the search thread;
    ``earlier``: finished in an earlier run of the same study (shown, not counted as new)."""

    evaluation: Evaluation
    earlier: bool = False


@dataclass
class SearchFinished(Message):
    """The search (or the accepted top prediction) produced advice, or stopped before it could."""

    advice: Advice | None
    stopped: str
    cancelled: bool = False
