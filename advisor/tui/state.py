"""What the TUI knows between screens: the settings it was started with and the session so far.

Both are plain dataclasses (no Textual), so tests can build them and screens only read/write them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.advice import Advice
from advisor.budget import Budget
from advisor.measure import MeasureSettings
from advisor.problem import Problem
from advisor.profiling import DeviceProfile
from advisor.progress import RunContext
from advisor.ranking import Ranking
from advisor.search import EFFORT  # one home: the same levels as ``advisor advise --effort``
from advisor.tui import device

__all__ = ["TuiConfig", "Session", "EFFORT"]


@dataclass(frozen=True)
class TuiConfig:
    """How the app was started (``advisor tui`` options; tests inject small settings here).

    Attributes:
        out: folder for ``model.onnx``, ``advice.json``, ``advice.md``, ``pareto.png`` and the study.
        profiles_dir: where device profiles are saved as ``NAME.yaml``.
        model, data: the model and data pre-filled on the model screen.
        measure: timing settings; ``None`` = from the device profile (threads), else the defaults.
        strategies: restrict ranking and search to these strategies (``None`` = all that apply).
        trials: finished trials to stop at, overriding the questionnaire's effort (tests).
        storage: Optuna storage URL (default: ``OUT/study.db``).
        profile: a device profile to start with (skips measuring; tests and ``--profile NAME``).
        quick_profile: measure the device in the profiler's quick mode.
    """

    out: Path = Path("runs/tui")
    profiles_dir: Path = Path("profiles")
    model: str = "builtin:digits-cnn"
    data: str = "builtin:digits"
    measure: MeasureSettings | None = None
    strategies: tuple[str, ...] | None = None
    trials: int | None = None
    storage: str | None = None
    profile: DeviceProfile | None = None
    quick_profile: bool = False


@dataclass
class Session:
    """Everything chosen or computed so far, step by step. ``None`` = that step is not done yet."""

    config: TuiConfig
    profile: DeviceProfile | None = None
    problem: Problem | None = None
    problem_inputs: dict[str, Any] = field(default_factory=dict)  # what the model screen loaded
    excluded: dict[str, str] = field(default_factory=dict)
    budget: Budget | None = None
    trials: int = EFFORT["quick"]
    time_budget: float | None = None
    ranking: Ranking | None = None
    advice: Advice | None = None
    measure_on: Any = None  # a measuring target of the fleet (advisor.measure.remote.Target), or None: this device
    study: str | None = None
    _contexts: list[RunContext] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.config.profile is not None and self.profile is None:
            self.profile = self.config.profile

    @property
    def out(self) -> Path:
        return self.config.out

    @property
    def storage(self) -> str | None:
        """The study storage: the measuring target's when the figures are measured on one."""
        return self.measure_on.storage_url if self.measure_on is not None else self.config.storage

    def measure_settings(self) -> MeasureSettings:
        """Timing settings: the injected ones, else the profile's suggestion, else the defaults."""
        if self.config.measure is not None:
            return self.config.measure

        return device.measure_settings(self.profile)

    def set_profile(self, profile: DeviceProfile | None) -> None:
        """A new current profile. A problem already pointed at another profile's device (its
        latencies predicted for that device) must be loaded again; the ranking is stale."""
        if profile is self.profile:
            return
        self.profile = profile
        self.ranking = None
        target = getattr(self.problem, "target", None)
        if target is not None and target is not profile:
            self.set_problem(None, {}, {})

    def set_problem(self, problem: Any, inputs: dict[str, Any], excluded: dict[str, str]) -> None:
        """A newly loaded problem replaces the old one; everything computed from it is stale."""
        old = self.problem
        self.problem, self.problem_inputs, self.excluded = problem, dict(inputs), dict(excluded)
        self.ranking = self.advice = None
        if old is not None and old is not problem:
            old.close()

    # Run contexts of jobs in flight: Stop/quit sets their cancel event.
    def track(self, ctx: RunContext) -> RunContext:
        with self._lock:
            self._contexts.append(ctx)
        return ctx

    def untrack(self, ctx: RunContext) -> None:
        with self._lock:
            self._contexts[:] = [c for c in self._contexts if c is not ctx]

    def cancel_all(self) -> int:
        with self._lock:
            for c in self._contexts:
                c.cancel.set()
            return len(self._contexts)

    def close(self) -> None:
        if self.problem is not None:
            self.problem.close()
            self.problem = None
