"""Progress reporting and cancellation shared by every long-running stage.

The core never imports Textual: the CLI passes a callback that drives a ``rich`` progress bar, the
TUI passes one that posts a message from its worker thread, and tests pass a list's ``append``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from advisor.errors import Cancelled

__all__ = ["Progress", "ProgressEvent", "RunContext"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``stage`` (e.g. ``"KD"``), ``fraction`` in [0, 1], a short message."""

    stage: str
    fraction: float
    message: str = ""


Progress = Callable[[ProgressEvent], None]


def _ignore(_: ProgressEvent) -> None:
    return None


@dataclass
class RunContext:
    """What a long-running call needs besides its inputs: where to report, and whether to stop.

    Args:
        progress: called with a :class:`ProgressEvent` now and then; must be cheap and thread-safe.
        cancel: set it (from any thread) to stop the work at the next check.
        torch_threads: intra-op threads for training in torch.
        seed: seed for every random choice the stage makes.

    Example:
        >>> ctx = RunContext()
        >>> ctx.report("FIQ", 0.5, "calibrating")
        >>> ctx.cancel.set()
        >>> ctx.check()
        Traceback (most recent call last):
        ...
        advisor.errors.Cancelled: stopped by the user
    """

    progress: Progress = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)
    torch_threads: int | None = None
    seed: int = 0

    def report(self, stage: str, fraction: float, message: str = "") -> None:
        self.progress(ProgressEvent(stage, min(1.0, max(0.0, fraction)), message))

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel.is_set():
            raise Cancelled("stopped by the user")
