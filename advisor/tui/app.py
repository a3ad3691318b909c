"""The Textual app behind ``advisor tui``: six steps, one screen each, Back/Next between them.

Only the App lives here; screens are in :mod:`advisor.tui.screens`, reusable parts in
:mod:`advisor.tui.widgets`, messages in :mod:`advisor.tui.messages`, styles in ``app.tcss``.

Example:
    >>> from advisor.tui import AdvisorApp, TuiConfig
    >>> AdvisorApp(TuiConfig(out=Path("runs/tui"))).run()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib

from textual.app import App
from textual.binding import Binding
from textual.worker import WorkerState

from advisor.tui.screens.advice import AdviceScreen
from advisor.tui.screens.device import DeviceScreen
from advisor.tui.screens.help import HelpScreen
from advisor.tui.screens.model import ModelScreen
from advisor.tui.screens.questionnaire import QuestionnaireScreen
from advisor.tui.screens.ranking import RankingScreen
from advisor.tui.screens.search import SearchScreen
from advisor.tui.state import Session, TuiConfig

__all__ = ["AdvisorApp"]


class AdvisorApp(App):
    """Compression Advisor: device -> model & data -> budget -> ranking -> search -> advice."""

    TITLE = "Compression Advisor"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    SCREENS = {
        "device": DeviceScreen,
        "model": ModelScreen,
        "questionnaire": QuestionnaireScreen,
        "ranking": RankingScreen,
        "search": SearchScreen,
        "advice": AdviceScreen,
    }
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(self, config: TuiConfig | None = None, *, start: str = "device") -> None:
        super().__init__()
        self.session = Session(config or TuiConfig())
        self.start_step = start
        self._quitting = False

    def on_mount(self) -> None:
        self.sub_title = "F1 help"
        self.push_screen(self.start_step)

    # -- navigation -------------------------------------------------------------------------------
    def go(self, step: str) -> None:
        """Show the screen of ``step`` (screens keep their state while hidden)."""
        if self.screen is not self.get_screen(step):
            self.switch_screen(step)

    def done_steps(self) -> set[str]:
        s = self.session
        done = set()
        if s.profile is not None:
            done.add("device")
        if s.problem is not None:
            done.add("model")
        if s.budget is not None:
            done.add("questionnaire")
        if s.ranking is not None:
            done.add("ranking")
        if s.advice is not None:
            done |= {"search", "advice"}
        return done

    def start_search(self, accept: str | None = None) -> None:
        """From the ranking: run the search (or accept ``accept`` without one) on the search screen."""
        screen: SearchScreen = self.get_screen("search")  # type: ignore[assignment]
        self.go("search")
        screen.request("accept" if accept else "search", accept)

    # -- jobs -------------------------------------------------------------------------------------
    def busy(self, group: str | None = None) -> bool:
        """Is a worker of ``group`` (any group if ``None``) still running?"""
        return any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            and (group is None or w.group == group)
            for w in self.workers
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit; a running job is cancelled first and waited for, so no finished trial is lost."""
        if self._quitting:
            self.notify("Still stopping the running job ...", severity="warning")
            return
        if not self.busy():
            self.exit()
            return
        self._quitting = True
        self.session.cancel_all()
        self.notify(
            "Stopping the running job; finished trials are kept. Quitting when it ends ...",
            timeout=30,
        )
        self.run_worker(self._quit_when_idle(), group="quit", exit_on_error=False)

    async def _quit_when_idle(self) -> None:
        for w in list(self.workers):
            if w.group != "quit" and w.state in (WorkerState.PENDING, WorkerState.RUNNING):
                with contextlib.suppress(Exception):  # a failed or cancelled worker is done too
                    await w.wait()
        self.exit()

    def on_unmount(self) -> None:
        self.session.close()
