"""The jobs users run, as library calls: the CLI and the TUI both call these and nothing else.

``compress_one``: one strategy, measured. ``advise``: the search (measured trials) -> pick ->
advice folder. ``spec_of``: the job description stored with a study so workers can join it;
:mod:`advisor.jobs.worker`: a worker joining such a study (``advisor worker``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.advice import Advice, device_summary, pareto_front, speedup
from advisor.artifacts import download, open_store, sha256_of
from advisor.budget import Budget
from advisor.choice import choose
from advisor.explain import build_advice
from advisor.fileio import atomic_copy, prepare_out_dir
from advisor.models import anchored_spec, is_factory_spec
from advisor.problem import Evaluation, Problem
from advisor.profiling import DEFAULT_PROFILES_DIR, DeviceFacts, ProfileStore, probe_host
from advisor.progress import RunContext
from advisor.ranking import Deferral, KnowledgeBase, Ranker, Ranking, rank, record_trial
from advisor.report import write_advice
from advisor.search import JobSpec, SearchSettings, TrialRecord, prune_artifacts, search
from advisor.search.space import default_params
from advisor.strategies import Strategy

if TYPE_CHECKING:  # a type only: importing profiling here at run time would load it on every import
    from advisor.profiling import DeviceProfile

__all__ = ["compress_one", "advise", "spec_of", "rank_for", "is_this_device", "use_profile",
           "saved_profile_of_this_device", "kb_recorder", "latency_source", "reproducibility", "materialize"]


def is_this_device(profile: DeviceProfile) -> bool:
    """Whether ``profile`` describes the machine we run on (same CPU model and core count)."""
    host = probe_host()
    return profile.host.cpu == host["cpu"] and profile.host.cores_logical == host["cores_logical"]


def saved_profile_of_this_device(profiles_dir: Path | str | None = None) -> DeviceProfile | None:
    """The newest saved profile (in ``profiles_dir``, default ``./profiles``) that describes this
    machine, or ``None``."""
    store = ProfileStore(profiles_dir or DEFAULT_PROFILES_DIR)
    mine = [e.profile for e in store.entries() if e.profile is not None and is_this_device(e.profile)]
    return max(mine, key=lambda p: p.created) if mine else None


def use_profile(problem: Problem, profile: DeviceProfile | None) -> str:
    """Point ``problem`` at ``profile``'s device: if that is another machine, latencies become the
    profiler's predictions for it. Returns where latency figures come from (:func:`latency_source`)."""
    if profile is not None and problem.target is None and problem.board is None and not is_this_device(profile):
        problem.retarget(profile)
    return latency_source(problem, profile)


def latency_source(problem: Problem, profile: DeviceProfile | None) -> str:
    """Where this problem's latency figures come from, in the words every surface uses: the one
    home of this label (the advice's trials section, the ranking's baseline, the TUI)."""
    if problem.board is not None:
        return f"measured on {problem.board.device} (a measuring target; the workstation compressed)"
    if problem.target is not None:
        return (f"predicted for profile {problem.target.name} (its device is not at hand; roofline model from its "
                "measured figures)")
    if profile is None:
        return "measured here (no profile)"
    return f"measured here (profile {profile.name} is this device)"


def reproducibility(problem: Problem, settings: SearchSettings) -> dict[str, str]:
    """The seeds an advice was made with, and the randomness that remains (named)."""
    return {
        "data split": "fixed permutation, seed 0 (groups kept whole)" if problem.data.grouped else
                      "fixed permutation, seed 0",
        "search sampler": f"Optuna TPE, seed {settings.seed}; candidates enqueued best-ranked first",
        "training": "torch seed 0, deterministic data order, all cores but one (the same count every run; each "
                    "trial's notes record it): a trial that trains repeats bit for bit on this machine",
        "intervals": "bootstrap seed 0; exact and score intervals have no randomness",
        "remaining randomness": "latency timings (hence speed ties, the final race and which candidates are "
                                "deferred); the device profile when it is measured anew (hence the ranking's "
                                "order); which candidates a time budget lets run; a resumed or shared study's "
                                "trial order",
    }


