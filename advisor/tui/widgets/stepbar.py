"""The step indicator at the top of every screen: ``1 Device > 2 Model > ...``, current step lit."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["STEPS", "StepBar"]

# (screen name, label) in flow order.
STEPS: tuple[tuple[str, str], ...] = (
    ("device", "Device"),
    ("model", "Model"),
    ("questionnaire", "Budget"),
    ("ranking", "Ranking"),
    ("search", "Search"),
    ("advice", "Advice"),
)


class StepBar(Static):
    """Shows where the user is in the flow. ``done`` steps get a tick."""

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current
        self.done: set[str] = set()

    def on_mount(self) -> None:
        self.refresh_steps()

    def mark(self, done: set[str]) -> None:
        self.done = set(done)
        self.refresh_steps()

    def refresh_steps(self) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        for k, (name, label) in enumerate(STEPS, 1):
            if k > 1:
                t.append("›", style="dim")
            tick = "✓" if name in self.done and name != self.current else str(k)
            style = (
                "bold reverse"
                if name == self.current
                else ("green" if name in self.done else "dim")
            )
            t.append(f" {tick} {label} ", style=style)
        self.update(t)
