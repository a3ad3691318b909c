"""The ranker: rules (with sources) plus a regression learned from every measured trial.

``rank(problem, budget, ...)`` orders every strategy for this model, device and budget before any
trial runs, with predicted accuracy change, size, latency and compression time (80% intervals),
the chance to meet the budget, exclusions and the rules that fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advisor.budget import Budget
from advisor.models import describe
from advisor.problem import Problem
from advisor.profiling import DeviceFacts, DeviceProfile
from advisor.ranking._rank import Interval, RankedStrategy, Ranker, Ranking, rank_strategies
from advisor.ranking.estimator import OutcomeRegressor
from advisor.ranking.features import device_features, model_features, strategy_features
from advisor.ranking.kb import KnowledgeBase, default_kb_path, make_record
from advisor.ranking.rules import RULES, fire_rules
from advisor.ranking.static import dry_run, predicted_ratio
from advisor.strategies import applicable_strategies
from advisor.types import Measurement

__all__ = [
    "rank",
    "Ranker",
    "Ranking",
    "RankedStrategy",
    "Interval",
    "OutcomeRegressor",
    "KnowledgeBase",
    "default_kb_path",
    "make_record",
    "record_trial",
    "RULES",
    "fire_rules",
    "model_features",
    "device_features",
    "strategy_features",
]


def _data_info(problem: Problem) -> dict[str, Any]:
    """What the data and the model's source allow: samples (all splits), labels, training."""
    d = problem.data
    # under the post-training policy the training split *is* the calibration split: count it once
    splits = [d.calib, d.val, d.test] + ([] if d.policy == "post-training" else [d.train])
    samples = sum(len(x) for x in splits)
    return {"train": len(d.train), "classes": d.num_classes, "labelled": d.labelled, "samples": samples,
            "trainable": problem.model.has_torch}


def rank(
    problem: Problem,
    budget: Budget,
    *,
    profile: DeviceProfile | None = None,
    facts: DeviceFacts | None = None,
    kb: KnowledgeBase | None = None,
    strategies: Sequence[str] | None = None,
    baseline_p90_ms: float | None = None,
    baseline_latency_source: str = "measured here",
    ranker: Ranker | None = None,
) -> Ranking:
    """Rank strategies for ``problem`` under ``budget``.

    Args:
        profile: the device profile: its measured facts feed the rules, and its latency predictor the
            static estimates (each strategy is dry-run once, without training: about a second each).
        facts: the device facts when there is no profile object (default: ``DeviceFacts.of(profile)``).
        kb: the knowledge base (default: seed records + the local database); unused with ``ranker``.
        ranker: a :class:`Ranker` already fitted on the knowledge base's records (``Ranker().fit(kb.records())``).
            Default: one fitted here on ``kb``'s records and not kept (about a second); a caller that ranks
            repeatedly on an unchanged knowledge base fits once and passes it.
        baseline_p90_ms: the original's p90 on the target device; default: measured here. For a
            device not at hand pass the profiler's prediction and say so in ``baseline_latency_source``.
    """
    if ranker is not None and not hasattr(ranker, "records_"):
        raise ValueError("ranker: expected a fitted Ranker (call fit(records) first), got an unfitted one")
    ok, excluded = applicable_strategies(problem.model, problem.data, strategies or None)
    if facts is None:
        facts = DeviceFacts.of(profile)
    static, failed = {}, {}
    for name in ok:
        static[name], why = dry_run(problem, name, profile)
        if why is not None:
            failed[name] = why
    return rank_strategies(
        ranker=ranker if ranker is not None else Ranker().fit((kb or KnowledgeBase()).records()),
        strategies=ok,
        excluded=excluded,
        model=model_features(problem.graph, **_data_info(problem)),
        baseline=problem.baseline,
        baseline_p90_ms=baseline_p90_ms if baseline_p90_ms is not None else problem.baseline.latency.p90_ms,
        baseline_latency_source=baseline_latency_source,
        budget=budget,
        facts=facts,
        threads=problem.settings.threads,
        static=static,
        failed=failed,
    )


def record_trial(problem: Problem, *, strategy: str, params: dict[str, Any], train_scale: float,
                 measurement: Measurement, facts: DeviceFacts | None, family: str | None = None,
                 all_threads: bool = False, model_path: Path | str | None = None,
                 profile: DeviceProfile | None = None) -> dict[str, Any]:
    """A knowledge-base record for one measured trial of ``problem``.

    With ``all_threads`` the record describes the trial's second timing (all cores) instead of the
    reported one; ``model_path`` (the compressed ONNX) adds its static MACs and parameters.
    """
    base, m = problem.baseline, measurement
    lat, base_lat, ratio = m.latency, base.latency, m.extra.get("latency_ratio")
    if all_threads:
        if m.latency_all_threads is None or base.latency_all_threads is None:
            raise ValueError("all_threads record needs timings at all threads for both models")
        lat, base_lat, ratio = m.latency_all_threads, base.latency_all_threads, m.extra.get("latency_ratio_all_threads")
    measured = {"quality": m.quality, "size_bytes": m.size_bytes, "size_compressed_bytes": m.size_compressed_bytes,
                "latency_ms_p50": lat.p50_ms, "latency_ms_p90": lat.p90_ms, "compress_seconds": m.compress_seconds,
                "latency_ratio": ratio}
    if model_path is not None:
        g = describe(model_path)
        measured.update({"macs": g.macs, "params": g.params})
        if profile is not None:
            measured["pred_latency_ratio"] = predicted_ratio(model_path, problem.model.onnx_path, profile, lat.threads)
    info = _data_info(problem)
    record = make_record(
        model=problem.model.source,
        family=family,
        data=problem.data.source,
        strategy=strategy,
        params=params,
        train_scale=train_scale,
        threads=lat.threads,
        model_features=model_features(problem.graph, **info),
        device_features=device_features(facts, lat.threads),
        baseline={"quality": base.quality, "size_bytes": base.size_bytes, "latency_ms_p50": base_lat.p50_ms,
                  "latency_ms_p90": base_lat.p90_ms, "macs": problem.graph.macs, "params": problem.graph.params},
        measured=measured,
        machine=str((facts or DeviceFacts()).cpu or ""),
    )
    record["notes"] = {"samples": info["samples"], "labelled": info["labelled"],
                       "source": "pytorch" if info["trainable"] else "onnx", "init": "as given (the user's weights)"}
    return record