def kb_recorder(problem: Problem, kb: KnowledgeBase, profile: DeviceProfile | None) -> Callable[[TrialRecord], None]:
    """The search's ``on_measured`` hook: every measured trial becomes a knowledge-base record."""
    facts = DeviceFacts.of(profile)

    def remember(trial: TrialRecord) -> None:
        if problem.target is not None or trial.measurement is None:
            return  # latency was predicted, not measured: it does not teach the knowledge base
        kb.append([record_trial(problem, strategy=trial.strategy, params=trial.params,
                                train_scale=trial.train_scale, measurement=trial.measurement, facts=facts,
                                model_path=trial.model_path, profile=profile)])

    return remember


def rank_for(problem: Problem, budget: Budget, *, profile: DeviceProfile | None = None, kb: KnowledgeBase | None = None,
             latency_source: str | None = None, ranker: Ranker | None = None,
             strategies: Sequence[str] | None = None) -> Ranking:
    """The ranking for ``problem`` on ``profile``'s device (a device not at hand: latencies become the
    profiler's predictions, :func:`use_profile`); ``ranker``: one already fitted on ``kb``'s records
    (default: fitted here, see :func:`~advisor.ranking.rank`)."""
    facts = DeviceFacts.of(profile)
    source = latency_source or use_profile(problem, profile)
    return rank(problem, budget, profile=profile, facts=facts, kb=kb or KnowledgeBase(), baseline_latency_source=source,
                ranker=ranker, strategies=strategies)


def compress_one(problem: Problem, strategy: str, params: dict[str, Any] | None, out: Path,
                 ctx: RunContext | None = None, *, kb: KnowledgeBase | None = None,
                 profile: DeviceProfile | None = None) -> dict[str, Any]:
    """Compress with one strategy, measure it, write ``out/model.onnx``; returns the record.
    The measurement is appended to the knowledge base (``kb``, default: the local one).

    The record says where its latency comes from (``latency_source``) and holds the speed-up
    against the original timed in the same run (``baseline_latency``, ``speedup_p50``); its
    ``baseline`` is the original's one-off timing at problem open (an earlier run)."""
    s = Strategy.parse(strategy)
    s.configs(params)  # bad parameters fail before any work
    result, m = problem.evaluate(s, params, ctx=ctx)
    atomic_copy(result.model.onnx_path, out / "model.onnx")
    if not s.is_baseline and problem.target is None:
        facts = DeviceFacts.of(profile)
        (kb or KnowledgeBase()).append([record_trial(problem, strategy=s.name, params=result.params, train_scale=1.0,
                                                     measurement=m, facts=facts, model_path=result.model.onnx_path,
                                                     profile=profile)])
    rec = m.to_dict()
    ratio, ref = speedup(problem.baseline, m)
    rec.update({"strategy": s.name, "params": result.params, "notes": result.notes,
                "latency_source": m.latency.describe_source(),
                "baseline_latency": ref.to_dict(), "speedup_p50": round(ratio, 4),
                "speedup_against": ref.describe_source(),
                "baseline": {**problem.baseline.to_dict(),
                             "latency_source": problem.baseline.latency.describe_source()},
                "model_file": str(out / "model.onnx")})
    return rec


def spec_of(problem: Problem, budget: Budget, *, weights: str | None = None,
            input_shape: tuple[int, ...] | None = None) -> JobSpec:
    """What a worker needs to rebuild this problem: sources (absolute paths; a factory the current
    folder holds as its absolute file, see :func:`advisor.models.anchored_spec`), the split policy
    and metric, budget, timing threads."""

    def absolute(src: str | None) -> str | None:
        if src is not None and is_factory_spec(src):
            return anchored_spec(src)
        if src is None or src.startswith("builtin:") or (":" in src and not Path(src).exists()):
            return src
        return str(Path(src).resolve())

    return JobSpec(
        model=absolute(problem.model.source),
        data=absolute(problem.data.source),
        train_data=absolute(problem.data.train_source),
        metric=problem.data.metric_override,
        split=problem.data.policy,
        weights=absolute(weights),
        input_shape=tuple(input_shape) if input_shape else None,
        budget=budget,
        threads=problem.settings.threads,
        spinning=problem.settings.spinning,
    )


