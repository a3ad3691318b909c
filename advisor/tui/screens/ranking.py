"""Step 4: the ranking before any trial -- predicted accuracy drop, size, latency and compression
time with 80% intervals and the chance to fit the budget; the reasons for the selected row; then
search, or accept the top prediction (compressed and measured once, no search)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, Static

from advisor.errors import AdvisorError
from advisor.tui.messages import JobFailed, RankingReady
from advisor.tui.screens._base import StepScreen
from advisor.tui.views import RANKING_COLUMNS, ranking_rows, top_strategy
from advisor.tui.widgets import RowsTable
from advisor.tui.work import rank_problem

__all__ = ["RankingScreen", "reasons_text", "ranking_title"]


def ranking_title(ranking) -> str:
    """The table's title: what the figures are, with the intervals' nominal coverage."""
    cov = f"{getattr(ranking, 'coverage', 0.9):.0%}"
    return (f"Predicted before any trial: mean [{cov} interval]; fits = chance to meet the budget; "
            "speed-up over the original")


def reasons_text(item, ranking) -> str:
    """What the reasons panel shows for one ranked strategy."""
    lines = []
    if item.excluded is not None:
        lines.append(f"{item.strategy} cannot be used: {item.excluded}")
    elif getattr(item, "unknown", None) is not None:
        lines.append(f"{item.strategy}: prediction unknown ({item.unknown})")
    elif item.p_each:
        lines.append(
            f"{item.strategy}: chance to fit {item.p_meets:.0%} ("
            + ", ".join(f"{k} {v:.0%}" for k, v in item.p_each.items())
            + ")"
        )
    learned = getattr(item, "learned_from", None) or {}
    if learned.get("latency_estimate"):
        cov = f"{ranking.coverage:.0%}" if getattr(ranking, "coverage", None) else ""
        lines.append(f"- learned from: {learned.get('records', ranking.kb_records)} records "
                     f"({learned.get('similar_records', 0)} of similar models"
                     + (f", {ranking.device_records} of this device" if getattr(ranking, "device_records", None)
                        is not None else "")
                     + f"); latency from {learned['latency_estimate']}; {cov} intervals calibrated on "
                     + learned.get("intervals_from", "held-out model families"))
    for r in item.reasons:
        lines.append(f"- {r.text}  [{r.source}]")
    if not item.reasons and item.excluded is None:
        lines.append(
            "- no rule fired for it; the prediction comes from the knowledge base "
            f"({ranking.kb_records} records)"
        )
    return "\n".join(lines)


class RankingScreen(StepScreen):
    STEP = "ranking"
    NEXT_LABEL = "Search"
    BINDINGS = [Binding("s", "next", "Search"), Binding("a", "accept", "Accept top")]

    def body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Label(
                ranking_title(None),
                markup=False,
                id="ranking-title",
                classes="section",
            )
            yield RowsTable(RANKING_COLUMNS, id="ranking")
            yield Static("", markup=False, id="reasons")
            with Horizontal(classes="buttons"):
                yield Button("Accept top prediction (a)", id="accept", compact=True)

    def on_show_step(self) -> None:
        s = self.session
        if s.ranking is not None:
            self.show_ranking(s.ranking)
        elif s.problem is None or s.budget is None:
            self.note("Answer the questionnaire first (Back)")
        else:
            self.query_one("#reasons", Static).update("ranking strategies ...")
            self.note("Ranking ...")
            self.rank()

    @work(thread=True, exclusive=True, group="rank")
    def rank(self) -> None:
        s = self.session
        try:
            self.post_message(
                RankingReady(rank_problem(s.problem, s.budget, s.profile, s.config.strategies))
            )
        except AdvisorError as e:
            self.post_message(JobFailed("rank", " ".join(str(e).split())))
        except Exception as e:  # noqa: BLE001
            self.post_message(JobFailed("rank", f"{type(e).__name__}: {e}"))

    def on_ranking_ready(self, m: RankingReady) -> None:
        self.session.ranking = m.ranking
        self.show_ranking(m.ranking)

    def on_job_failed(self, m: JobFailed) -> None:
        if m.job == "rank":
            self.query_one("#reasons", Static).update(f"error: {m.error}")
            self.note("Ranking failed")

    def show_ranking(self, ranking) -> None:
        self.query_one("#ranking-title", Label).update(ranking_title(ranking))
        table = self.query_one("#ranking", RowsTable)
        table.set_rows(ranking_rows(ranking), keys=[i.strategy for i in ranking.items])
        top = top_strategy(ranking)
        self.query_one("#accept", Button).disabled = top is None
        self.query_one("#accept", Button).label = (
            f"Accept {top} without search (a)" if top else "Accept top (a)"
        )
        self.note(f"{len(ranking.order())} candidates; Search (s) measures them")
        if ranking.items:
            table.move_cursor(row=0)
            self._show_reasons(ranking.items[0].strategy)
        table.focus()

    @on(DataTable.RowHighlighted, "#ranking")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._show_reasons(event.row_key.value)

    def _show_reasons(self, strategy: str) -> None:
        r = self.session.ranking
        if r is None:
            return
        item = next((i for i in r.items if i.strategy == strategy), None)
        if item is not None:
            general = "\n".join(f"- {g.text}  [{g.source}]" for g in r.reasons)
            self.query_one("#reasons", Static).update(
                reasons_text(item, r) + ("\n" + general if general else "")
            )

    def _ready(self) -> bool:
        if self.session.ranking is None:
            self.note("Wait for the ranking")
            return False
        if self.advisor.busy("search"):
            self.note("A search is already running (see Search)")
            self.advisor.go("search")
            return False
        return True

    @on(Button.Pressed, "#accept")
    def action_accept(self) -> None:
        if not self._ready():
            return
        top = top_strategy(self.session.ranking)
        if top is None:
            self.note("No strategy to accept")
            return
        self.advisor.start_search(accept=top)

    def next_step(self) -> bool:
        if not self._ready():
            return False
        self.advisor.start_search()
        return False  # start_search switches screens
