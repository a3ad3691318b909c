"""The Optuna search behind ``advisor advise``: enqueued best-ranked candidates first, then the
sampler; budget limits as Optuna-5 constraints; resumable storage; workers can join.

Example:
    >>> outcome = search(problem, Budget.preset("mid"), Path("runs/x"), spec=spec,
    ...                  enqueue=[("FIQ", {})], settings=SearchSettings(trials=5))  # doctest: +SKIP
    >>> len(outcome.evaluations)  # doctest: +SKIP
    5
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from advisor.artifacts import ArtifactRef, open_store
from advisor.artifacts import remove as remove_artifact
from advisor.budget import Budget
from advisor.decide import pick, score, speed
from advisor.errors import InputError, NotApplicable, TechniqueError
from advisor.problem import Evaluation, Problem
from advisor.progress import RunContext
from advisor.search._objective import DIRECTIONS, OBJECTIVE_NAMES, Objective
from advisor.search._record import TrialRecord
from advisor.search.jobspec import JobSpec
from advisor.search.space import default_params, grid, neighbors, suggest
from advisor.search.storage import (
    SPEC_KEY,
    check_study_name,
    default_storage_url,
    open_storage,
    study_name_for,
)
from advisor.strategies import Strategy, applicable_strategies
from advisor.types import Measurement

__all__ = [
    "SearchSettings",
    "SearchOutcome",
    "search",
    "evaluations_from_study",
    "open_study",
    "default_params",
    "grid",
    "suggest",
    "study_name_for",
    "default_storage_url",
    "label",
    "evaluation_of",
    "TrialRecord",
    "JobSpec",
]

FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
__all__ += ["FINISHED", "done_trials", "EFFORT", "EFFORT_SECONDS", "prune_artifacts"]

#: Search effort (``advisor advise --effort``, the TUI questionnaire) -> finished trials to stop at.
EFFORT = {"quick": 8, "normal": 20, "thorough": 60}
#: ... and the seconds of search it spends at most unless ``--time-budget`` says otherwise: on a
#: real model one trial can take minutes (MPQ's leave-one-out on EfficientNet-Lite1: ~100 s), and
#: advice should come in minutes, not hours; ``thorough`` has no time limit.
EFFORT_SECONDS: dict[str, float | None] = {"quick": 240.0, "normal": 420.0, "thorough": None}


@dataclass(frozen=True)
class SearchSettings:
    """How much to search and where to keep the study."""

    trials: int = 20
    time_budget: float | None = None
    patience: int = 8
    storage: str | None = None
    study: str | None = None
    seed: int = 0
    scales: tuple[float, ...] = (1.0, 2.0, 4.0)
    space: dict[str, list[Any]] | None = None  # narrow parameters to listed values
    artifacts: str | None = None  # the artifact store's folder (default: next to the study, see advisor.artifacts)
    keep_all: bool = False  # keep every trial's model artifact (default: dominated ones go when the advice is made)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise InputError(f"--trials must be at least 1, got {self.trials}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise InputError(f"--time-budget must be a positive number of seconds, got {self.time_budget}")
        if self.study is not None:
            check_study_name(self.study)


@dataclass
class SearchOutcome:
    evaluations: list[Evaluation]
    study_name: str
    storage_url: str
    stopped: str
    seconds: float
    excluded: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)  # candidate label -> why it was set aside

    @property
    def trials(self) -> int:
        return len(self.evaluations)


def label(strategy: str, params: dict[str, Any]) -> str:
    """``PRN(sparsity=0.9)``: the strategy with the parameters that differ from their defaults."""
    try:
        defaults = default_params(strategy)
    except InputError:
        defaults = {}
    diff = {k: v for k, v in params.items() if k in defaults and defaults[k] != v}
    if not diff:
        return strategy
    return f"{strategy}(" + ",".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in sorted(diff.items())) + ")"


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def open_study(storage_url: str, study_name: str, seed: int = 0, create: bool = True) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                         n_startup_trials=6)
    if not create:
        try:
            return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        except KeyError:
            raise InputError(f"no study named '{study_name}' in {storage_url}") from None
    return optuna.create_study(directions=list(DIRECTIONS), storage=storage, study_name=study_name,
                               sampler=sampler, load_if_exists=True)


def evaluations_from_study(study: optuna.Study, include_interrupted: bool = False) -> list[Evaluation]:
    """Every finished trial as an :class:`Evaluation` (failed ones carry their error). Trials cut
    short by Stop/Ctrl-C are left out unless asked for: they measured nothing and run again."""
    removed = set(study.user_attrs.get(REMOVED_KEY, []))
    records = (TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False, states=FINISHED))
    return [evaluation_of(r, r.number in removed) for r in records
            if not r.not_run and (include_interrupted or not r.interrupted)]


def evaluation_of(record: TrialRecord, artifact_removed: bool = False) -> Evaluation:
    """A finished trial as an :class:`Evaluation`: its measurement, or why it has none."""
    shown = label(record.strategy, record.params)
    if record.state == TrialState.COMPLETE and record.measurement is not None:
        path = record.model_path
        gone = record.artifact is None or artifact_removed
        artifact = None if gone else ArtifactRef.from_dict(record.artifact)
        return Evaluation(record.strategy, record.params, record.measurement, notes=dict(record.notes),
                          model_path=path if path is not None and path.is_file() else None,
                          trial=record.number, train_scale=record.train_scale, variant=shown, artifact=artifact)
    why = "interrupted" if record.interrupted else record.error or record.fail_reason or "failed"
    return Evaluation(record.strategy, record.params, None, error=why, trial=record.number, variant=shown)


#: Study user attribute: trial numbers whose model artifacts were removed when an advice was made.
REMOVED_KEY = "artifacts_removed"


def prune_artifacts(storage_url: str, study_name: str, keep: set[int], artifacts: str | None = None) -> int:
    """Remove the model artifacts of every finished trial not in ``keep`` (trial numbers); returns
    how many went. The study lists them (:data:`REMOVED_KEY`)."""
    study = open_study(storage_url, study_name, create=False)
    store = open_store(storage_url, artifacts)
    removed = set(study.user_attrs.get(REMOVED_KEY, []))
    gone = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        r = TrialRecord.from_trial(t)
        if r.artifact is None or t.number in removed or t.number in keep:
            continue
        remove_artifact(store, r.artifact["artifact_id"])
        removed.add(t.number)
        gone += 1
    if gone:  # a finished trial cannot be updated: the study keeps the list
        study.set_user_attr(REMOVED_KEY, sorted(removed))
    return gone


def done_trials(study: optuna.Study) -> int:
    """Finished trials that count towards ``--trials``: a trial cut short by Stop/Ctrl-C does not
    (it is enqueued again when the study resumes), nor one skipped because it would not have
    finished within the time budget."""
    records = (TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False, states=FINISHED))
    return sum(1 for r in records if not r.interrupted and not r.not_run)


def _requeue_interrupted(study: optuna.Study) -> int:
    """Enqueue, once, the parameters of trials that Stop or Ctrl-C cut short (Optuna counts them as
    failed, so ``enqueue_trial(skip_if_exists=True)`` would never run them again)."""
    done = set(study.user_attrs.get("requeued", []))
    cut = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
           if TrialRecord.from_trial(t).interrupted and t.number not in done]
    for t in cut:
        study.enqueue_trial(dict(t.system_attrs.get("fixed_params") or t.params))
        done.add(t.number)
    if cut:
        study.set_user_attr("requeued", sorted(done))
    return len(cut)


class _Target:
    """Stop the study once ``target`` trials are done (see :func:`done_trials`)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.exhausted = False  # every candidate of the space was measured

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.exhausted = self.exhausted or TrialRecord.from_trial(trial).exhausted
        if done_trials(study) >= self.target or self.exhausted:
            study.stop()


