"""The key map (F1 or ?): one table for the whole app, the same one docs/tui.md shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

__all__ = ["HelpScreen", "KEYS"]

# (where, key, what) -- keep in step with the screens' BINDINGS and docs/tui.md.
KEYS: tuple[tuple[str, str, str], ...] = (
    ("any", "F1, ?", "this help"),
    ("any", "ctrl+n", "next step (the Next button)"),
    ("any", "Escape", "back one step; closes help and advice.md"),
    ("any", "Tab, shift+Tab", "next / previous field or button"),
    ("any", "Enter, Space", "press the focused button or option"),
    ("any", "q, ctrl+c", "quit (finished trials are kept)"),
    ("Device", "p", "profile this device now"),
    ("Device", "s", "save the profile under the typed name"),
    ("Device", "l, c", "load / compare the chosen saved profile"),
    ("Model", "l", "load model and data, measure the original"),
    ("Budget", "arrows", "move inside tier and effort choices"),
    ("Ranking", "up, down", "select a row: its reasons show below"),
    ("Ranking", "s", "search: measure candidates, best first"),
    ("Ranking", "a", "accept the top prediction, no search"),
    ("Search", "x", "stop; finished trials stay in the study"),
    ("Search", "r", "resume the same study"),
    ("Advice", "m", "open advice.md in the app"),
)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("Keys  (Escape closes; the mouse works too)", id="help-title")
            yield DataTable(id="keys", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_columns("where", "key", "does")
        for row in KEYS:
            t.add_row(*row)
