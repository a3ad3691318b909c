"""The frame every step shares: header, step bar, body, Back/Next buttons, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label

from advisor.tui.widgets.stepbar import STEPS, StepBar

if TYPE_CHECKING:
    from advisor.tui.app import AdvisorApp
    from advisor.tui.state import Session

__all__ = ["StepScreen"]


class StepScreen(Screen):
    """One step of the flow. Subclasses set ``STEP`` and implement :meth:`body`; override
    :meth:`next_step` to validate or start work before moving on (return ``False`` to stay)."""

    STEP = ""
    NEXT_LABEL = "Next"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next", priority=True),
    ]

    @property
    def advisor(self) -> AdvisorApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        return self.advisor.session

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.STEP, id="steps")
        yield from self.body()
        with Horizontal(id="nav"):
            yield Button("< Back", id="back", compact=True)
            yield Label("", markup=False, id="nav-note")
            yield Button(f"{self.NEXT_LABEL} >", id="next", variant="primary", compact=True)
        yield Footer()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides it
        yield Label("")

    def on_screen_resume(self) -> None:
        self.query_one(StepBar).mark(self.advisor.done_steps())
        self.refresh_bindings()
        self.on_show_step()

    def on_show_step(self) -> None:
        """Called each time the step is shown (e.g. to refresh from the session)."""

    def note(self, text: str) -> None:
        """The one-line hint next to the Next button (why Next is blocked, what to do)."""
        self.query_one("#nav-note", Label).update(text)

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    def action_back(self) -> None:
        names = [s for s, _ in STEPS]
        k = names.index(self.STEP)
        if k > 0:
            self.advisor.go(names[k - 1])

    def action_next(self) -> None:
        names = [s for s, _ in STEPS]
        k = names.index(self.STEP)
        if self.next_step() and k + 1 < len(names):
            self.advisor.go(names[k + 1])

    def next_step(self) -> bool:
        return True
