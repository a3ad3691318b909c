"""Step 2: the model and the data; load them, measure the original, show what was detected."""

from __future__ import annotations

import re
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import Regex, ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from advisor.errors import AdvisorError
from advisor.models import FACTORY_FORMS, parse_factory
from advisor.progress import RunContext
from advisor.tui.messages import JobFailed, JobProgress, ProblemLoaded
from advisor.tui.screens._base import StepScreen
from advisor.tui.views import excluded_groups, problem_summary, summary_lines
from advisor.tui.widgets import FigureTable, JobStatus
from advisor.tui.work import ModelChoice, load_problem

__all__ = ["ModelScreen"]

MODEL_KINDS = ("builtin", "onnx", "torch")
DATA_KINDS = ("builtin", "file")


class ExistingPath(Validator):
    """A file (or folder) that exists; optionally with one of ``suffixes``."""

    def __init__(self, what: str, suffixes: tuple[str, ...] = (), folder_ok: bool = False) -> None:
        super().__init__()
        self.what, self.suffixes, self.folder_ok = what, suffixes, folder_ok

    def validate(self, value: str) -> ValidationResult:
        v = value.strip()
        if not v:
            return self.failure(f"give the {self.what}")
        p = Path(v).expanduser()
        if self.folder_ok and p.is_dir():
            return self.success()
        if not p.is_file():
            return self.failure(
                f"{self.what}: no such file{' or folder' if self.folder_ok else ''}: {v}"
            )
        if self.suffixes and p.suffix.lower() not in self.suffixes:
            return self.failure(
                f"{self.what} must end with {' or '.join(self.suffixes)}, got '{p.suffix or p.name}'"
            )
        return self.success()


class FactoryField(Validator):
    """``module:factory`` or ``path/to/file.py:factory`` (that file must exist), resolved on load
    as ``--model`` is: the module in the current folder first, then on the import path."""

    def validate(self, value: str) -> ValidationResult:
        spec = parse_factory(value.strip())
        if spec is None:
            return self.failure(f"factory must look like {FACTORY_FORMS}")
        if spec.file is not None and not Path(spec.file).expanduser().is_file():
            return self.failure(f"factory: no such file: {spec.file}")
        return self.success()


_SHAPE = re.compile(r"^\d+(x\d+)*$")