def advise(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    settings: SearchSettings = SearchSettings(),
    spec: JobSpec | None = None,
    strategies: Sequence[str] | None = None,
    enqueue: Sequence[tuple[str, dict[str, Any]]] | None = None,
    profile: DeviceProfile | None = None,
    kb: KnowledgeBase | None = None,
    ctx: RunContext | None = None,
    on_trial: Callable[[Evaluation], None] | None = None,
    ranker: Ranker | None = None,
) -> Advice:
    """The main job: rank, search (best-ranked first), choose under ``budget``, explain, write.

    Every measured trial is appended to the knowledge base ``kb`` (default: the local one). ``ranker``:
    one already fitted on ``kb``'s records, for a caller that advises repeatedly on an unchanged
    knowledge base (default: fitted here on its current records).
    """
    ctx = ctx or RunContext()
    prepare_out_dir(out, [problem.model.source, problem.data.source])
    facts = DeviceFacts.of(profile)
    kb = kb or KnowledgeBase()
    source = use_profile(problem, profile)
    ctx.report("rank", 0.0, "ranking strategies from rules and the knowledge base")
    ranking = rank(problem, budget, profile=profile, facts=facts, kb=kb, strategies=strategies,
                   baseline_latency_source=source, ranker=ranker)
    order = [s for s in ranking.order() if s != "NQ"]
    if enqueue is None:
        enqueue = [(s, {}) for s in order]

    remember = kb_recorder(problem, kb, profile)
    deferral = Deferral(ranking, objective=budget.objective, defaults=lambda s: default_params(s, searched_only=True))
    outcome = search(
        problem, budget, out,
        spec=spec or spec_of(problem, budget),
        enqueue=enqueue, strategies=order or strategies, settings=settings, ctx=ctx,
        on_measured=remember, on_trial=on_trial,
        expected_seconds={i.strategy: i.predicted["compress_seconds"].mean for i in ranking.items if i.predicted},
        defer=deferral,
    )
    trials = {"count": outcome.trials, "storage": outcome.storage_url, "study": outcome.study_name,
              "stopped": outcome.stopped, "search_seconds": round(outcome.seconds, 1),
              "knowledge_base": str(kb.path), "latency_source": source, "deferred": outcome.deferred}
    store = open_store(outcome.storage_url, settings.artifacts)
    choice = choose(problem, budget, outcome.evaluations, ctx=ctx, materialize=lambda e: materialize(problem, e, store))
    advice = build_advice(problem, budget, outcome.evaluations, device=device_summary(problem, profile),
                          trials=trials, ranking=ranking, choice=choice,
                          reproducibility=reproducibility(problem, settings))
    shown = advice.shown
    if shown.model_path is None and shown.measurement is not problem.baseline and shown.measurement is not None:
        advice.nearest[0] = materialize(problem, shown, store)  # nothing fits: the nearest option's file
    write_advice(advice, out)
    if not settings.keep_all:
        trials["artifacts_removed"] = prune_artifacts(outcome.storage_url, outcome.study_name,
                                                      _referenced(advice), settings.artifacts)
    return advice


def materialize(problem: Problem, e: Evaluation, store) -> Evaluation:
    """``e`` with its measured model file here: the local trial file when its sha256 is the measured
    one, else the file fetched from the study's artifact store (checked against the same sha256).
    Nothing is rebuilt: a candidate whose artifact is gone keeps ``model_path=None`` and cannot be
    shipped. Raises :class:`~advisor.artifacts.ArtifactError` when the stored bytes differ."""
    ref = e.artifact
    if e.model_path is not None and e.model_path.is_file() and (ref is None or sha256_of(e.model_path) == ref.sha256):
        return e
    if ref is None:
        return replace(e, model_path=None)
    dst = problem.workdir / "artifacts" / f"{ref.artifact_id}.onnx"
    return replace(e, model_path=download(store, ref, dst, what=f"the model of {e.label}"))


def _referenced(advice: Advice) -> set[int]:
    """Trials whose artifacts the advice still needs: the Pareto front, the pick, its ties, the
    candidates checked on test, the nearest options."""
    keep = {e.trial for e in pareto_front(advice.evaluations, advice.problem.baseline)}
    ch = advice.choice
    keep |= {e.trial for e in (ch.pick, *ch.ties, *advice.nearest) if e is not None}
    labels = {c.label for c in ch.checked}
    keep |= {e.trial for e in advice.evaluations if e.label in labels}
    return {t for t in keep if t is not None}
