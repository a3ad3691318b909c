"""Knowledge-base records as a design matrix for the :class:`~advisor.ranking.ranker.Ranker`:
one feature mapping per record (``X``), its outcomes (``y``) and its model family (``groups``).

A row joins four parts: the original model (:func:`~advisor.ranking.features.model_features`),
the device (:func:`~advisor.ranking.features.device_features`), the strategy by its declared
capabilities (:func:`~advisor.ranking.features.strategy_features`), and the strategy's *static*
figures: its dry run's size and multiply-adds, and the latency ratio predicted without timing the
candidate -- from the original's measured per-node time shares (``x_log_pred_shares``, on the
device at hand) and from the device profile alone (``x_log_pred_profile``, for a device not at
hand). The outcomes: accuracy change in points, log size ratio, log same-run p50 ratio, log
compression seconds (:data:`~advisor.ranking.kb.OUTCOMES`). An accuracy change measured on a
randomly initialised model says nothing about trained weights: it is ``NaN`` (unknown) in ``y``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from advisor.errors import InputError
from advisor.ranking.features import strategy_features
from advisor.ranking.kb import OUTCOMES
from advisor.ranking.rules import REAL_SCALE_INPUT, REAL_SCALE_MACS

__all__ = ["STATIC_KEYS", "static_features", "record_static", "record_features", "training_set",
           "quality_representative", "scale_of", "candidate_features", "SCALES"]

STATIC_KEYS = ("x_log_size", "x_log_macs", "x_log_cand_macs", "x_known", "x_log_pred_shares", "x_has_shares",
               "x_log_pred_profile", "x_has_profile")
#: Scales the calibration is kept apart for: real-scale models (>= 100 M multiply-adds or an input
#: of >= 50,000 elements) and small ones.
SCALES = ("small", "real")


def static_features(facts: Mapping[str, Any] | None) -> dict[str, float]:
    """Features (logs) from a dry run's static facts (:func:`advisor.ranking.static.dry_run`) or a
    record's measured structural figures (:func:`record_static`)."""
    if not facts:
        return dict.fromkeys(STATIC_KEYS, 0.0)
    shares, prof = facts.get("pred_latency_ratio_shares"), facts.get("pred_latency_ratio")
    return {
        "x_log_size": math.log(max(1e-9, facts["size_ratio"])),
        "x_log_macs": math.log(max(1e-9, facts["macs_ratio"])),
        "x_log_cand_macs": math.log10(max(1.0, facts["cand_macs"])),
        "x_known": 1.0,
        "x_log_pred_shares": math.log(max(1e-9, shares)) if shares else 0.0,
        "x_has_shares": float(bool(shares) and shares > 0),
        "x_log_pred_profile": math.log(max(1e-9, prof)) if prof else 0.0,
        "x_has_profile": float(bool(prof) and prof > 0),
    }


def record_static(r: Mapping[str, Any]) -> dict[str, float] | None:
    """A record's static figures: its measured size and MACs (what a dry run gives: training
    changes weights, not structure) and the latency ratios predicted for it when it was measured."""
    m, b = r.get("measured", {}), r.get("baseline", {})
    if "macs" not in m or "macs" not in b or not b.get("size_bytes"):
        return None
    return {"size_ratio": m["size_bytes"] / b["size_bytes"], "macs_ratio": max(1, m["macs"]) / max(1, b["macs"]),
            "cand_macs": float(m["macs"]), "pred_latency_ratio": m.get("pred_latency_ratio"),
            "pred_latency_ratio_shares": m.get("pred_latency_ratio_shares")}


def quality_representative(record: Mapping[str, Any]) -> bool:
    """Whether a record's accuracy/fidelity outcome says something about trained models: not
    when the model was randomly initialised (kept for its size and latency)."""
    return not str((record.get("notes") or {}).get("init", "")).startswith("random")


def candidate_features(model: Mapping[str, float], device: Mapping[str, float], strategy: str,
                       static: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None,
                       train_scale: float = 1.0) -> dict[str, float]:
    """One row of ``X``: what the ranker sees of a candidate before any trial (a device feature a
    record predates, such as ``d_int8_dot``, reads as unknown: 0.5)."""
    return {**model, "d_int8_dot": 0.5, **device, **strategy_features(strategy, dict(params or {}), train_scale),
            **static_features(static)}


def record_features(r: Mapping[str, Any]) -> dict[str, float]:
    """The row of ``X`` a knowledge-base record gives (raises ``KeyError``/``InputError`` for a
    record this version cannot read)."""
    return candidate_features(r["model_features"], r["device_features"], r["strategy"], record_static(r),
                              r.get("params"), r.get("train_scale", 1.0))


def training_set(records: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, float]], np.ndarray, list[str]]:
    """``(X, y, groups)`` from knowledge-base records: feature rows, outcomes (``len(X)`` x 4, in
    ``OUTCOMES`` order; accuracy ``NaN`` where it is not representative) and each record's model
    family (its model when it has none), for leave-family-out calibration. Records this version
    cannot read (another version's technique, a missing field) are skipped."""
    X, y, groups = [], [], []
    for r in records:
        try:
            row = record_features(r)
            out = [float(r["outcomes"][k]) for k in OUTCOMES]
        except (InputError, KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
            continue
        if not all(math.isfinite(v) for v in out):
            continue
        if not quality_representative(r):
            out[0] = float("nan")
        X.append(row)
        y.append(out)
        groups.append(str(r.get("family") or r.get("model") or "?"))
    return X, np.asarray(y, dtype=float).reshape(len(y), len(OUTCOMES)), groups


def scale_of(row: Mapping[str, float]) -> str:
    """``real`` for a model of deployable size (>= 100 M multiply-adds or an input of >= 50,000
    elements), else ``small``: calibration is kept apart for the two."""
    macs, inputs = 10 ** row.get("m_log_macs", 0.0), 10 ** row.get("m_log_input", 0.0)
    return "real" if macs >= REAL_SCALE_MACS or inputs >= REAL_SCALE_INPUT else "small"
