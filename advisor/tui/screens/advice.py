"""Step 6: the advice -- the pick, original vs compressed vs budget, alternatives on the Pareto
front, reasons with their sources, where the files went; ``advice.md`` opens inside the app."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, MarkdownViewer, Static

from advisor.advice import Advice
from advisor.tui.screens._base import StepScreen
from advisor.tui.views import (
    ADVICE_COLUMNS,
    CANDIDATE_COLUMNS,
    advice_rows,
    alternative_lines,
    candidate_rows,
)
from advisor.tui.widgets import RowsTable

__all__ = ["AdviceScreen", "MarkdownScreen", "reason_lines", "file_lines"]


def reason_lines(advice: Advice) -> list[str]:
    return [f"- {r.text}\n    evidence: {r.evidence}\n    source: {r.source}" for r in advice.reasons]


def file_lines(advice: Advice, out: Path) -> list[str]:
    return [f"{name}: {out.resolve() / name}" for name in (advice.model_file, "advice.md", "advice.json", "pareto.png")]


class MarkdownScreen(Screen):
    """``advice.md`` rendered in the app (Escape or q closes it)."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close")]

    def __init__(self, path: Path, title: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.title_text = title or str(path)

    def compose(self) -> ComposeResult:
        yield Label(f" {self.title_text}   (Escape closes)", markup=False, id="md-title")
        yield MarkdownViewer(
            self.path.read_text(encoding="utf-8"), show_table_of_contents=False, id="md"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(MarkdownViewer).focus()


class AdviceScreen(StepScreen):
    STEP = "advice"
    NEXT_LABEL = "Quit"
    BINDINGS = [Binding("m", "open_markdown", "Open advice.md")]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="body"):
            yield Static("No advice yet: run a search (Back)", markup=False, id="headline")
            yield RowsTable(ADVICE_COLUMNS, id="compare")
            yield Label("Every candidate (validation; speed-ups against the original in the same run)",
                        classes="section")
            yield RowsTable(CANDIDATE_COLUMNS, id="candidates")
            yield Label("Alternatives on the Pareto front", classes="section")
            yield Static("", markup=False, id="alternatives")
            yield Label("Why", classes="section")
            yield Static("", markup=False, id="advice-reasons")
            yield Label("Files", classes="section")
            yield Static("", markup=False, id="files")
            with Horizontal(classes="buttons"):
                yield Button("Open advice.md (m)", id="open-md", variant="primary", compact=True)

    def on_show_step(self) -> None:
        advice = self.session.advice
        if advice is not None:
            self.show_advice(advice, self.session.out)
        self.note("m opens advice.md; Back to change the budget and search again")

    def show_advice(self, advice: Advice, out: Path) -> None:
        """Fill the screen from the typed advice (the same value advice.md and the CLI render)."""
        self.advice, self.out = advice, out
        self.query_one("#headline", Static).update(
            advice.headline() + f"\nBudget: {advice.budget.describe()}.  Device: {_device_text(advice)}."
        )
        self.query_one("#compare", RowsTable).set_rows(advice_rows(advice))
        self.query_one("#candidates", RowsTable).set_rows(candidate_rows(advice))
        alts = alternative_lines(advice)
        self.query_one("#alternatives", Static).update("\n".join(alts) if alts else "none besides the pick")
        self.query_one("#advice-reasons", Static).update("\n".join(reason_lines(advice)))
        self.query_one("#files", Static).update("\n".join(file_lines(advice, out)))

    @on(Button.Pressed, "#open-md")
    def action_open_markdown(self) -> None:
        out = getattr(self, "out", None)
        if out is None or not (out / "advice.md").is_file():
            self.notify("No advice.md yet", severity="warning")
            return
        self.app.push_screen(MarkdownScreen(out / "advice.md"))

    def next_step(self) -> bool:
        self.app.call_later(self.app.action_quit)
        return False


def _device_text(advice: Advice) -> str:
    d = advice.device or {}
    return f"{d.get('profile') or 'not profiled'}, {d.get('threads')} thread(s)"
