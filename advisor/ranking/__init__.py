"""The ranker: rules (with sources) plus a regression learned from every measured trial.

``rank(problem, budget, ...)`` orders every strategy for this model, device and budget before any
trial runs, with predicted speed-up, accuracy change, size, latency and compression time (intervals
of nominal coverage, calibrated on held-out model families), the chance to meet the budget,
exclusions, the rules that fired and what each prediction was learned from. ``defer`` and
``contradiction`` (:mod:`advisor.ranking.defer`) turn a ranking and what was measured since into
search deferrals and flags for the advice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advisor.budget import Budget
from advisor.models import describe
from advisor.problem import Problem
from advisor.profiling import DeviceFacts, DeviceProfile, probe_host
from advisor.ranking._rank import BASIS_WORDS, Interval, RankedStrategy, Ranking, rank_strategies
from advisor.ranking.dataset import candidate_features, training_set
from advisor.ranking.defer import Deferral, contradiction, defer, why_deferred
from advisor.ranking.estimator import OutcomeRegressor
from advisor.ranking.features import device_features, model_features, strategy_features
from advisor.ranking.kb import KnowledgeBase, default_kb_path, make_record
from advisor.ranking.ranker import LATENCY_BASES, Predictions, Ranker
from advisor.ranking.rules import RULES, fire_rules
from advisor.ranking.static import dry_run, feed_shapes, predicted_ratio, shares_ratio
from advisor.strategies import applicable_strategies
from advisor.types import Measurement

__all__ = [
    "rank",
    "fit_ranker",
    "training_set",
    "defer",
    "why_deferred",
    "contradiction",
    "Deferral",
    "device_record_count",
    "variant_speedup",
    "LATENCY_BASES",
    "Predictions",
    "BASIS_WORDS",
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


def fit_ranker(records: Sequence[dict[str, Any]], **params: Any) -> Ranker:
    """A :class:`Ranker` (with ``params``) fitted on knowledge-base ``records``."""
    return Ranker(**params).fit(*training_set(records))


def device_record_count(records: Sequence[dict[str, Any]], cpu: str | None) -> int:
    """Records measured on a device with this CPU (what ``is_this_device`` compares)."""
    return sum(1 for r in records if cpu and r.get("machine") == cpu)


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
        profile: the device profile: its measured facts feed the rules, and its cost model the
            static latency estimates (each strategy is dry-run once, without training). When the
            problem's latency is measured here, the original's per-node times are measured once
            (a few seconds at most) and each candidate's speed-up is predicted from them.
        facts: the device facts when there is no profile object (default: ``DeviceFacts.of(profile)``).
        kb: the knowledge base (default: seed records + the local database). With ``ranker``, only
            used to count this device's records.
        ranker: a :class:`Ranker` already fitted on the knowledge base's records (:func:`fit_ranker`).
            Default: one fitted here on ``kb``'s records and not kept (a few seconds); a caller that
            ranks repeatedly on an unchanged knowledge base fits once and passes it.
        baseline_p90_ms: the original's p90 on the target device; default: measured here. For a
            device not at hand pass the profiler's prediction and say so in ``baseline_latency_source``.
    """
    if ranker is not None and not getattr(ranker, "fitted", False):
        raise ValueError("ranker: expected a fitted Ranker (call fit(X, y, groups) or fit_ranker(records) first), "
                         "got an unfitted one")
    ok, excluded = applicable_strategies(problem.model, problem.data, strategies or None)
    if facts is None:
        facts = DeviceFacts.of(profile)
    static, failed = {}, {}
    for name in ok:
        static[name], why = dry_run(problem, name, profile)
        if why is not None:
            failed[name] = why
    records = None
    if ranker is None or kb is not None:
        records = (kb or KnowledgeBase()).records()
    if ranker is None:
        has_shares = any(f and f.get("pred_latency_ratio_shares") for f in static.values())
        has_profile = any(f and f.get("pred_latency_ratio") for f in static.values())
        bases = ("shares", "profile") if has_shares else ("profile",) if has_profile else ("none",)
        ranker = fit_ranker(records or [], latency_bases=bases)
    cpu = facts.cpu if facts is not None and facts.cpu else probe_host()["cpu"]
    return rank_strategies(
        ranker=ranker,
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
        device_records=None if records is None else device_record_count(records, cpu),
    )


def variant_speedup(problem: Problem, strategy: str, params: dict[str, Any] | None, *, ranker: Ranker,
                    profile: DeviceProfile | None = None, facts: DeviceFacts | None = None) -> Interval | None:
    """The predicted same-run speed-up of ``strategy`` with ``params`` on ``problem`` (a dry run of
    that variant, kept in ``problem.dry_runs``; then the fitted ``ranker``), with its interval;
    ``None`` when the variant's dry run fails. What :class:`Deferral` asks about a variant."""
    static, why = dry_run(problem, strategy, profile, params)
    if why is not None:
        return None
    facts = facts if facts is not None else DeviceFacts.of(profile)
    row = candidate_features(model_features(problem.graph, **_data_info(problem)),
                             device_features(facts, problem.settings.threads), strategy, static, params)
    p = ranker.predict_interval([row])
    return Interval(math.exp(-p.mean[0, 2]), math.exp(-p.hi[0, 2]), math.exp(-p.lo[0, 2]), p.coverage)


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
            measured["pred_latency_ratio"] = predicted_ratio(model_path, problem.model.onnx_path, profile, lat.threads,
                                                             feed_shapes(problem))
            if not all_threads:  # the original's node times are at the problem's timing threads
                shares = shares_ratio(problem, model_path, profile)
                if shares is not None:
                    measured["pred_latency_ratio_shares"] = shares
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
