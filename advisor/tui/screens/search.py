"""Step 5: the search -- live trial table, progress, elapsed/remaining, a Pareto plot updated as
trials land. Stop keeps every finished trial in the study; Resume continues the same study (also
in a later session: the same model, data and budget give the same study name)."""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, Label

from advisor.decide import drop_of, meets, speed
from advisor.errors import AdvisorError, Cancelled
from advisor.progress import RunContext
from advisor.tui import work as jobs
from advisor.tui.messages import JobFailed, JobProgress, SearchFinished, TrialFinished
from advisor.tui.screens._base import StepScreen
from advisor.tui.views import TRIAL_COLUMNS, trial_row
from advisor.tui.widgets import JobStatus, ParetoPlot, RowsTable
from advisor.tui.widgets.pareto import LEGEND, PlotPoint
from advisor.tui.work import ModelChoice, study_for

__all__ = ["SearchScreen", "fmt_seconds"]


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = max(0, int(round(s)))
    return f"{s // 60:02d}:{s % 60:02d}"


class SearchScreen(StepScreen):
    STEP = "search"
    NEXT_LABEL = "Advice"
    BINDINGS = [Binding("x", "stop", "Stop"), Binding("r", "resume", "Resume")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kind: str | None = None  # "search", "accept" or "advice" while a job runs
        self.target = 0
        self.started: float | None = None
        self.new_trials = 0
        self.seen: set[int] = set()
        self.measured = 0
        self.stopped_text = ""
        self._pending: tuple[str, str | None] | None = None

    def body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Label(
                "Not started: choose Search or Accept on the ranking (Back)",
                markup=False,
                id="search-status",
            )
            yield JobStatus(id="status")
            with Horizontal(id="search-main"):
                yield RowsTable(TRIAL_COLUMNS, id="trials")
                with Vertical(id="plot-box"):
                    yield ParetoPlot(id="pareto")
                    yield Label(LEGEND, markup=False, id="legend")
            with Horizontal(classes="buttons"):
                yield Button("Stop (x)", id="stop", variant="error", compact=True, disabled=True)
                yield Button("Resume (r)", id="resume", compact=True, disabled=True)
                yield Label("", markup=False, id="study")

    def on_mount(self) -> None:
        self.query_one(JobStatus).display = False
        self.set_interval(1.0, self.tick)
        if self._pending is not None:
            kind, strategy = self._pending
            self._pending = None
            self.start(kind, strategy)

    def request(self, kind: str = "search", strategy: str | None = None) -> None:
        """Start ``kind`` now, or as soon as the screen is composed."""
        if self.is_mounted:
            self.start(kind, strategy)
        else:
            self._pending = (kind, strategy)

    @property
    def running(self) -> bool:
        return self.kind is not None

    # -- starting -------------------------------------------------------------------------------
    def start(self, kind: str = "search", strategy: str | None = None) -> None:
        """Start ``kind``: a search (resuming the study), ``accept`` (one trial of ``strategy``) or
        ``advice`` (advice from the finished trials, nothing new measured)."""
        s = self.session
        if self.running:
            self.notify("Already running", severity="warning")
            return
        choice = ModelChoice(**s.problem_inputs)
        _, study = study_for(s.problem, s.budget, choice)
        s.study = study
        s.advice = None
        self.kind = kind
        self.target = 1 if kind == "accept" else (s.config.trials or s.trials)
        self.started, self.new_trials, self.stopped_text = time.monotonic(), 0, ""
        if kind != "advice":
            self.reset_view()
        self.query_one("#study", Label).update(f"study {study}")
        self.query_one(JobStatus).start(
            {
                "search": f"searching: up to {self.target} trials",
                "accept": f"accepting {strategy}: compress and measure once",
                "advice": "writing the advice from the finished trials",
            }[kind]
        )
        self._buttons()
        self.tick()
        self.run_job(kind, choice, strategy)

    def reset_view(self) -> None:
        """Empty trial table and plot, with the original and the budget's limits drawn."""
        s = self.session
        self.seen.clear()
        self.measured = 0
        b = s.problem.baseline
        predicted = not b.latency.measured
        speedup = "p50 speed-up (predicted)" if predicted else "p50 speed-up"
        self.query_one("#trials", RowsTable).set_columns(
            [speedup if c == "p50 speed-up" else c for c in TRIAL_COLUMNS]
        )
        lim = s.budget.resolve(b)
        plot = self.query_one(ParetoPlot)
        plot.latency_label = f"predicted for {b.latency.profile}" if predicted else "measured here"
        plot.points = []
        plot.set_budget(
            PlotPoint("original", 1.0, b.size_bytes / 1024, 0.0, True),
            s.budget.max_latency_ratio,
            None if lim.max_size_bytes is None else lim.max_size_bytes / 1024,
        )

    @work(thread=True, exclusive=True, group="search")
    def run_job(self, kind: str, choice, strategy: str | None) -> None:
        s = self.session
        cfg = s.config
        ctx = s.track(
            RunContext(
                progress=lambda e: self.post_message(
                    JobProgress("search", e.stage, e.fraction, e.message)
                )
            )
        )
        on_trial = lambda e: self.post_message(TrialFinished(e))  # noqa: E731
        common = dict(choice=choice, storage=s.storage, study=s.study, profile=s.profile, ctx=ctx)
        try:
            if kind == "search":
                for e in jobs.finished_trials(s.out, s.storage, s.study):
                    self.post_message(TrialFinished(e, earlier=True))
                advice = jobs.run_search(
                    s.problem,
                    s.budget,
                    s.out,
                    trials=self.target,
                    time_budget=s.time_budget,
                    strategies=cfg.strategies,
                    on_trial=on_trial,
                    **common,
                )
            elif kind == "accept":
                advice = jobs.accept_top(
                    s.problem, s.budget, s.out, strategy=strategy, on_trial=on_trial, **common
                )
            else:
                advice = jobs.advice_from_study(
                    s.problem, s.budget, s.out, strategies=cfg.strategies, **common
                )
            self.post_message(SearchFinished(advice, str(advice.trials.get("stopped", ""))))
        except Cancelled:
            self.post_message(JobFailed("search", "stopped by the user", cancelled=True))
        except AdvisorError as e:
            self.post_message(JobFailed("search", " ".join(str(e).split())))
        except Exception as e:  # noqa: BLE001 - a bug must not kill the app (or lose the study)
            self.log.error(repr(e))
            self.post_message(JobFailed("search", f"{type(e).__name__}: {e}"))
        finally:
            s.untrack(ctx)

    # -- live updates -------------------------------------------------------------------------------
    def on_trial_finished(self, m: TrialFinished) -> None:
        e = m.evaluation
        n = e.trial
        if n in self.seen:
            return
        self.seen.add(n)
        s = self.session
        b = s.problem.baseline
        self.query_one("#trials", RowsTable).add(trial_row(e, b, s.budget), key=f"t{n}")
        if e.measurement is not None:
            self.measured += 1
            mm = e.measurement
            self.query_one(ParetoPlot).add_point(
                PlotPoint(
                    e.variant,
                    speed(b, mm, "p90").value,
                    mm.size_bytes / 1024,
                    -drop_of(b, mm).value,
                    meets(s.budget, b, mm),
                )
            )
        if self.running and not m.earlier:
            self.new_trials += 1
            self.query_one(JobStatus).step(len(self.seen) / max(1, self.target), "")
        self.tick()

    def on_job_progress(self, m: JobProgress) -> None:
        if m.job == "search" and m.text:
            text = (
                m.text if m.stage in ("search", "") or m.stage in m.text else f"{m.stage}: {m.text}"
            )
            self.query_one(JobStatus).step(len(self.seen) / max(1, self.target), text)

    def tick(self) -> None:
        try:
            status = self.query_one("#search-status", Label)
        except NoMatches:  # the timer fired while the screen was being torn down
            return
        if not self.running:
            if self.stopped_text:
                status.update(self.stopped_text)
            return
        elapsed = time.monotonic() - (self.started or time.monotonic())
        done = len(self.seen)
        remaining = None
        if self.new_trials:
            remaining = elapsed / self.new_trials * max(0, self.target - done)
        tb = self.session.time_budget
        if tb is not None and self.kind == "search":
            remaining = (
                max(0.0, tb - elapsed)
                if remaining is None
                else min(remaining, max(0.0, tb - elapsed))
            )
        status.update(
            f"{done}/{self.target} trials finished | elapsed {fmt_seconds(elapsed)} | "
            f"remaining ~{fmt_seconds(remaining)}"
        )

    def on_search_finished(self, m: SearchFinished) -> None:
        s = self.session
        self.kind = None
        s.advice = m.advice
        fits = m.advice.status
        self.stopped_text = (
            f"Done: {len(self.seen)} trial(s); {m.stopped}. Pick: {m.advice.shown.label} "
            f"({fits})."
        )
        self.query_one(JobStatus).finish("done")
        self._buttons()
        self.tick()
        self.note("Advice (ctrl+n) shows the pick and the reasons")
        self.query_one("#steps").mark(self.advisor.done_steps())
        if self.advisor.screen is self:
            self.advisor.go("advice")

    def on_job_failed(self, m: JobFailed) -> None:
        if m.job != "search":
            return
        self.kind = None
        kept = self.measured
        if m.cancelled:
            self.stopped_text = (
                f"Stopped: {kept} measured trial(s) kept in the study. "
                "r resumes; ctrl+n = advice from them."
            )
            self.query_one(JobStatus).finish("stopped")
        else:
            self.stopped_text = f"error: {m.error}"
            self.query_one(JobStatus).finish("failed")
        self._buttons()
        self.tick()

    def _buttons(self) -> None:
        self.query_one("#stop", Button).disabled = not self.running
        self.query_one("#resume", Button).disabled = self.running or self.session.study is None

    # -- actions ------------------------------------------------------------------------------------
    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if not self.running:
            return
        self.session.cancel_all()
        self.query_one("#search-status", Label).update(
            "Stopping after the current step; finished trials are kept ..."
        )

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if self.running or self.session.problem is None or self.session.budget is None:
            return
        self.start("search")

    def next_step(self) -> bool:
        s = self.session
        if s.advice is not None and not self.running:
            return True
        if self.running:
            self.note("Still running: wait, or Stop (x) and use what was measured")
            return False
        if self.seen:
            self.start("advice")
            return False
        self.note("No trial yet: start a search from the ranking (Back)")
        return False
