"""What a strategy does to the model's structure, known without training or timing anything.

A *dry run* applies the strategy with no training (``train_scale=0``) and a token calibration,
then reads the output graph: its file size, multiply-adds and parameters, and -- given a device
profile -- the profiler's roofline latency prediction for it. Training changes weights, not
structure, so these are the trained model's figures too (size exactly; latency as predicted).
The ranker's regression then only has to learn the *corrections* to these physics-style
estimates, which is what lets it generalise to model families it has not seen.
"""

from __future__ import annotations

import math
from typing import Any

from advisor.compress import compress
from advisor.errors import AdvisorError
from advisor.models import describe
from advisor.problem import Problem
from advisor.profiling import DeviceProfile, predict_latency
from advisor.progress import RunContext
from advisor.strategies import Strategy

__all__ = ["static_facts", "dry_run", "static_features", "STATIC_KEYS"]

STATIC_KEYS = ("x_log_size", "x_log_macs", "x_log_cand_macs", "x_log_pred_lat", "x_has_pred", "x_known")
_TOKEN_CALIBRATION = 4


def _dry_params(strategy: Strategy) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for step, cfg in zip(strategy.steps, strategy.configs({}), strict=True):
        if "calibration_size" in cfg.to_dict():
            params[f"{step}.calibration_size"] = _TOKEN_CALIBRATION
    return params


def static_facts(problem: Problem, strategy: str, profile: DeviceProfile | None = None) -> dict[str, float] | None:
    """Size, MACs (and predicted latency) ratios of ``strategy``'s output to the original, from a
    dry run on ``problem``; ``None`` if the dry run failed (:func:`dry_run` says why)."""
    return dry_run(problem, strategy, profile)[0]


def dry_run(problem: Problem, strategy: str, profile: DeviceProfile | None = None
            ) -> tuple[dict[str, float] | None, str | None]:
    """``(facts, None)`` from a dry run of ``strategy`` on ``problem``, or ``(None, why)`` when it
    failed. Each dry run happens once per problem: the result is kept in ``problem.dry_runs``."""
    cache = problem.dry_runs
    key = (strategy, getattr(profile, "name", None))
    if key in cache:
        return cache[key]
    s = Strategy.parse(strategy)
    out: tuple[dict[str, float] | None, str | None]
    try:
        result = compress(problem.model, problem.data, s, _dry_params(s), workdir=problem.new_dir(f"dry-{s.name}"),
                          ctx=RunContext(torch_threads=1), train_scale=0.0, teacher_cache=problem.teacher_cache)
        g = describe(result.model.onnx_path)
        base = problem.graph
        facts = {
            "size_ratio": result.model.onnx_path.stat().st_size / problem.baseline.size_bytes,
            "macs_ratio": max(1, g.macs) / max(1, base.macs),
            "cand_macs": float(g.macs),
        }
        if profile is not None:
            facts["pred_latency_ratio"] = predicted_ratio(result.model.onnx_path, problem.model.onnx_path, profile,
                                                          problem.settings.threads)
        out = (facts, None)
    except AdvisorError as e:
        out = (None, str(e).splitlines()[0] if str(e) else type(e).__name__)
    except (RuntimeError, ValueError, OSError) as e:  # a third-party failure inside a technique
        out = (None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": "))
    cache[key] = out
    return out


def predicted_ratio(candidate, original, profile, threads: int) -> float:
    """Profiler-predicted p50 of ``candidate`` over the original's, on ``profile``'s device."""
    a = predict_latency(candidate, profile, threads=threads).p50_ms
    b = predict_latency(original, profile, threads=threads).p50_ms
    return a / b if b > 0 else 1.0


def static_features(facts: dict[str, float] | None) -> dict[str, float]:
    """Features (logs) from :func:`static_facts` or from a record's measured static figures."""
    if not facts:
        return dict.fromkeys(STATIC_KEYS, 0.0)
    pred = facts.get("pred_latency_ratio")
    return {
        "x_log_size": math.log(max(1e-9, facts["size_ratio"])),
        "x_log_macs": math.log(max(1e-9, facts["macs_ratio"])),
        "x_log_cand_macs": math.log10(max(1.0, facts["cand_macs"])),
        "x_log_pred_lat": math.log(max(1e-9, pred)) if pred else 0.0,
        "x_has_pred": float(pred is not None and pred > 0),
        "x_known": 1.0,
    }
