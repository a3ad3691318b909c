"""Join an existing study from its stored job description (``advisor worker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.budget import Budget
from advisor.errors import InputError
from advisor.fileio import prepare_out_dir
from advisor.measure import MeasureSettings
from advisor.problem import open_problem
from advisor.progress import RunContext
from advisor.search import FINISHED, SearchSettings, open_study, search
from advisor.search.storage import SPEC_KEY

__all__ = ["join_study"]


def join_study(storage: str, study_name: str, out: Path, *, trials: int | None = None,
               ctx: RunContext | None = None) -> dict[str, Any]:
    """Run trials for ``study_name`` until it has ``trials`` (default: its own target) finished."""
    ctx = ctx or RunContext()
    study = open_study(storage, study_name, create=False)
    spec = study.user_attrs.get(SPEC_KEY)
    if not isinstance(spec, dict) or "model" not in spec:
        raise InputError(f"study '{study_name}' was not created by advisor advise (no job description)")
    budget = Budget.from_dict(spec["budget"])
    target = trials or int(spec.get("trials") or 20)
    before = len(study.get_trials(deepcopy=False, states=FINISHED))
    settings = MeasureSettings(threads=int(spec.get("threads") or 1), spinning=bool(spec.get("spinning")))
    shape = tuple(spec["input_shape"]) if spec.get("input_shape") else None
    from advisor.jobs import kb_recorder, saved_profile_of_this_device
    from advisor.ranking import KnowledgeBase

    trains = None if spec.get("split") is None else spec["split"] == "train"
    with open_problem(spec["model"], spec["data"], weights=spec.get("weights"), input_shape=shape,
                      settings=settings, ctx=ctx, train_data=spec.get("train_data"), metric=spec.get("metric"),
                      trains=trains) as problem:
        prepare_out_dir(out)
        remember = kb_recorder(problem, KnowledgeBase(), saved_profile_of_this_device())
        outcome = search(problem, budget, out, spec=spec, strategies=spec.get("strategies"),
                         settings=SearchSettings(trials=target, storage=storage, study=study_name,
                                                 seed=hash(str(out)) % 10_000),
                         ctx=ctx, on_measured=remember)
    return {"study": study_name, "storage": storage, "ran": outcome.trials - before if outcome.trials >= before else 0,
            "finished": outcome.trials, "stopped": outcome.stopped}
