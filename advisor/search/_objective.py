"""One Optuna trial: compress with the sampled strategy, measure it here, grow its training budget
only while that can still help, record everything, report objectives and budget constraints."""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from advisor.artifacts import sha256_of, upload
from advisor.budget import Budget
from advisor.compress import predict_seconds
from advisor.decide import drop_of, judge, speed
from advisor.errors import Cancelled, NotApplicable, OverTime, TechniqueError
from advisor.fileio import atomic_copy
from advisor.measure.remote import TargetGone
from advisor.problem import Problem
from advisor.progress import RunContext
from advisor.search import dedupe
from advisor.search._record import TrialRecord, write_record
from advisor.search.space import suggest
from advisor.strategies import Strategy
from advisor.types import Measurement

__all__ = ["Objective", "objectives_of", "DIRECTIONS", "OBJECTIVE_NAMES"]

OBJECTIVE_NAMES = ("accuracy_drop_pts", "latency_ratio_p90", "size_kb")
DIRECTIONS = ("minimize", "minimize", "minimize")


def objectives_of(problem: Problem, m: Measurement) -> tuple[float, float, float]:
    """The paired validation drop (points), the p90 over the original's in the same run, the size."""
    return drop_of(problem.baseline, m).value, speed(problem.baseline, m, "p90").value, m.size_bytes / 1024.0


