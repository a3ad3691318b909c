"""The worker job: join an existing study from its stored job description (``advisor worker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.errors import InputError
from advisor.fileio import prepare_out_dir
from advisor.jobs import kb_recorder, saved_profile_of_this_device
from advisor.measure import MeasureSettings
from advisor.problem import open_problem
from advisor.progress import RunContext
from advisor.ranking import KnowledgeBase
from advisor.search import FINISHED, SearchSettings, open_study, search
from advisor.search.jobspec import JobSpec
from advisor.search.storage import SPEC_KEY

__all__ = ["join_study"]


def join_study(storage: str, study_name: str, out: Path, *, trials: int | None = None,
               ctx: RunContext | None = None) -> dict[str, Any]:
    """Run trials for ``study_name`` until it has ``trials`` (default: its own target) finished."""
    ctx = ctx or RunContext()
    study = open_study(storage, study_name, create=False)
    stored = study.user_attrs.get(SPEC_KEY)
    if not isinstance(stored, dict) or "model" not in stored:
        raise InputError(f"study '{study_name}' was not created by advisor advise (no job description)")
    try:
        spec = JobSpec.from_dict(stored)
    except InputError as e:
        raise InputError(f"study '{study_name}': {e}") from None
    target = trials or spec.trials or 20
    before = len(study.get_trials(deepcopy=False, states=FINISHED))
    settings = MeasureSettings(threads=spec.threads, spinning=spec.spinning)
    trains = None if spec.split is None else spec.split == "train"
    try:
        opened = open_problem(spec.model, spec.data, weights=spec.weights, input_shape=spec.input_shape,
                              settings=settings, ctx=ctx, train_data=spec.train_data, metric=spec.metric,
                              trains=trains)
    except InputError as e:
        # The sources are the study's (a factory as an absolute file when the leader found it in its
        # current folder): this machine resolves them itself, and says plainly when it cannot.
        raise InputError(f"this worker cannot rebuild the problem of study '{study_name}' here: {e}") from None
    with opened as problem:
        prepare_out_dir(out)
        remember = kb_recorder(problem, KnowledgeBase(), saved_profile_of_this_device())
        outcome = search(problem, spec.budget, out, spec=spec, strategies=spec.strategies,
                         settings=SearchSettings(trials=target, storage=storage, study=study_name,
                                                 seed=hash(str(out)) % 10_000,
                                                 artifacts=study.user_attrs.get("artifacts")),
                         ctx=ctx, on_measured=remember)
    return {"study": study_name, "storage": storage, "ran": outcome.trials - before if outcome.trials >= before else 0,
            "finished": outcome.trials, "stopped": outcome.stopped}