class ModelScreen(StepScreen):
    STEP = "model"
    BINDINGS = [Binding("l", "load", "Load & measure")]

    def body(self) -> ComposeResult:
        cfg = self.session.config
        builtin_model = cfg.model.startswith("builtin:")
        builtin_data = cfg.data.startswith("builtin:")
        with VerticalScroll(id="body"):
            yield Label("Model", classes="section")
            with RadioSet(compact=True, id="model-kind", classes="inline"):
                yield RadioButton("built-in digits CNN", value=builtin_model)
                yield RadioButton(
                    "ONNX file", value=not builtin_model and cfg.model.lower().endswith(".onnx")
                )
                yield RadioButton(
                    "PyTorch factory + weights",
                    value=not builtin_model and not cfg.model.lower().endswith(".onnx"),
                )
            yield Input(
                compact=True,
                value=cfg.model if cfg.model.lower().endswith(".onnx") else "",
                id="onnx-path",
                placeholder="path/to/model.onnx",
                validators=[ExistingPath("ONNX file", (".onnx",))],
            )
            with Horizontal(id="torch-row"):
                yield Input(
                    compact=True,
                    value=cfg.model
                    if not builtin_model and not cfg.model.lower().endswith(".onnx")
                    else "",
                    id="factory",
                    placeholder="module:factory or path/to/model.py:factory",
                    validators=[FactoryField()],
                )
                yield Input(
                    compact=True,
                    id="weights",
                    placeholder="weights state_dict.pt",
                    validators=[ExistingPath("weights file", (".pt", ".pth", ".bin"))],
                )
                yield Input(
                    compact=True,
                    id="input-shape",
                    placeholder="sample shape, e.g. 1x32x32 (optional)",
                    valid_empty=True,
                    validators=[Regex(_SHAPE, failure_description="shape must look like 1x32x32")],
                )
            yield Label("Data", classes="section")
            with RadioSet(compact=True, id="data-kind", classes="inline"):
                yield RadioButton("built-in digits (labelled)", value=builtin_data)
                yield RadioButton(".npz file or image folder", value=not builtin_data)
            yield Input(
                compact=True,
                value="" if builtin_data else cfg.data,
                id="data-path",
                placeholder="data.npz (arrays named by input, optional labels) or a folder of class folders",
                validators=[ExistingPath("data", (".npz",), folder_ok=True)],
            )
            yield Checkbox(
                "Ignore labels: measure fidelity to the original (as for unlabelled data)",
                compact=True,
                id="ignore-labels",
            )
            with Horizontal(classes="buttons"):
                yield Button("Load & measure (l)", id="load", variant="success", compact=True)
                yield Label("", markup=False, id="form-error", classes="problem")
            yield JobStatus(id="status")
            yield FigureTable(("detected", ""), id="detected")
            yield Static("", markup=False, id="excluded")

    def on_mount(self) -> None:
        self.query_one(JobStatus).display = False
        self.query_one("#detected").display = False
        self._sync_kinds()

    def on_show_step(self) -> None:
        if self.session.problem is None:
            self.query_one("#detected").display = False
            self.query_one("#excluded", Static).update("")
            self.note("Load the model to see what was detected (l)")

    # -- the form -------------------------------------------------------------------------------
    def _kind(self, rs_id: str, kinds: tuple[str, ...]) -> str:
        idx = self.query_one(f"#{rs_id}", RadioSet).pressed_index
        return kinds[idx if idx >= 0 else 0]

    @on(RadioSet.Changed)
    def _sync_kinds(self) -> None:
        mk = self._kind("model-kind", MODEL_KINDS)
        self.query_one("#onnx-path").display = mk == "onnx"
        self.query_one("#torch-row").display = mk == "torch"
        self.query_one("#data-path").display = self._kind("data-kind", DATA_KINDS) == "file"

    def choice(self) -> tuple[ModelChoice | None, list[str]]:
        """The form as a :class:`ModelChoice`, or the problems that stop it."""
        errors: list[str] = []

        def field(wid: str) -> str:
            inp = self.query_one(f"#{wid}", Input)
            res = inp.validate(inp.value)
            if res is not None and not res.is_valid:
                errors.extend(res.failure_descriptions)
            return inp.value.strip()

        mk = self._kind("model-kind", MODEL_KINDS)
        weights = shape = None
        if mk == "builtin":
            model = "builtin:digits-cnn"
        elif mk == "onnx":
            model = str(Path(field("onnx-path")).expanduser())
        else:
            model = field("factory")
            weights = str(Path(field("weights")).expanduser())
            shape = field("input-shape") or None
        data = (
            "builtin:digits"
            if self._kind("data-kind", DATA_KINDS) == "builtin"
            else str(Path(field("data-path")).expanduser())
        )
        if errors:
            return None, errors
        ignore = self.query_one("#ignore-labels", Checkbox).value
        return ModelChoice(
            model=model, data=data, weights=weights, input_shape=shape, ignore_labels=ignore
        ), []

    # -- loading --------------------------------------------------------------------------------
    def action_load(self) -> None:
        if self.advisor.busy("search"):
            self.notify(
                "A search is running on the loaded model; stop it first.", severity="warning"
            )
            return
        choice, errors = self.choice()
        self.query_one("#form-error", Label).update("; ".join(errors))
        if choice is None:
            self.note("Fix the highlighted fields, then load (l)")
            return
        self.query_one(JobStatus).start(f"loading {choice.model} ...")
        self.note("Loading and measuring the original ...")
        self.load(choice)

    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        self.action_load()

    @work(thread=True, exclusive=True, group="load")
    def load(self, choice: ModelChoice) -> None:
        s = self.session
        ctx = s.track(
            RunContext(
                progress=lambda e: self.post_message(
                    JobProgress("load", e.stage, e.fraction, e.message)
                )
            )
        )
        try:
            problem, excluded = load_problem(choice, s.measure_settings(), ctx, s.config.strategies,
                                             measure_on=s.measure_on)
            self.post_message(ProblemLoaded(problem, choice.as_dict(), excluded))
        except AdvisorError as e:
            self.post_message(
                JobFailed("load", " ".join(str(e).split()), cancelled=e.exit_code == 130)
            )
        except Exception as e:  # noqa: BLE001 - a bug must not kill the app; show it instead
            self.log.error(repr(e))
            self.post_message(JobFailed("load", f"{type(e).__name__}: {e}"))
        finally:
            s.untrack(ctx)

    def on_job_progress(self, m: JobProgress) -> None:
        if m.job == "load":
            self.query_one(JobStatus).step(m.fraction, m.text)

    def on_job_failed(self, m: JobFailed) -> None:
        if m.job != "load":
            return
        self.query_one(JobStatus).finish("stopped" if m.cancelled else "failed")
        self.query_one("#form-error", Label).update(f"error: {m.error}")
        self.note("Fix the model or data, then load again (l)")

    def on_problem_loaded(self, m: ProblemLoaded) -> None:
        self.session.set_problem(m.problem, m.inputs, m.excluded)
        self.show_summary(problem_summary(m.problem, m.excluded))
        self.query_one(JobStatus).finish("original measured")
        self.query_one("#form-error", Label).update("")
        self.query_one("#steps").mark(self.advisor.done_steps())
        self.note("Loaded: see below, then Next")
        self.query_one("#detected").scroll_visible(top=True)

    def show_summary(self, summary: dict) -> None:
        table = self.query_one("#detected", FigureTable)
        table.display = True
        table.set_rows(summary_lines(summary))
        groups = excluded_groups(summary["excluded"])
        text = (
            "Ruled out for this model and data:\n"
            + "\n".join(f"- {', '.join(names)}: {why}" for why, names in groups)
            if groups
            else "No strategy is ruled out: every technique can apply to this model and data."
        )
        self.query_one("#excluded", Static).update(text)

    def next_step(self) -> bool:
        if self.advisor.busy("load"):
            self.note("Still loading ...")
            return False
        if self.session.problem is None:
            self.action_load()
            return False
        choice, _ = self.choice()
        if choice is not None and choice.as_dict() != self.session.problem_inputs:
            self.note("The form changed since loading: load again (l) or put it back")
            return False
        return True
