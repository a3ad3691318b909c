"""Step 3: the budget -- a service-tier preset (Lee et al. 2022) and/or explicit limits -- and how
much search effort to spend. Every field is validated as you type; Next stays blocked until the
whole budget is valid."""

from __future__ import annotations

import math

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, RadioButton, RadioSet, Select, Static

from advisor.budget import DEFAULT_CONFIDENCE, LIMITS, TIERS, Budget
from advisor.errors import BudgetError
from advisor.tui.screens._base import StepScreen
from advisor.tui.state import EFFORT

__all__ = ["QuestionnaireScreen", "LIMIT_FIELDS", "NumberIn"]

TIER_CHOICES = ("low", "mid", "high", None)  # None = custom limits only
EFFORT_CHOICES = ("quick", "normal", "thorough")

# input id -> (Budget field, label, lowest allowed, highest allowed, lowest is allowed?), from
# the budget's own table of limits (advisor.budget.LIMITS)
LIMIT_FIELDS: dict[str, tuple[str, str, float, float, bool]] = {
    lim.flag: (lim.field, lim.label, lim.lo, lim.hi, lim.lo_ok)
    for lim in LIMITS.values()
    if lim.flag
}


class NumberIn(Validator):
    """A finite number in [lo, hi] (or (lo, hi] when ``lo`` itself is not allowed)."""

    def __init__(self, what: str, lo: float, hi: float, lo_ok: bool) -> None:
        super().__init__()
        self.what, self.lo, self.hi, self.lo_ok = what, lo, hi, lo_ok

    def validate(self, value: str) -> ValidationResult:
        try:
            v = float(value.strip())
        except ValueError:
            return self.failure(f"{self.what} must be a number, got '{value.strip()}'")
        if not math.isfinite(v):
            return self.failure(f"{self.what} must be a finite number")
        low_bad = v < self.lo or (v == self.lo and not self.lo_ok)
        if low_bad or v > self.hi:
            if math.isinf(self.hi):
                return self.failure(f"{self.what} must be greater than {self.lo:g}, got {v:g}")
            return self.failure(
                f"{self.what} must be between {self.lo:g} and {self.hi:g}, got {v:g}"
            )
        return self.success()


