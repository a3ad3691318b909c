"""Progress reporting and cancellation shared by every long-running stage.

The core never imports Textual: the CLI passes a callback that drives a ``rich`` progress bar, the
TUI passes one that posts a message from its worker thread, and tests pass a list's ``append``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from advisor.errors import Cancelled

__all__ = ["Progress", "ProgressEvent", "RunContext", "default_torch_threads"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``stage`` (e.g. ``"KD"``), ``fraction`` in [0, 1], a short message."""

    stage: str
    fraction: float
    message: str = ""


Progress = Callable[[ProgressEvent], None]


def _ignore(_: ProgressEvent) -> None:
    return None


def default_torch_threads() -> int:
    """Threads for torch work (training, SVD...): all cores but one, at least one. The same count on
    every run, so a trial that trains repeats bit for bit on this machine (a count that followed the
    load -- as it once did -- summed floats in another order from run to run and moved borderline
    samples, and with them the demo's pick); the core left free keeps a busy 2-core host from the
    10-20x slowdown of a parallel region waiting on a thread that shares a core."""
    return max(1, (psutil.cpu_count() or 1) - 1)


@dataclass
class RunContext:
    """What a long-running call needs besides its inputs: where to report, and whether to stop.

    Args:
        progress: called with a :class:`ProgressEvent` now and then; must be cheap and thread-safe.
        cancel: set it (from any thread) to stop the work at the next check.
        torch_threads: intra-op threads for torch work (training, SVD...); ``None`` = decide from
            :func:`default_torch_threads` (all cores but one).
        seed: seed for every random choice the stage makes.
        compress_limit: seconds one compression may take (the search sets it per trial from
            ``--max-compress-time`` and the time budget left); training stops at that limit.

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
    compress_limit: float | None = None

    def report(self, stage: str, fraction: float, message: str = "") -> None:
        self.progress(ProgressEvent(stage, min(1.0, max(0.0, fraction)), message))

    def apply_torch_threads(self) -> int:
        """Set torch's intra-op threads for the coming work and return the number used."""
        import torch  # the bottom layer stays light (fileio, errors); torch only when work sets threads

        n = self.torch_threads or default_torch_threads()
        torch.set_num_threads(n)
        return n

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel.is_set():
            raise Cancelled("stopped by the user")
