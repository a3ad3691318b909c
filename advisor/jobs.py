"""The jobs users run, as library calls: the CLI and the TUI both call these and nothing else.

``compress_one``: one strategy, measured. ``advise``: the search (measured trials) -> pick ->
advice folder. ``spec_of``: the job description stored with a study so workers can join it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from advisor.advice import Advice, build_advice, device_summary
from advisor.budget import Budget
from advisor.fileio import atomic_copy, prepare_out_dir
from advisor.problem import Evaluation, Problem
from advisor.progress import RunContext
from advisor.report import write_advice
from advisor.search import SearchSettings, applicable_strategies, search
from advisor.strategies import Strategy
from advisor.types import Reason

__all__ = ["compress_one", "advise", "spec_of", "default_enqueue"]


def compress_one(problem: Problem, strategy: str, params: dict[str, Any] | None, out: Path,
                 ctx: RunContext | None = None) -> dict[str, Any]:
    """Compress with one strategy, measure it, write ``out/model.onnx``; returns the record."""
    s = Strategy.parse(strategy)
    s.configs(params)  # bad parameters fail before any work
    result, m = problem.evaluate(s, params, ctx=ctx)
    atomic_copy(result.model.onnx_path, out / "model.onnx")
    rec = m.to_dict()
    rec.update({"strategy": s.name, "params": result.params, "notes": result.notes,
                "baseline": problem.baseline.to_dict(), "model_file": str(out / "model.onnx")})
    return rec


def spec_of(problem: Problem, budget: Budget, *, weights: str | None = None,
            input_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """What a worker needs to rebuild this problem: sources (absolute paths), budget, timing threads."""

    def absolute(src: str | None) -> str | None:
        if src is None or src.startswith("builtin:") or (":" in src and not Path(src).exists()):
            return src
        return str(Path(src).resolve())

    return {
        "model": absolute(problem.model.source),
        "data": absolute(problem.data.source),
        "weights": absolute(weights),
        "input_shape": list(input_shape) if input_shape else None,
        "budget": budget.to_dict(),
        "threads": problem.settings.threads,
        "spinning": problem.settings.spinning,
    }


def default_enqueue(problem: Problem) -> list[tuple[str, dict[str, Any]]]:
    """Without a ranking: every applicable strategy once at its defaults, in the search's order."""
    ok, _ = applicable_strategies(problem)
    return [(s, {}) for s in ok]


def advise(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    settings: SearchSettings = SearchSettings(),
    spec: dict[str, Any] | None = None,
    enqueue: Sequence[tuple[str, dict[str, Any]]] | None = None,
    strategies: Sequence[str] | None = None,
    profile: Any | None = None,
    ctx: RunContext | None = None,
    extra_reasons: list[Reason] | None = None,
    ranking: list[dict[str, Any]] | None = None,
    on_measured: Callable[[dict[str, Any]], None] | None = None,
    on_trial: Callable[[Evaluation], None] | None = None,
) -> Advice:
    """Search, choose under ``budget``, write the advice folder, return the advice."""
    ctx = ctx or RunContext()
    prepare_out_dir(out, [problem.model.source, problem.data.source])
    outcome = search(
        problem, budget, out,
        spec=spec or spec_of(problem, budget),
        enqueue=default_enqueue(problem) if enqueue is None else enqueue,
        strategies=strategies, settings=settings, ctx=ctx, on_measured=on_measured, on_trial=on_trial,
    )
    reasons = list(extra_reasons or [])
    for name, why in outcome.excluded.items():
        reasons.append(Reason(f"{name} was not tried: {why}", "technique requirements", "advisor technique registry"))
    trials = {"count": outcome.trials, "storage": outcome.storage_url, "study": outcome.study_name,
              "stopped": outcome.stopped, "search_seconds": round(outcome.seconds, 1)}
    advice = build_advice(problem, budget, outcome.evaluations, device=device_summary(problem, profile),
                          trials=trials, extra_reasons=reasons, ranking=ranking)
    _materialize(advice, problem, ctx)
    write_advice(advice, out)
    return advice


def _materialize(advice: Advice, problem: Problem, ctx: RunContext) -> None:
    """Make sure the shown candidate's model file exists here (a fleet worker may have made it
    elsewhere): if not, re-run its strategy with the recorded parameters."""
    shown = advice.shown
    if shown.model_path is not None or shown.strategy == "NQ" or shown.measurement is None:
        return
    strategy = shown.notes.get("strategy", shown.strategy.split(" #")[0].split("(")[0])
    result, _ = problem.evaluate(strategy, shown.params, ctx=ctx, train_scale=float(shown.notes.get("train_scale", 1.0)))
    idx = advice.evaluations.index(shown) if shown in advice.evaluations else -1
    rebuilt = Evaluation(shown.strategy, shown.params, shown.measurement, notes={**shown.notes, "rebuilt_here": True},
                         model_path=result.model.onnx_path)
    if idx >= 0:
        advice.evaluations[idx] = rebuilt
    if advice.chosen is shown:
        advice.chosen = rebuilt
    elif advice.nearest and advice.nearest[0] is shown:
        advice.nearest[0] = rebuilt