class QuestionnaireScreen(StepScreen):
    STEP = "questionnaire"

    def body(self) -> ComposeResult:
        with VerticalScroll(id="body"):
            yield Label(
                "Service tier (Lee et al. 2022) -- or custom limits only", classes="section"
            )
            with RadioSet(compact=True, id="tier", classes="inline"):
                yield RadioButton("low-end")
                yield RadioButton("mid-end", value=True)
                yield RadioButton("high-end")
                yield RadioButton("custom")
            yield Static("", markup=False, id="tier-info")
            yield Label("Limits (empty = from the tier, or no limit)", classes="section")
            with Grid(id="limits"):
                for wid, (_, label, lo, hi, lo_ok) in LIMIT_FIELDS.items():
                    yield Label(label)
                    yield Input(
                        compact=True,
                        id=wid,
                        placeholder="-",
                        valid_empty=True,
                        validators=[NumberIn(label, lo, hi, lo_ok)],
                    )
                yield Label("optimise for")
                yield Select(
                    [
                        ("tier default", "auto"),
                        ("lowest latency", "latency"),
                        ("smallest size", "size"),
                        ("highest accuracy", "accuracy"),
                    ],
                    value="auto",
                    allow_blank=False,
                    compact=True,
                    id="objective",
                )
                yield Label("sure a 'fits' must be")
                yield Input(
                    compact=True,
                    id="confidence",
                    placeholder=f"{DEFAULT_CONFIDENCE:g} (default)",
                    valid_empty=True,
                    validators=[NumberIn("confidence", 0.5, 0.999, True)],
                )
            yield Label("Search effort", classes="section")
            with RadioSet(compact=True, id="effort", classes="inline"):
                for name in EFFORT_CHOICES:
                    yield RadioButton(f"{name} ({EFFORT[name]} trials)", value=name == "quick")
            with Grid(id="time-grid"):
                yield Label("or stop after (s)")
                yield Input(
                    compact=True,
                    id="time-budget",
                    placeholder="no time limit",
                    valid_empty=True,
                    validators=[NumberIn("time budget (s)", 0.0, math.inf, False)],
                )
            yield Static("", markup=False, id="errors", classes="problem")
            yield Static("", markup=False, id="budget-summary")

    def on_mount(self) -> None:
        self.revalidate()

    # -- reading the form ---------------------------------------------------------------------
    def tier(self) -> str | None:
        idx = self.query_one("#tier", RadioSet).pressed_index
        return TIER_CHOICES[idx] if idx >= 0 else None

    def errors(self) -> list[str]:
        """Every field's failure messages (the same ones shown under the form)."""
        out: list[str] = []
        for inp in self.query(Input):
            res = inp.validate(inp.value)
            if res is not None and not res.is_valid:
                out.extend(res.failure_descriptions)
        return out

    def budget(self) -> tuple[Budget | None, str | None]:
        """The budget the form describes, or why there is none."""
        if self.errors():
            return None, None
        answers = {
            name: self.query_one(f"#{wid}", Input).value
            for wid, (name, *_rest) in LIMIT_FIELDS.items()
        }
        tier = self.tier()
        if tier is None and not any(v.strip() for v in answers.values()):
            return None, "custom budget: give at least one limit, or choose a tier"
        objective = self.query_one("#objective", Select).value
        confidence = self.query_one("#confidence", Input).value
        try:
            return Budget.from_answers({**answers, "tier": tier, "objective": str(objective),
                                        "confidence": confidence}), None
        except BudgetError as e:
            return None, str(e)

    def effort(self) -> tuple[int, float | None]:
        idx = self.query_one("#effort", RadioSet).pressed_index
        trials = EFFORT[EFFORT_CHOICES[idx if idx >= 0 else 0]]
        tb = self.query_one("#time-budget", Input).value.strip()
        return trials, (float(tb) if tb and not self.errors() else None)

    # -- live validation ------------------------------------------------------------------------
    @on(Input.Changed)
    @on(RadioSet.Changed)
    @on(Select.Changed)
    def revalidate(self) -> None:
        tier = self.tier()
        if tier is not None:
            t = TIERS[tier]
            self.query_one("#tier-info", Static).update(
                f"e.g. {t['example']}\npreset: {Budget.preset(tier).describe()}"
            )
        else:
            self.query_one("#tier-info", Static).update(
                "custom: only the limits you give below apply"
            )
        errors = self.errors()
        budget, why = self.budget()
        msgs = errors + ([why] if why else [])
        err = self.query_one("#errors", Static)
        err.update("\n".join(f"! {m}" for m in msgs))
        err.display = bool(msgs)
        trials, tb = self.effort()
        summary = self.query_one("#budget-summary", Static)
        summary.display = budget is not None
        if budget is not None:
            effort = f"{trials} trials" + (f" or {tb:g} s, whichever comes first" if tb else "")
            preset_only = tier is not None and budget == Budget.preset(tier)
            summary.update(
                f"Search: {effort}." + ("" if preset_only else f"\nBudget: {budget.describe()}.")
            )
            self.note("")
        else:
            self.note("Fix the budget to go on")
        self.query_one("#next").disabled = budget is None

    def next_step(self) -> bool:
        budget, _ = self.budget()
        if budget is None:
            self.revalidate()
            self.app.bell()
            return False
        if self.session.problem is None:
            self.note("Load a model first (Back)")
            return False
        trials, tb = self.effort()
        s = self.session
        if budget != s.budget:
            s.ranking = None
        s.budget, s.trials, s.time_budget = budget, trials, tb
        return True
