"""Fixed data for deterministic snapshots: one real advice run on the built-in model, recorded in
tests/tui/data (paths replaced), rebuilt into the objects the screens show."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from advisor.budget import Budget
from advisor.problem import Evaluation
from advisor.ranking import Interval, RankedStrategy, Ranking
from advisor.types import LatencyStats, Measurement, Reason

DATA = Path(__file__).parent / "data"
OUT = Path("/runs/tui")


def advice_doc() -> dict[str, Any]:
    return json.loads((DATA / "advice.json").read_text(encoding="utf-8"))


def baseline(doc: dict[str, Any]) -> Measurement:
    return Measurement.from_dict(doc["baseline"])


def ranking(doc: dict[str, Any]) -> Ranking:
    r = doc["ranking"]
    items = [
        RankedStrategy(
            s["strategy"],
            predicted={k: Interval(**v) for k, v in s["predicted"].items()},
            p_each=s["p_each"],
            p_meets=s["p_meets_budget"],
            excluded=s["excluded"],
            reasons=[Reason(**x) for x in s["reasons"]],
            rank=s["rank"],
            speedup=Interval(**s["speedup"]) if s.get("speedup") else None,
            learned_from=s.get("learned_from") or {},
        )
        for s in r["strategies"]
    ]
    return Ranking(
        items,
        [Reason(**x) for x in r["reasons"]],
        r["infeasible"],
        r["binding_constraint"],
        r["knowledge_base_records"],
        r["baseline_latency_source"],
    )


def evaluations(doc: dict[str, Any]) -> list[Evaluation]:
    metric = doc["data"]["metric"]
    out = []
    for k, c in enumerate(doc["candidates"]):
        m = Measurement(
            metric,
            c[metric],
            c["size_bytes"],
            c["size_compressed_bytes"],
            LatencyStats(c["latency_ms_p50"], c["latency_ms_p90"], 100, 1, False),
            0,
            c["compress_seconds"],
        )
        shown = c["strategy"].split(" #")[0]  # advice.json holds the display label only
        out.append(Evaluation(shown.split("(")[0], c["params"], m, trial=k, variant=shown))
    return out


def stub_problem(doc: dict[str, Any]) -> SimpleNamespace:
    """What the ranking and search screens read from a problem, without loading one."""
    return SimpleNamespace(
        baseline=baseline(doc),
        data=SimpleNamespace(metric=doc["data"]["metric"]),
        close=lambda: None,
    )


def budget(doc: dict[str, Any]) -> Budget:
    return Budget.from_dict({k: v for k, v in doc["budget"].items() if k != "resolved"})


def model_summary(doc: dict[str, Any]) -> dict[str, Any]:
    b = baseline(doc)
    g = doc["model"]["graph"]
    return {
        "model": doc["model"]["source"],
        "inputs": ["input Nx1x32x32 float32"],
        "outputs": ["logits Nx10 float32"],
        "pytorch": True,
        "params": g["params"],
        "macs": g["macs"],
        "flops": g["flops"],
        "ops": ", ".join(
            f"{k} {v}" for k, v in sorted(g["op_counts"].items(), key=lambda kv: -kv[1])[:6]
        ),
        "data": "builtin:digits: 1237 train / 200 calibration / 360 test samples, labelled, 10 classes",
        "metric": "accuracy",
        "classes": 10,
        "baseline": {
            "quality": b.quality,
            "size_bytes": b.size_bytes,
            "p50_ms": b.latency.p50_ms,
            "p90_ms": b.latency.p90_ms,
            "threads": b.latency.threads,
        },
        "excluded": {"QAT": "example: needs the PyTorch module (an ONNX-only model has none)"},
    }
