"""The jobs users run, as library calls: the CLI and the TUI both call these and nothing else.

``compress_one``: one strategy, measured. ``advise``: measured candidates -> pick -> advice folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.advice import Advice, build_advice, device_summary
from advisor.budget import Budget
from advisor.errors import Cancelled, TechniqueError
from advisor.fileio import atomic_copy, prepare_out_dir
from advisor.problem import Evaluation, Problem
from advisor.progress import RunContext
from advisor.report import write_advice
from advisor.strategies import Strategy
from advisor.types import Reason

__all__ = ["compress_one", "advise", "evaluate_candidates", "Candidate", "DEFAULT_CANDIDATES"]


@dataclass(frozen=True)
class Candidate:
    """A strategy with fixed parameters, to be measured."""

    strategy: str
    params: dict[str, Any]

    @property
    def label(self) -> str:
        if not self.params:
            return self.strategy
        return f"{self.strategy}(" + ",".join(f"{k.split('.')[-1]}={v}" for k, v in self.params.items()) + ")"


DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("BLQ", {}),
    Candidate("BLQ", {"BLQ.mode": "weight_only"}),
    Candidate("FIQ", {}),
    Candidate("F16", {}),
)


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


def evaluate_candidates(problem: Problem, candidates: Sequence[Candidate], ctx: RunContext) -> list[Evaluation]:
    """Measure each candidate in turn; a candidate that cannot apply or fails is recorded, not fatal."""
    evals: list[Evaluation] = []
    for k, c in enumerate(candidates):
        ctx.check()
        ctx.report("advise", k / max(1, len(candidates)), f"trial {k + 1}/{len(candidates)}: {c.label}")
        try:
            result, m = problem.evaluate(c.strategy, c.params, ctx=ctx)
            evals.append(Evaluation(c.label, result.params, m, notes=result.notes, model_path=result.model.onnx_path))
        except Cancelled:
            raise
        except TechniqueError as e:
            evals.append(Evaluation(c.label, dict(c.params), None, error=str(e)))
    return evals


def advise(
    problem: Problem,
    budget: Budget,
    out: Path,
    *,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    profile: Any | None = None,
    ctx: RunContext | None = None,
    extra_reasons: list[Reason] | None = None,
) -> Advice:
    """Measure candidates, choose under ``budget``, write the advice folder, return the advice."""
    ctx = ctx or RunContext()
    prepare_out_dir(out, [problem.model.source])
    evals = evaluate_candidates(problem, candidates, ctx)
    advice = build_advice(problem, budget, evals, device=device_summary(problem, profile),
                          trials={"count": len(evals), "storage": None, "study": None},
                          extra_reasons=extra_reasons)
    write_advice(advice, out)
    return advice
