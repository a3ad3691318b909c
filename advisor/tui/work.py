"""The library calls behind the TUI's long jobs, as plain functions (no Textual).

The screens run these in thread workers; tests can call them directly. They only call the public
jobs API (``open_problem``, ``rank``, ``advise``) so the TUI does exactly what the CLI does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.budget import Budget
from advisor.errors import InputError
from advisor.fileio import prepare_out_dir
from advisor.jobs import advise, rank_for, spec_of
from advisor.measure import MeasureSettings
from advisor.models import parse_input_shape
from advisor.problem import Evaluation, Problem, open_problem, problem_from_parts
from advisor.progress import RunContext
from advisor.search import (
    JobSpec,
    SearchSettings,
    default_storage_url,
    done_trials,
    evaluations_from_study,
    open_study,
    study_name_for,
)
from advisor.strategies import applicable_strategies

if TYPE_CHECKING:  # types only: jobs, ranking and profiling load when a job runs
    from advisor.advice import Advice
    from advisor.profiling import DeviceProfile
    from advisor.ranking import Ranking

__all__ = [
    "ModelChoice",
    "load_problem",
    "rank_problem",
    "study_for",
    "storage_url",
    "finished_trials",
    "count_finished",
    "run_search",
    "accept_top",
    "advice_from_study",
    "connect_target",
]


@dataclass(frozen=True)
class ModelChoice:
    """What the model screen asks for: sources as the CLI takes them, plus "ignore labels"."""

    model: str = "builtin:digits-cnn"
    data: str = "builtin:digits"
    weights: str | None = None
    input_shape: str | None = None  # "1x32x32" for a PyTorch factory
    ignore_labels: bool = False

    @property
    def shape(self) -> tuple[int, ...] | None:
        return parse_input_shape(self.input_shape) if self.input_shape else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "weights": self.weights,
            "input_shape": self.input_shape,
            "ignore_labels": self.ignore_labels,
        }


def load_problem(
    choice: ModelChoice,
    settings: MeasureSettings,
    ctx: RunContext,
    strategies: tuple[str, ...] | None = None,
    measure_on=None,
) -> tuple[Problem, dict[str, str]]:
    """Load and measure the original (on the measuring target ``measure_on``, if given); returns the
    problem and the strategies it rules out (why)."""
    problem = open_problem(
        choice.model,
        choice.data,
        weights=choice.weights,
        input_shape=choice.shape,
        settings=settings,
        ctx=ctx,
        strategies=strategies,
        measure_on=measure_on,
    )
    if choice.ignore_labels and problem.data.labelled:
        try:
            # Same model and scratch folder; the original is measured again for fidelity.
            unlabelled = problem_from_parts(
                problem.model,
                problem.data.without_labels(),
                settings=settings,
                ctx=ctx,
                workdir=problem.workdir,
                owns_workdir=True,
            )
        except BaseException:
            problem.close()
            raise
        problem = unlabelled
    kwargs = {"strategies": strategies} if strategies else {}
    _, excluded = applicable_strategies(problem.model, problem.data, **kwargs)
    return problem, excluded


def connect_target(storage: str, device: str):
    """The fleet's measuring target ``device`` on ``storage`` and the profile it recorded of itself
    (as ``advisor advise --measure-on`` finds them); raises ``InputError`` saying how to start one."""
    from advisor.measure.remote import Target
    from advisor.profiling import DeviceProfile

    target = Target.connect(storage, device)
    doc = target.profile()
    return target, (None if doc is None else DeviceProfile.from_dict(doc))


def rank_problem(
    problem: Problem,
    budget: Budget,
    profile: DeviceProfile | None,
    strategies: tuple[str, ...] | None = None,
) -> Ranking:
    """The ranking ``advise`` starts from (:func:`advisor.jobs.rank_for`): for a profile of another
    device, latencies become the profiler's predictions for it, as they will in the search."""
    return rank_for(problem, budget, profile=profile, strategies=strategies)


def study_for(problem: Problem, budget: Budget, choice: ModelChoice) -> tuple[JobSpec, str]:
    """The job spec stored with the study and the study name (same inputs -> same name -> resume)."""
    spec = spec_of(problem, budget, weights=choice.weights, input_shape=choice.shape)
    name = study_name_for(spec)
    if choice.ignore_labels:
        name += "-fidelity"  # accuracy and fidelity trials must not share a study
    return spec, name


def storage_url(out: Path, storage: str | None) -> str:
    return storage or default_storage_url(out)


def finished_trials(out: Path, storage: str | None, study: str) -> list[Evaluation]:
    """Finished trials already in ``study`` (empty if it does not exist yet)."""
    prepare_out_dir(out)
    try:
        s = open_study(storage_url(out, storage), study, create=False)
    except InputError:
        return []
    return evaluations_from_study(s, include_interrupted=True)


def count_finished(out: Path, storage: str | None, study: str) -> int:
    try:
        s = open_study(storage_url(out, storage), study, create=False)
    except InputError:
        return 0
    return done_trials(s)


def run_search(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    choice: ModelChoice,
    trials: int,
    time_budget: float | None,
    storage: str | None,
    study: str,
    profile: DeviceProfile | None,
    strategies: tuple[str, ...] | None,
    ctx: RunContext,
    on_trial: Callable[[Evaluation], None] | None = None,
) -> Advice:
    """``advisor advise`` with the questionnaire's settings: the study resumes if it exists."""
    spec, _ = study_for(problem, budget, choice)
    settings = SearchSettings(trials=trials, time_budget=time_budget, storage=storage, study=study)
    return advise(
        problem,
        budget,
        out,
        settings=settings,
        spec=spec,
        strategies=list(strategies) if strategies else None,
        profile=profile,
        ctx=ctx,
        on_trial=on_trial,
    )


def accept_top(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    strategy: str,
    choice: ModelChoice,
    storage: str | None,
    study: str,
    profile: DeviceProfile | None,
    ctx: RunContext,
    on_trial: Callable[[Evaluation], None] | None = None,
) -> Advice:
    """Accept the top prediction without a search: compress with ``strategy`` once, measure it, and
    write the same advice folder (a one-trial study of its own, so a later search starts fresh)."""
    spec, _ = study_for(problem, budget, choice)
    name = f"{study[:80]}-accept-{strategy.replace('+', '_')}"
    settings = SearchSettings(trials=1, storage=storage, study=name)
    return advise(
        problem,
        budget,
        out,
        settings=settings,
        spec=spec,
        strategies=[strategy],
        enqueue=[(strategy, {})],
        profile=profile,
        ctx=ctx,
        on_trial=on_trial,
    )


def advice_from_study(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    choice: ModelChoice,
    storage: str | None,
    study: str,
    profile: DeviceProfile | None,
    strategies: tuple[str, ...] | None,
    ctx: RunContext,
) -> Advice:
    """Advice from the trials already finished in ``study`` (after Stop): no new trial runs."""
    n = count_finished(out, storage, study)
    if n == 0:
        raise InputError(f"study '{study}' has no finished trial yet; resume the search first")
    return run_search(
        problem,
        budget,
        out,
        choice=choice,
        trials=n,
        time_budget=None,
        storage=storage,
        study=study,
        profile=profile,
        strategies=strategies,
        ctx=ctx,
    )