class _NoImprovement:
    """Stop once ``patience`` finished trials in a row have not improved the pick by >1%."""

    def __init__(self, problem: Problem, budget: Budget, patience: int) -> None:
        self.problem, self.budget, self.patience = problem, budget, patience
        self.best: float | None = None
        self.since = 0
        self.triggered = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if TrialRecord.from_trial(trial).not_run:
            return  # not a measurement: says nothing about improvement
        inc = _incumbent(study, self.budget, self.problem.baseline)
        best = None if inc is None else score(self.budget, self.problem.baseline, inc.measurement)[0]
        improved = best is not None and (self.best is None or best < self.best - 0.01 * abs(self.best))
        if improved:
            self.best, self.since = best, 0
        else:
            self.since += 1
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if self.since >= self.patience and not waiting:
            self.triggered = True
            study.stop()


def _incumbent(study: optuna.Study, budget: Budget, baseline: Measurement) -> TrialRecord | None:
    """The finished trial leading now: what the advice would pick from the trials so far
    (:func:`advisor.decide.pick`: speeds tied within noise go to the smaller drop, then the smaller
    file), so timing noise between two tied candidates does not decide whose moves come next; when
    every one measured slower than the original (no pick), the best on the objective's point key."""
    done = [r for r in map(TrialRecord.from_trial, study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            if r.feasible and r.measurement is not None]
    if not done:
        return None
    p = pick(budget, baseline, [r.measurement for r in done], names=[r.candidate_key or label(r.strategy, r.params)
                                                                      for r in done])
    if p.index is not None:
        return done[p.index]
    # all of them measured slower than the original: refine around the least slow
    return min(done, key=lambda r: score(budget, baseline, r.measurement))


#: ``defer(strategy, params, best_speedup, best_label) -> why | None``: whether a queued candidate
#: cannot win on latency now that ``best_speedup`` was measured (e.g. :class:`advisor.ranking.Deferral`;
#: the ranking and the search never import each other, :mod:`advisor.jobs` hands it over).
Defer = Callable[[str, dict[str, Any], float, str], "str | None"]


class _Planner:
    """Feeds the study's queue whenever it runs dry: the next two of the ranker's candidates (each
    strategy at its defaults, best-ranked first), then one refining move -- a one-step neighbour of
    the incumbent (:func:`~advisor.search.space.neighbors`: the capacity knob first), the newest
    incumbent's moves first. So the half-width student of the leading strategy is tried early,
    not after every weaker strategy has had its turn; once both lists are empty the sampler
    explores. The lists live in the study's user attributes (``plan``, ``moves``, ``refined``),
    so a resumed run or a worker continues them; ``enqueue_trial(skip_if_exists=True)`` keeps
    a configuration from being queued twice.

    With ``defer``, a planned candidate predicted to lose on latency to the incumbent's measured
    same-run speed-up is set aside (``deferred``, with its reason in ``deferred_why``) and queued
    only once the plan and the moves are used up, one at a time, before the sampler explores."""

    def __init__(self, budget: Budget, baseline: Measurement, strategies: Sequence[str],
                 space: dict[str, list[Any]] | None, moves_per_incumbent: int = 2, defaults_per_move: int = 2,
                 defer: Defer | None = None) -> None:
        self.budget, self.baseline, self.strategies, self.space = budget, baseline, set(strategies), space
        self.moves_per_incumbent, self.defaults_per_move = moves_per_incumbent, defaults_per_move
        self.defer = defer

    def _set_aside(self, study: optuna.Study, inc: TrialRecord | None, *lists: list[dict[str, Any]],
                   ) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
        """Each of ``lists`` without the candidates ``defer`` sets aside now, and those candidates
        (their reasons added to the study's ``deferred_why``)."""
        if self.defer is None or inc is None or inc.measurement is None or inc.measurement is self.baseline:
            return list(lists), []
        try:
            best = speed(self.baseline, inc.measurement).speedup
        except ValueError:  # no same-run figure to compare with (e.g. timed on another device)
            return list(lists), []
        best_label = f"{label(inc.strategy, inc.params)} #{inc.number}"
        kept, aside, why = [], [], dict(study.user_attrs.get("deferred_why", {}))
        for configs in lists:
            keep = []
            for fixed in configs:
                params = {k: v for k, v in fixed.items() if k != "strategy"}
                reason = self.defer(fixed["strategy"], params, best, best_label)
                if reason is None:
                    keep.append(fixed)
                else:
                    aside.append(fixed)
                    why[label(fixed["strategy"], params)] = reason
            kept.append(keep)
        if aside:
            study.set_user_attr("deferred_why", why)
        return kept, aside

    def __call__(self, study: optuna.Study, trial: FrozenTrial | None = None) -> None:
        attrs = study.user_attrs
        plan, moves, refined = list(attrs.get("plan", [])), list(attrs.get("moves", [])), list(attrs.get("refined", []))
        deferred = list(attrs.get("deferred", []))
        inc = _incumbent(study, self.budget, self.baseline)
        if inc is not None and inc.number not in refined:
            strategy = inc.strategy
            if strategy in self.strategies:
                fresh = neighbors(strategy, inc.params, self.space)[: self.moves_per_incumbent]
                moves = [{"strategy": strategy, **m} for m in fresh] + moves
            study.set_user_attr("refined", [*refined, inc.number])
        (plan, moves), aside = self._set_aside(study, inc, plan, moves)
        deferred += aside
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if plan or moves:
                batch, plan = plan[: self.defaults_per_move], plan[self.defaults_per_move:]
                if moves:
                    batch.append(moves.pop(0))
            else:
                batch, deferred = deferred[:1], deferred[1:]
            for fixed in batch:
                study.enqueue_trial(fixed, skip_if_exists=True)
        for key, value in (("plan", plan), ("moves", moves), ("deferred", deferred)):
            if value != attrs.get(key, []):
                study.set_user_attr(key, value)


def search(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    spec: JobSpec,
    enqueue: Sequence[tuple[str, dict[str, Any]]] = (),
    strategies: Sequence[str] | None = None,
    settings: SearchSettings = SearchSettings(),
    ctx: RunContext | None = None,
    on_measured: Callable[[TrialRecord], None] | None = None,
    on_trial: Callable[[Evaluation], None] | None = None,
    expected_seconds: dict[str, float] | None = None,
    defer: Defer | None = None,
) -> SearchOutcome:
    """Run (or resume) the study until ``settings.trials`` trials have finished in it, the time
    budget ends, or the pick stops improving. Returns every finished trial as an evaluation.

    ``expected_seconds`` (strategy -> predicted compression seconds, from the ranking) lets the
    search skip a candidate that would run past the time budget and try a cheaper one instead.
    ``defer`` (:data:`Defer`) sets aside planned candidates predicted to lose on latency to the best
    measured so far; they run last, and ``SearchOutcome.deferred`` says why.
    """
    ctx = ctx or RunContext()
    strategies_ok, excluded = applicable_strategies(problem.model, problem.data, strategies or None)
    if not strategies_ok:
        raise NotApplicable("no strategy can apply to this model and data: " + "; ".join(excluded.values()))
    url = settings.storage or default_storage_url(out)
    name = settings.study or study_name_for(spec)
    study = open_study(url, name, settings.seed)
    stored = JobSpec.from_dict(study.user_attrs[SPEC_KEY]).strategies if SPEC_KEY in study.user_attrs else None
    if stored:  # a resumed study keeps its strategy choices: Optuna needs the same distribution
        strategies_ok = list(stored)
    strategies_ok = sorted(strategies_ok)
    study.set_user_attr(SPEC_KEY, spec.stored(strategies_ok, settings.trials).to_dict())
    _requeue_interrupted(study)
    study.set_user_attr("objectives", list(OBJECTIVE_NAMES))
    if settings.artifacts is not None:  # workers find the same store
        study.set_user_attr("artifacts", str(settings.artifacts))
    plan = []
    for strategy, params in enqueue:
        if strategy in strategies_ok:
            defaults = default_params(strategy, searched_only=True)
            steps = Strategy.parse(strategy).steps
            for key, values in (settings.space or {}).items():
                if key.partition(".")[0] in steps and defaults.get(key) not in values:
                    defaults[key] = values[0]  # stay inside the narrowed space
            plan.append({"strategy": strategy, **defaults, **params})
    if "plan" not in study.user_attrs:  # a resumed study (or a worker) continues its own plan
        study.set_user_attr("plan", plan)
    planner = _Planner(budget, problem.baseline, strategies_ok, settings.space, defer=defer)
    planner(study)  # queue the first candidates
    t_start = time.monotonic()
    deadline = None if settings.time_budget is None else t_start + settings.time_budget
    objective = Objective(problem, budget, strategies_ok, out / "trials" / name, ctx=ctx, scales=settings.scales,
                          space=settings.space, on_measured=on_measured, deadline=deadline,
                          expected_seconds=expected_seconds, store=open_store(url, settings.artifacts))
    stopper = _NoImprovement(problem, budget, settings.patience)
    target = _Target(settings.trials)
    done_before = done_trials(study)

    def report(study: optuna.Study, t: FrozenTrial) -> None:
        n = done_trials(study)
        ctx.report("search", min(1.0, n / settings.trials), f"{n}/{settings.trials} trials finished")
        if on_trial is not None:
            evs = [e for e in evaluations_from_study(study) if e.trial == t.number]
            if evs:
                on_trial(evs[0])

    t0 = time.perf_counter()
    logging.getLogger("optuna").setLevel(logging.ERROR)
    if done_before < settings.trials:
        study.optimize(
            objective,
            # skipped (over the time budget) and duplicate trials cost nothing and do not count:
            # _Target stops at the target, or once every candidate was measured
            n_trials=3 * (settings.trials - done_before) + len(strategies_ok),
            timeout=settings.time_budget,
            catch=(TechniqueError,),
            callbacks=[target, planner, stopper, report],
            gc_after_trial=True,
        )
    elapsed = time.perf_counter() - t0
    finished = done_trials(study)
    if target.exhausted:
        why = "every candidate in the search space was measured"
    elif stopper.triggered:
        why = f"no improvement of the pick in {settings.patience} trials"
    elif settings.time_budget is not None and elapsed >= settings.time_budget:
        why = f"time budget of {settings.time_budget:g} s reached"
    else:
        why = f"{finished} trials finished (limit {settings.trials})"
    return SearchOutcome(evaluations_from_study(study), name, url, why, elapsed, excluded,
                         dict(study.user_attrs.get("deferred_why", {})))
