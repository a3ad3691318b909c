"""What a strategy does to the model's structure, known without training or timing anything.

A *dry run* applies the strategy with no training (``train_scale=0``) and a token calibration,
then reads the output graph: its file size, multiply-adds and parameters, and -- given a device
profile -- the latency ratio to the original predicted for it:

- on the device at hand (the problem's latency is measured here), from the original's own
  per-node time shares (measured once per problem, :func:`original_node_times`) x the profile's
  per-operator ratios (:func:`advisor.profiling.speedup.predict_speedup`): ``pred_latency_ratio_shares``;
- from the profile alone (the ratio of two absolute predictions): ``pred_latency_ratio``, what a
  device not at hand gets.

Training changes weights, not structure, so these are the trained model's figures too (size
exactly; latency as predicted). The ranker's regression then only has to learn the *corrections*
to these physics-style estimates, which is what lets it generalise to model families it has not seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advisor.compress import compress
from advisor.errors import AdvisorError
from advisor.measure.latency import sample_feed
from advisor.models import describe
from advisor.problem import Problem
from advisor.profiling import DeviceProfile, predict_latency
from advisor.profiling.speedup import NodeTimes, measure_node_times, predict_speedup
from advisor.progress import RunContext
from advisor.strategies import Strategy

__all__ = ["static_facts", "dry_run", "predicted_ratio", "shares_ratio", "original_node_times", "feed_shapes",
           "NODE_TIMES"]

_TOKEN_CALIBRATION = 4
#: The key under which a problem keeps its original's per-node times (``problem.dry_runs``).
NODE_TIMES = "NQ:node-times"


def _dry_params(strategy: Strategy, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params`` with a token calibration for every step that calibrates."""
    out = {k: v for k, v in (params or {}).items() if k.rpartition(".")[2] != "calibration_size"}
    for step, cfg in zip(strategy.steps, strategy.configs(out), strict=True):
        if "calibration_size" in cfg.to_dict():
            out[f"{step}.calibration_size"] = _TOKEN_CALIBRATION
    return out


def static_facts(problem: Problem, strategy: str, profile: DeviceProfile | None = None) -> dict[str, float] | None:
    """Size, MACs (and predicted latency) ratios of ``strategy``'s output to the original, from a
    dry run on ``problem``; ``None`` if the dry run failed (:func:`dry_run` says why)."""
    return dry_run(problem, strategy, profile)[0]


def _key(strategy: Strategy, params: dict[str, Any] | None) -> str:
    return strategy.name + (json.dumps(params, sort_keys=True, default=str) if params else "")


def original_node_times(problem: Problem) -> NodeTimes | None:
    """The original's per-node times on this device at the problem's timing threads, measured once
    per problem (a few seconds at most; kept in ``problem.dry_runs``); ``None`` when latency is not
    measured here (a profile of another device) or the profiler fails."""
    if problem.target is not None:
        return None
    threads = problem.settings.threads
    key = (NODE_TIMES, f"threads={threads}")
    if key not in problem.dry_runs:
        try:
            feed = sample_feed(problem.model.inputs, problem.data.test.inputs, batch=1)
            times = measure_node_times(problem.model.onnx_path, feed, threads, spinning=problem.settings.spinning)
            problem.dry_runs[key] = (times.to_dict(), None)
        except (AdvisorError, RuntimeError, ValueError, OSError) as e:
            problem.dry_runs[key] = (None, f"{type(e).__name__}: {e}")
    value, _ = problem.dry_runs[key]
    return NodeTimes.from_dict(value) if value else None


def dry_run(problem: Problem, strategy: str, profile: DeviceProfile | None = None,
            params: dict[str, Any] | None = None) -> tuple[dict[str, float] | None, str | None]:
    """``(facts, None)`` from a dry run of ``strategy`` (with ``params``, default its defaults) on
    ``problem``, or ``(None, why)`` when it failed. Each dry run happens once per problem: the result
    is kept in ``problem.dry_runs``."""
    cache = problem.dry_runs
    s = Strategy.parse(strategy)
    key = (_key(s, params), getattr(profile, "name", None))
    if key in cache:
        return cache[key]
    out: tuple[dict[str, float] | None, str | None]
    try:
        result = compress(problem.model, problem.data, s, _dry_params(s, params),
                          workdir=problem.new_dir(f"dry-{s.name}"), ctx=RunContext(torch_threads=1),
                          train_scale=0.0, teacher_cache=problem.teacher_cache)
        g = describe(result.model.onnx_path)
        base = problem.graph
        facts = {
            "size_ratio": result.model.onnx_path.stat().st_size / problem.baseline.size_bytes,
            "macs_ratio": max(1, g.macs) / max(1, base.macs),
            "cand_macs": float(g.macs),
        }
        if profile is not None:
            facts["pred_latency_ratio"] = predicted_ratio(result.model.onnx_path, problem.model.onnx_path, profile,
                                                          problem.settings.threads, feed_shapes(problem))
            shares = shares_ratio(problem, result.model.onnx_path, profile)
            if shares is not None:
                facts["pred_latency_ratio_shares"] = shares
        out = (facts, None)
    except AdvisorError as e:
        out = (None, str(e).splitlines()[0] if str(e) else type(e).__name__)
    except (RuntimeError, ValueError, OSError) as e:  # a third-party failure inside a technique
        out = (None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": "))
    cache[key] = out
    return out


def predicted_ratio(candidate, original, profile, threads: int,
                    input_shapes: dict[str, tuple[int, ...]] | None = None) -> float:
    """Profiler-predicted p50 of ``candidate`` over the original's, on ``profile``'s device, both
    with their inputs at ``input_shapes`` (dynamic dimensions as fed)."""
    a = predict_latency(candidate, profile, threads=threads, input_shapes=input_shapes).p50_ms
    b = predict_latency(original, profile, threads=threads, input_shapes=input_shapes).p50_ms
    return a / b if b > 0 else 1.0


def feed_shapes(problem: Problem) -> dict[str, tuple[int, ...]]:
    """The shape each input of ``problem``'s model is timed at (batch 1)."""
    feed = sample_feed(problem.model.inputs, problem.data.test.inputs, batch=1)
    return {k: tuple(int(x) for x in v.shape) for k, v in feed.items()}


def shares_ratio(problem: Problem, candidate: Path | str, profile: DeviceProfile) -> float | None:
    """Same-run p50 of ``candidate`` over the original's predicted from the original's measured
    per-node times and ``profile``'s per-operator ratios; ``None`` off this device."""
    times = original_node_times(problem)
    if times is None:
        return None
    try:
        return predict_speedup(candidate, times, profile, problem.model.onnx_path).ratio
    except (AdvisorError, RuntimeError, ValueError, OSError):
        return None
