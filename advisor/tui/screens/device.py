"""Step 1: this device -- profile it now (a few seconds, with progress), see its key figures and
what they mean, save the profile under a name, load a saved one or compare two."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Select, Static

from advisor.errors import AdvisorError
from advisor.progress import RunContext
from advisor.tui import device
from advisor.tui import work as work_jobs
from advisor.tui.messages import JobFailed, JobProgress, ProfileReady, TargetReady
from advisor.tui.screens._base import StepScreen
from advisor.tui.widgets import FigureTable, JobStatus

__all__ = ["DeviceScreen"]


class ProfileName(Validator):
    def validate(self, value: str) -> ValidationResult:
        problem = device.name_problem(value)
        return self.failure(problem) if problem else self.success()


class DeviceScreen(StepScreen):
    STEP = "device"
    BINDINGS = [
        Binding("p", "profile", "Profile now"),
        Binding("s", "save", "Save"),
        Binding("l", "load", "Load"),
        Binding("c", "compare", "Compare"),
        Binding("f", "fleet", "Fleet device"),
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="body"):
            with Horizontal(classes="buttons"):
                yield Button(
                    "Profile this device (p)", id="profile", variant="success", compact=True
                )
                yield Label("", markup=False, id="profile-name")
            yield JobStatus(id="status")
            yield Static("", markup=False, id="facts")
            with Horizontal(classes="row"):
                yield Input(
                    compact=True,
                    id="name",
                    placeholder="name to save as, e.g. pi4-lab",
                    validators=[ProfileName()],
                )
                yield Button("Save (s)", id="save", compact=True)
            yield Label("", markup=False, id="name-error", classes="problem")
            with Horizontal(classes="row"):
                yield Select([], prompt="saved profiles", compact=True, id="saved")
                yield Button("Load (l)", id="load", compact=True)
                yield Button("Compare (c)", id="compare", compact=True)
            yield Label("Or measure on a device of the fleet (it runs `advisor worker --measure-only`)",
                        classes="section")
            with Horizontal(classes="row"):
                yield Input(compact=True, id="fleet-storage", placeholder="storage URL, e.g. postgresql://...")
                yield Input(compact=True, id="fleet-device", placeholder="device name, e.g. pi5")
                yield Button("Measure on it (f)", id="fleet", compact=True)
            yield Label("", markup=False, id="fleet-status")
            yield FigureTable(("key figure", "value"), id="figures")
            yield FigureTable(("key figure", "current", "other", "other/current"), id="comparison")

    saved = True  # is the current profile a saved one?

    def on_mount(self) -> None:
        self.query_one(JobStatus).display = False
        self.query_one("#comparison").display = False
        self.query_one("#figures").display = False
        self.refresh_saved()
        if self.session.profile is not None:
            self.show_profile(self.session.profile)
        else:
            self.query_one("#facts", Static).update(
                "No profile yet. Profile this device (p) -- it takes a few seconds -- or load a saved one.\n"
                "Without a profile the advice still measures everything here, with 1 timing thread."
            )

    def on_show_step(self) -> None:
        if self.session.profile is None:
            self.note("Profile (p), load (l), or Next to skip")
        else:
            self.note("Next: the model and data (ctrl+n)")

    def refresh_saved(self) -> None:
        try:
            names = device.saved_names(self.session.config.profiles_dir)
        except AdvisorError as e:
            self.notify(str(e), severity="error")
            names = []
        self.query_one("#saved", Select).set_options([(n, n) for n in names])

    # -- profiling --------------------------------------------------------------------------------
    @on(Button.Pressed, "#profile")
    def action_profile(self) -> None:
        if self.advisor.busy("profile"):
            return
        if self.advisor.busy("search") or self.advisor.busy("load"):
            self.notify(
                "Wait for the running job: profiling next to it would measure it, not the device.",
                severity="warning",
            )
            return
        self.query_one(JobStatus).start("profiling this device ...")
        self.note("Profiling: keep the machine otherwise idle")
        self.profile()

    @work(thread=True, exclusive=True, group="profile")
    def profile(self) -> None:
        s = self.session
        ctx = s.track(
            RunContext(
                progress=lambda e: self.post_message(
                    JobProgress("profile", e.stage, e.fraction, e.message)
                )
            )
        )
        try:
            self.post_message(
                ProfileReady(
                    device.measure(
                        ctx, quick=s.config.quick_profile, disk_path=s.config.profiles_dir
                    )
                )
            )
        except AdvisorError as e:
            self.post_message(
                JobFailed("profile", " ".join(str(e).split()), cancelled=e.exit_code == 130)
            )
        except Exception as e:  # noqa: BLE001 - show it, don't crash the app
            self.log.error(repr(e))
            self.post_message(JobFailed("profile", f"{type(e).__name__}: {e}"))
        finally:
            s.untrack(ctx)

    def on_job_progress(self, m: JobProgress) -> None:
        if m.job == "profile":
            self.query_one(JobStatus).step(m.fraction, m.text)

    def on_job_failed(self, m: JobFailed) -> None:
        if m.job == "fleet":
            self.query_one("#fleet-status", Label).update(f"error: {m.error}")
            return
        if m.job == "profile":
            self.query_one(JobStatus).finish("stopped" if m.cancelled else f"failed: {m.error}")
            self.note("Profiling failed; you can still go on (Next)")

    def on_profile_ready(self, m: ProfileReady) -> None:
        self.session.set_profile(m.profile)
        self.saved = False
        self.query_one(JobStatus).finish("measured")
        self.show_profile(m.profile)
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = device.key_figures(m.profile).get("profile") or ""
        self.query_one("#steps").mark(self.advisor.done_steps())
        self.note("Save it (s) to reuse it, or Next (ctrl+n)")

    def show_profile(self, profile) -> None:
        figures = self.query_one("#figures", FigureTable)
        figures.display = True
        figures.set_rows(device.figure_rows(profile))
        facts = device.facts(profile)
        self.query_one("#facts", Static).update("\n".join(f"* {f}" for f in facts) or "")
        name = device.key_figures(profile).get("profile")
        self.query_one("#profile-name", Label).update(
            f"current: {name}" + ("" if self.saved else " (not saved yet)")
        )

    # -- a device of the fleet ---------------------------------------------------------------------
    @on(Button.Pressed, "#fleet")
    def action_fleet(self) -> None:
        url = self.query_one("#fleet-storage", Input).value.strip()
        name = self.query_one("#fleet-device", Input).value.strip()
        status = self.query_one("#fleet-status", Label)
        if not url or not name:
            status.update("give the storage URL and the device's name, then f")
            return
        status.update(f"asking {name} ...")
        self.connect(url, name)

    @work(thread=True, exclusive=True, group="fleet")
    def connect(self, url: str, name: str) -> None:
        try:
            target, profile = work_jobs.connect_target(url, name)
        except AdvisorError as e:
            self.post_message(JobFailed("fleet", " ".join(str(e).split())))
            return
        self.post_message(TargetReady(target, profile))

    def on_target_ready(self, m: TargetReady) -> None:
        s = self.session
        s.measure_on = m.target
        if m.profile is not None:
            s.set_profile(m.profile)
            self.saved = True
            self.show_profile(m.profile)
        s.set_problem(None, {}, {})  # the original is measured again, on the board
        self.query_one("#fleet-status", Label).update(
            f"measuring on {m.target.device} (storage {m.target.storage_url}): every figure is measured there")
        self.query_one("#steps").mark(self.advisor.done_steps())
        self.note("Next: the model and data (ctrl+n)")

    # -- saved profiles ---------------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        err = self.query_one("#name-error", Label)
        if self.session.profile is None:
            err.update("nothing to save yet: profile this device first (p)")
            return
        inp = self.query_one("#name", Input)
        problem = device.name_problem(inp.value)
        if problem:
            err.update(problem)
            return
        try:
            profile, path = device.save(
                self.session.profile, inp.value, self.session.config.profiles_dir
            )
        except AdvisorError as e:
            err.update(str(e))
            return
        self.session.set_profile(profile)
        self.saved = True
        self.show_profile(profile)
        err.update(f"saved {path}")
        self.notify(f"saved {path}")
        self.refresh_saved()

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        err = self.query_one("#name-error", Label)
        if event.validation_result is not None and not event.validation_result.is_valid:
            err.update("; ".join(event.validation_result.failure_descriptions))
        else:
            clean = device.clean_name(event.value)
            err.update("" if clean == event.value.strip() else f"will be saved as '{clean}'")

    def _selected(self) -> str | None:
        v = self.query_one("#saved", Select).value
        return None if v is Select.NULL else str(v)

    def _load_selected(self):
        name = self._selected()
        if name is None:
            self.notify("Choose a saved profile first", severity="warning")
            return None
        try:
            return device.load(name, self.session.config.profiles_dir)
        except AdvisorError as e:
            self.notify(str(e), severity="error")
            return None

    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        profile = self._load_selected()
        if profile is not None:
            self.session.set_profile(profile)
            self.saved = True
            self.show_profile(profile)
            self.query_one("#steps").mark(self.advisor.done_steps())
            self.note("Loaded. Next: the model and data (ctrl+n)")

    @on(Button.Pressed, "#compare")
    def action_compare(self) -> None:
        other = self._load_selected()
        if other is None:
            return
        if self.session.profile is None:
            self.notify("Profile or load a current profile first", severity="warning")
            return
        table = self.query_one("#comparison", FigureTable)
        table.display = True
        table.set_columns(
            (
                "key figure",
                device.key_figures(self.session.profile).get("profile") or "current",
                device.key_figures(other).get("profile") or "other",
                "ratio",
            )
        )
        table.set_rows(device.compare(self.session.profile, other))
        table.scroll_visible()

    def next_step(self) -> bool:
        if self.advisor.busy("profile"):
            self.note("Still profiling ...")
            return False
        return True
