"""Fixed data for deterministic snapshots: one real advice run on the built-in model, recorded in
tests/tui/data (paths replaced), rebuilt into the objects the screens show."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from advisor.advice import Advice
from advisor.budget import Budget
from advisor.choice import Choice, Confirmation
from advisor.decide import BASELINE_LATENCY_KEY, meets
from advisor.explain import build_advice
from advisor.problem import Evaluation
from advisor.ranking import Interval, RankedStrategy, Ranking
from advisor.types import DropFigure, LatencyStats, Measurement, QualityFigure, Reason

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
    """The recorded candidates as evaluations: their figures (latency without blocks: compared exactly)."""
    metric = doc["data"]["metric"]
    base = baseline(doc)
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
            extra={BASELINE_LATENCY_KEY: LatencyStats(c["latency_ms_p50"] * c["speedup_p50"],
                                                      base.latency.p90_ms, 100, 1, False).to_dict()},
            drop=DropFigure.from_dict(c["drop"]),
            reported=QualityFigure.from_dict(c["reported"]) if c.get("reported") else None,
        )
        shown = c["strategy"].split(" #")[0]  # advice.json holds the display label only
        out.append(Evaluation(shown.split("(")[0], c["params"], m, trial=k, variant=shown))
    return out


def stub_problem(doc: dict[str, Any]) -> SimpleNamespace:
    """What the screens (and the advice they show) read from a problem, without loading one."""
    d = doc["data"]
    return SimpleNamespace(
        baseline=baseline(doc),
        model=SimpleNamespace(source=doc["model"]["source"]),
        data=SimpleNamespace(metric=d["metric"], grouped=d.get("grouped", False), val=range(d["validation"]),
                             test=range(d["test"]), summary=lambda: d["summary"]),
        reference=SimpleNamespace(scoring=(SimpleNamespace(metric=d["metric"]),)),
        target=None,
        close=lambda: None,
    )


def advice(doc: dict[str, Any]) -> Advice:
    """The recorded advice as the typed value the advice screen shows (pick, confirmation, reasons
    rebuilt from the recorded figures)."""
    problem = stub_problem(doc)
    evals = evaluations(doc)
    by_label = {e.label: e for e in evals}
    cands = (Evaluation("NQ", {}, problem.baseline), *evals)
    pick = by_label.get(doc["strategy"]) if doc["fits_budget"] else None
    c = doc.get("confirmation")
    confirmation = None if c is None else Confirmation(c["candidate"], DropFigure.from_dict(c["drop"]),
                                                       QualityFigure.from_dict(c["figure"]), c["limit_pts"])
    b = budget(doc)
    choice = Choice(cands, pick, tuple(by_label[t] for t in doc["ties"]),
                    tuple(e for e in cands if e.measurement is not None and meets(b, problem.baseline, e.measurement)),
                    (), None, confirmation)
    return build_advice(problem, b, evals, device=doc["device"], trials=doc["trials"], ranking=ranking(doc),
                        choice=choice, reproducibility=doc["reproducibility"])


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
        "data": doc["data"]["summary"],
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
