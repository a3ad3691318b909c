"""The choice: from measured candidates to a pick that holds beyond noise and sampling.

Three steps, each on data the previous one did not use to decide:

1. **Pick on validation** (:func:`advisor.decide.pick`): every limit judged on an interval; the
   candidates tied with the best at the objective's first key are the pick's ties.
2. **Final race**: the finalists (the pick and its speed ties, at most six) and the original are
   timed again together, interleaved, in one run, in rounds of ten blocks until every finalist is
   separated from the fastest or shown equal to it within :data:`~advisor.measure.latency.LATENCY_RESOLUTION`
   (four rounds at most); the pick is then made again on the race's figures, whose ratios pair up
   block by block.
3. **Confirmation on test**: the pick's paired drop on the untouched test split against the limit.
   When it does not confirm (the drop breaks the limit, or the split cannot resolve it), the next
   candidates in pick order are checked on test (at most :data:`FALLBACK_CHECKS`); the first that
   confirms is named as the nearest confirmed option. The test split is then consulted more than
   once, and the advice says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from advisor.artifacts import ArtifactError
from advisor.budget import Budget
from advisor.decide import BASELINE_LATENCY_KEY, finalists, pick
from advisor.measure.latency import race_resolved
from advisor.measure.paired import more_samples
from advisor.problem import Evaluation, Problem
from advisor.progress import RunContext
from advisor.types import DropFigure, LatencyStats, Measurement, QualityFigure

__all__ = ["Choice", "Confirmation", "FinalRace", "choose", "baseline_evaluation", "FALLBACK_CHECKS",
           "candidate_key"]

FALLBACK_CHECKS = 3  # further candidates checked on test when the pick is not confirmed


@dataclass(frozen=True)
class Confirmation:
    """One candidate checked on the untouched test split: its paired drop there against the limit
    (``limit``, points; ``None``: no accuracy limit) and its own figure with the 95% interval."""

    label: str
    drop: DropFigure
    figure: QualityFigure
    limit: float | None

    @property
    def state(self) -> str:
        """``fits`` (confirmed), ``unresolved`` (the test split cannot tell) or ``breaks``."""
        return self.drop.verdict(self.limit)

    @property
    def confirmed(self) -> bool:
        return self.state == "fits"

    @property
    def more(self) -> int | None:
        """About how many more test samples would resolve an unresolved check."""
        return None if self.limit is None else more_samples(self.drop, self.limit)

    def to_dict(self) -> dict:
        return {"candidate": self.label, "state": self.state, "confirmed": self.confirmed, "limit_pts": self.limit,
                "drop": self.drop.to_dict(), "figure": self.figure.to_dict(), "more_samples": self.more}


@dataclass(frozen=True)
class FinalRace:
    """The finalists timed again with the original in one run (labels), over ``blocks`` paired
    blocks; ``resolved``: every finalist separated from the fastest or equal to it within the
    resolution before the rounds ran out."""

    finalists: tuple[str, ...]
    blocks: int
    retimed: int
    resolved: bool

    def to_dict(self) -> dict:
        return {"finalists": list(self.finalists), "blocks": self.blocks, "retimed": self.retimed,
                "resolved": self.resolved}


@dataclass(frozen=True)
class Choice:
    """What was chosen and how sure it is.

    Attributes:
        candidates: the original (first) and every measured candidate, finalists with their
            final-race figures.
        pick: the pick on validation (``None``: nothing meets the budget).
        ties: candidates tied with the pick at the objective's first key (a rerun picks among them).
        feasible: candidates meeting every limit.
        slower: left out of a latency objective: measured slower than the original.
        race: the final race, if one ran.
        confirmation: the pick checked on test.
        checked: further candidates checked on test because the pick was not confirmed.
        unavailable: candidates left out because their measured model file cannot be had here.
    """

    candidates: tuple[Evaluation, ...]
    pick: Evaluation | None
    ties: tuple[Evaluation, ...] = ()
    feasible: tuple[Evaluation, ...] = ()
    slower: tuple[Evaluation, ...] = ()
    race: FinalRace | None = None
    confirmation: Confirmation | None = None
    checked: tuple[Confirmation, ...] = ()
    unavailable: tuple[tuple[str, str], ...] = ()  # (label, why): candidates whose measured file cannot be had

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None and self.confirmation.confirmed

    @property
    def fallback(self) -> Confirmation | None:
        """The nearest confirmed option when the pick is not confirmed."""
        return next((c for c in self.checked if c.confirmed), None)


def baseline_evaluation(problem: Problem) -> Evaluation:
    """The original as a candidate (``NQ``)."""
    return Evaluation("NQ", {}, problem.baseline)


def candidate_key(e: Evaluation) -> str:
    """A deterministic name for the last tie-break: the strategy and its parameters (trial numbers
    differ between runs, the candidate does not)."""
    return e.strategy + json.dumps(e.params, sort_keys=True, default=str)


def _raced(m: Measurement, mine: LatencyStats, original: LatencyStats) -> Measurement:
    extra = {**m.extra, BASELINE_LATENCY_KEY: original.to_dict(),
             "latency_ratio": round(mine.p50_ms / original.p50_ms, 4),
             "latency_first_run": m.latency.to_dict(), "final_race": True}
    return replace(m, latency=mine, extra=extra)


class _Files:
    """Getting candidates' measured model files here, once each: the ones that cannot be had (no
    artifact, a sha256 that does not match) are left out of the race and the pick, with the reason."""

    def __init__(self, cands: list[Evaluation], base: Measurement,
                 materialize: Callable[[Evaluation], Evaluation] | None) -> None:
        self.cands, self.base, self.materialize = cands, base, materialize
        self.missing: dict[int, str] = {}

    def here(self, i: int) -> bool:
        e = self.cands[i]
        if e.measurement is self.base:
            return True
        if i in self.missing:
            return False
        local = e.model_path is not None and e.model_path.is_file()
        if self.materialize is None:
            if not local:
                self.missing[i] = "its measured model file is not on this machine"
            return local
        try:
            got = self.materialize(e)
        except ArtifactError as err:
            self.missing[i] = str(err)
            return False
        if got.model_path is None:
            self.missing[i] = "its measured model is in no artifact store (an old study, or removed)"
            return False
        self.cands[i] = got
        return True


def choose(problem: Problem, budget: Budget, evals: Sequence[Evaluation], *, ctx: RunContext | None = None,
           materialize: Callable[[Evaluation], Evaluation] | None = None, race: bool = True,
           confirm: bool = True) -> Choice:
    """Pick on validation, race the finalists, confirm on test (see the module docstring).

    ``materialize`` brings a candidate's measured model file here (from the study's artifact store,
    :func:`advisor.jobs.materialize`) before it is raced, confirmed or shipped; a candidate whose file
    cannot be had is left out, with the reason (``Choice.unavailable``). ``race``/``confirm`` off:
    the validation pick alone (tests, a device not at hand).
    """
    ctx = ctx or RunContext()
    cands = [baseline_evaluation(problem), *(e for e in evals if e.ok)]
    base = problem.baseline
    names = [candidate_key(e) for e in cands]
    files = _Files(cands, base, materialize)
    result: FinalRace | None = None
    if race and problem.target is None:
        chosen = [i for i in finalists(budget, base, [e.measurement for e in cands]) if files.here(i)]
        if chosen:
            ctx.report("race", 0.0, f"final race: {len(chosen)} finalist(s) and the original, interleaved")
            stats = problem.race([cands[i].model_path for i in chosen], race_resolved, ctx=ctx)
            for i, st in zip(chosen, stats[1:], strict=True):
                cands[i] = replace(cands[i], measurement=_raced(cands[i].measurement, st, stats[0]))
            result = FinalRace(tuple(cands[i].label for i in chosen), len(stats[0].blocks_p50 or ()),
                               stats[0].retimed, race_resolved(stats))

    def best(excluded: set[int]):
        ms = [None if i in excluded or i in files.missing else e.measurement for i, e in enumerate(cands)]
        return pick(budget, base, ms, names)

    p = best(set())
    while p.index is not None and not files.here(p.index):  # a pick that cannot ship is no pick
        p = best(set())
    unavailable = tuple((cands[i].label, why) for i, why in files.missing.items())
    feasible = tuple(cands[i] for i in p.feasible)
    slower = tuple(cands[i] for i in p.slower)
    if p.index is None:
        return Choice(tuple(cands), None, (), feasible, slower, result, unavailable=unavailable)
    ties = tuple(cands[i] for i in p.ties)
    if not confirm:
        return Choice(tuple(cands), cands[p.index], ties, feasible, slower, result, unavailable=unavailable)
    first = _confirm(problem, budget, cands, p.index)
    checked: list[Confirmation] = []
    if not first.confirmed:
        tried = {p.index}
        for _ in range(FALLBACK_CHECKS):
            nxt = best(tried)
            while nxt.index is not None and not files.here(nxt.index):
                nxt = best(tried)
            if nxt.index is None:
                break
            tried.add(nxt.index)
            conf = _confirm(problem, budget, cands, nxt.index)
            checked.append(conf)
            if conf.confirmed:
                break
    unavailable = tuple((cands[i].label, why) for i, why in files.missing.items())
    return Choice(tuple(cands), cands[p.index], ties, feasible, slower, result, first, tuple(checked), unavailable)


def _confirm(problem: Problem, budget: Budget, cands: list[Evaluation], i: int) -> Confirmation:
    """Check candidate ``i`` (its file here) on test; its measurement gets ``reported``/``confirmation``."""
    e = cands[i]
    limit = budget.max_accuracy_drop
    base = problem.baseline
    if e.measurement is base:  # the original against itself: exactly no drop
        return Confirmation(e.label, replace(base.confirmation, confidence=budget.confidence), base.reported, limit)
    drop, figure = problem.confirm(e.model_path, budget.confidence)
    cands[i] = replace(e, measurement=replace(e.measurement, reported=figure, confirmation=drop))
    return Confirmation(e.label, drop, figure, limit)
