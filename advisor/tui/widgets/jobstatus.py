"""A progress bar with a one-line message, driven by :class:`~advisor.tui.messages.JobProgress`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

__all__ = ["JobStatus"]


class JobStatus(Horizontal):
    """``[stage] message  [=====     ] 45%``; hidden until a job starts."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1.0, show_eta=False, id="bar")
        yield Label("", markup=False, id="msg")

    def start(self, text: str) -> None:
        self.display = True
        self.query_one(ProgressBar).update(total=1.0, progress=0.0)
        self.query_one("#msg", Label).update(text)

    def step(self, fraction: float, text: str) -> None:
        self.display = True
        self.query_one(ProgressBar).update(progress=max(0.0, min(1.0, fraction)))
        if text:
            self.query_one("#msg", Label).update(text)

    def finish(self, text: str) -> None:
        self.query_one(ProgressBar).update(progress=1.0)
        self.query_one("#msg", Label).update(text)