class Objective:
    """Callable for ``study.optimize``.

    Training-based strategies start at ``scales[0]`` times their epochs; the budget grows to the next
    scale only while the candidate misses the accuracy limit alone (latency, size and compression
    time already fit, and the larger run is not predicted to break the time limit). That is our own
    early stop: Optuna's pruners do not work with several objectives.
    """

    def __init__(
        self,
        problem: Problem,
        budget: Budget,
        strategies: list[str],
        trials_dir: Path,
        *,
        ctx: RunContext,
        scales: tuple[float, ...] = (1.0, 2.0, 4.0),
        space: dict[str, list[Any]] | None = None,
        on_measured: Callable[[TrialRecord], None] | None = None,
        deadline: float | None = None,
        expected_seconds: dict[str, float] | None = None,
        store=None,
    ) -> None:
        self.store = store  # the study's artifact store (advisor.artifacts); None: models stay local
        self.space = space
        self.deadline = deadline  # time.monotonic() after which no trial should still be running
        self.expected_seconds = expected_seconds or {}
        self._overhead = 0.0  # seconds a trial spends outside compression (measuring), last seen
        self.problem = problem
        self.budget = budget
        self.strategies = strategies
        self.trials_dir = trials_dir
        self.ctx = ctx
        self.scales = scales
        self.on_measured = on_measured
        self._rates: dict = {}  # training seconds per sample of each model, timed once here

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        name, params = suggest(trial, self.strategies, self.space)
        strategy = Strategy.parse(name)
        rec = TrialRecord(number=trial.number, strategy=name, params=params)
        rec = write_record(trial, rec, strategy=name, host=platform.node(), pid=os.getpid())
        rec = self._skip_if_measured(trial, rec)
        self.ctx.report("search", 0.0, f"trial {trial.number}: {name}")
        expected = self._expected(trial.study, name)
        if expected is not None and not self._fits_in_time(expected):
            write_record(trial, rec, skipped=f"about {expected + self._overhead:.0f} s to compress and measure; "
                         "the time budget has less left")
            raise optuna.TrialPruned()  # cheaper candidates may still fit in the time left
        limit = self._compress_limit()
        if strategy.trains and limit is not None:
            predicted, how = predict_seconds(self.problem.model, self.problem.data, strategy, params,
                                             train_scale=self.scales[0], cache=self._rates)
            rec = write_record(trial, rec, predicted_compress_seconds=round(predicted, 1))
            if predicted > limit:
                write_record(trial, rec, skipped=f"predicted {predicted:.0f} s of compression ({how}); "
                             f"the compression-time limit leaves {limit:.0f} s")
                raise optuna.TrialPruned()
        try:
            result, m, scale = self._grow(strategy, params)
        except OverTime as e:
            why = f"{e} (limit {limit:.0f} s)" if limit is not None else str(e)
            write_record(trial, rec, stopped=why, error=why)  # the advice lists it with this reason
            raise optuna.TrialPruned() from None
        except (Cancelled, KeyboardInterrupt, TargetGone):
            write_record(trial, rec, interrupted=True)  # re-run once when the study resumes
            raise
        except (TechniqueError, NotApplicable) as e:
            write_record(trial, rec, error=str(e))
            raise
        earlier = dedupe.duplicate_of(trial.study, trial.number, rec.candidate_key)
        if earlier is not None:  # another worker started the same candidate in the same instant: it keeps it
            write_record(trial, rec, duplicate_of=earlier)
            raise optuna.TrialPruned()
        verdicts = judge(self.budget, self.problem.baseline, m)
        for k, v in verdicts.items():
            trial.set_constraint(k, min(float(v.excess), 0.0) if v.meets else max(float(v.excess), 1e-9))
        rec = write_record(trial, rec,
                           constraints={k: round(v.excess, 6) for k, v in verdicts.items()},  # for optuna-dashboard
                           verdicts={k: v.state for k, v in verdicts.items()},
                           feasible=all(v.meets for v in verdicts.values()), train_scale=scale, measurement=m,
                           notes=_jsonable(result.notes))
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        dst = self.trials_dir / f"trial-{trial.number:05d}.onnx"
        atomic_copy(result.model.onnx_path, dst)
        rec = write_record(trial, rec, model_file=str(dst.resolve()), model_sha256=sha256_of(dst))
        if self.store is not None:  # the measured file, as it will ship: nothing is rebuilt after the search
            rec = write_record(trial, rec, artifact=upload(trial, dst, self.store).to_dict())
        if self.on_measured is not None:
            self.on_measured(rec)
        return objectives_of(self.problem, m)

    def _skip_if_measured(self, trial: optuna.Trial, rec: TrialRecord) -> TrialRecord:
        """Prune a candidate the study already holds and queue an untried one in its place
        (:mod:`advisor.search.dedupe`); mark the trial ``exhausted`` when none is left."""
        key = dedupe.candidate_key(rec.strategy, rec.params)
        rec = write_record(trial, rec, candidate_key=key)
        earlier = dedupe.duplicate_of(trial.study, trial.number, key)
        if earlier is None:
            return rec
        rec = write_record(trial, rec, duplicate_of=earlier)
        nxt = dedupe.untried(rec.strategy, rec.params, dedupe.tried_keys(trial.study), self.strategies, self.space,
                             dedupe.queued_keys(trial.study))
        if nxt is None:
            write_record(trial, rec, exhausted=True)
        else:
            trial.study.enqueue_trial(nxt)
        raise optuna.TrialPruned()

    def _expected(self, study: optuna.Study, name: str) -> float | None:
        """Seconds ``name`` is expected to take to compress: the longest this study has measured
        for it (any worker's trials; a measurement beats a prediction), else the ranking's
        prediction (``None``: neither)."""
        seen = [r.measurement.compress_seconds for r in map(TrialRecord.from_trial, study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) if r.strategy == name and r.measurement]
        return max(seen) if seen else self.expected_seconds.get(name)

    def _compress_limit(self) -> float | None:
        """Seconds the next compression may take: ``--max-compress-time`` and what the time
        budget leaves after measuring (``None``: no limit)."""
        limits = [self.budget.max_compress_seconds]
        if self.deadline is not None:
            limits.append(max(0.0, self.deadline - time.monotonic() - self._overhead))
        known = [v for v in limits if v is not None]
        return min(known) if known else None

    def _fits_in_time(self, compress_seconds: float) -> bool:
        """Whether compressing for about ``compress_seconds`` and measuring the result ends before
        the deadline (measurement cost: as the last trial measured it)."""
        return self.deadline is None or time.monotonic() + compress_seconds + self._overhead <= self.deadline

    def _grow(self, strategy: Strategy, params: dict[str, Any]):
        scales = self.scales if strategy.trains else (1.0,)
        result = m = None
        used = scales[0]
        for i, scale in enumerate(scales):
            t0 = time.monotonic()
            ctx = dataclasses.replace(self.ctx, compress_limit=self._compress_limit())
            try:
                result, m = self.problem.evaluate(strategy, params, ctx=ctx, train_scale=scale, budget=self.budget,
                                                  test=False)
            except OverTime:
                if result is None:
                    raise
                break  # the larger run did not fit: keep the one measured
            self._overhead = max(0.0, time.monotonic() - t0 - m.compress_seconds)
            used = scale
            verdicts = judge(self.budget, self.problem.baseline, m)
            if "accuracy" not in verdicts or verdicts["accuracy"].meets or i == len(scales) - 1:
                break
            others_fit = all(v.meets for k, v in verdicts.items() if k != "accuracy")
            limit = self.budget.max_compress_seconds
            nxt = scales[i + 1] / scale * m.compress_seconds
            if not others_fit or (limit is not None and nxt > limit):
                break  # more training cannot make it fit: stop spending on it
            if not self._fits_in_time(nxt):
                break  # keep what was measured rather than overrun the time budget
            self.ctx.report("search", 0.5, f"{strategy.name}: promising, training budget x{scales[i + 1]:g}")
        return result, m, used


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out[k] = v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
    return out
