"""How well the ranker predicts the measured best strategy, and how honest its intervals are,
leave-one-model-family-out.

    .venv/bin/python benchmarks/rank_accuracy.py [--seed PATH]

For every family in the seed knowledge base: fit the ranker on the *other* families' records,
then for each model of the held-out family and each budget, compare the ranker's order with the
strategy that was actually best under that budget (from the measured records). The ranker sees
what it sees in use: the held-out model's features, the device facts, and each strategy's static
figures (size, MACs, the profiler's latency prediction -- in use they come from a dry run without
training; here from the records, which hold the same structural figures) -- never the measured
accuracy, latency or compression time. Also scores a
FLOPs/size heuristic on the same cases: it predicts latency proportional to the compressed
model's multiply-adds, size as the compressed file's, and no accuracy loss nor compression time
(what a tool that picks by static cost would assume).

The real-scale families (EfficientNet-Lite, ResNet- and MobileNet-style CNNs at 224x224, a
BERT-style encoder) hold post-training records only (FIQ, F16, BLQ; the original is always a
candidate). Randomly initialised models' accuracy/fidelity figures say nothing about trained
weights, so for them only the budgets without an accuracy limit are scored.

Targets (issues 5, 13, 21): top-1 within measurement noise of the measured best >= 80% and
measured best in top-3 >= 95% of held-out (model, budget) cases; beat the heuristic; the stated
90% intervals cover 85-95% of the held-out families' measurements (every record, 1 and 2 threads,
per outcome and scale). Writes benchmarks/results/rank_accuracy.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.advice import choose  # noqa: E402
from advisor.budget import Budget  # noqa: E402
from advisor.problem import Evaluation  # noqa: E402
from advisor.profiling import DeviceFacts  # noqa: E402
from advisor.ranking import fit_ranker  # noqa: E402
from advisor.ranking._rank import rank_strategies  # noqa: E402
from advisor.ranking.dataset import quality_representative, record_static, training_set  # noqa: E402
from advisor.ranking.kb import SEED_PATH, seed_records  # noqa: E402
from advisor.types import LatencyStats, Measurement  # noqa: E402
from benchmarks._common import command, machine, md_machine, write  # noqa: E402

BUDGETS = {
    "low": Budget.preset("low"),
    "mid": Budget.preset("mid"),
    "high": Budget.preset("high"),
    "size<=30%, drop<=1pt": Budget(max_size_ratio=0.3, max_accuracy_drop=1.0, objective="latency"),
    "2x faster, drop<=2pt": Budget(max_latency_ratio=0.5, max_accuracy_drop=2.0, objective="size"),
    "accuracy, size<=50%": Budget(max_size_ratio=0.5, objective="accuracy"),
}
#: For randomly initialised models, whose accuracy figures mean nothing: latency and size only.
NO_ACCURACY_BUDGETS = {
    "fastest": Budget(objective="latency"),
    "smallest, no slower": Budget(max_latency_ratio=1.0, objective="size"),
    "fastest, size<=50%": Budget(max_size_ratio=0.5, objective="latency"),
}


def _meas(quality: float, size: float, p50: float, p90: float, secs: float) -> Measurement:
    latency = LatencyStats(p50, max(p50, p90), 1, 1, False)
    return Measurement("accuracy", quality, int(size), int(size), latency, 1, secs)


def baseline_of(r: dict) -> Measurement:
    b = r["baseline"]
    p90 = b.get("latency_ms_p90", b["latency_ms_p50"] * 1.1)
    return _meas(b["quality"], b["size_bytes"], b["latency_ms_p50"], p90, 0.0)


def measured_of(r: dict) -> Measurement:
    m, b = r["measured"], r["baseline"]
    p90 = b.get("latency_ms_p90", b["latency_ms_p50"]) * m["latency_ratio"]  # same-run ratio on the reference p90
    return _meas(m["quality"], m["size_bytes"], b["latency_ms_p50"] * m["latency_ratio"], p90, m["compress_seconds"])


def heuristic_of(r: dict) -> Measurement:
    m, b = r["measured"], r["baseline"]
    ratio = max(1e-3, m.get("macs", b.get("macs", 1)) / max(1, b.get("macs", 1)))
    return _meas(b["quality"], m["size_bytes"], b["latency_ms_p50"] * ratio,
                 b.get("latency_ms_p90", b["latency_ms_p50"]) * ratio, 0.0)


def facts_of(r: dict) -> DeviceFacts:
    """The device facts behind a record's device features (so a held-out case is ranked with its
    own device's features)."""
    d = r["device_features"]
    dot = d.get("d_int8_dot")
    return DeviceFacts(int8_speedup=d.get("d_int8_speedup"), int8_dynamic_speedup=d.get("d_int8_dynamic_speedup"),
                       fp16_speedup=d.get("d_fp16_speedup"), cores_logical=d.get("d_cores"),
                       conv_fp32_gflops=10 ** d["d_log_conv_gflops"] if "d_log_conv_gflops" in d else None,
                       bandwidth_gbs=10 ** d["d_log_bandwidth"] if "d_log_bandwidth" in d else None,
                       isa=None if dot not in (0.0, 1.0) else ("avx512_vnni",) if dot else ("avx2",),
                       cpu=r.get("machine"))


TIE = {"latency": 0.05, "size": 0.01}  # relative; accuracy: 0.3 points


def near_best(budget: Budget, base: Measurement, rows: dict[str, Measurement], slack_pts: float = 0.0) -> set[str]:
    """Feasible strategies whose objective is within measurement noise of the best one's:
    5% on p90 latency (interleaved timing of sub-millisecond models varies that much between
    runs), 1% on size, 0.3 points on accuracy. With ``slack_pts``, a strategy that misses the
    accuracy limit by at most that many points counts as feasible too (the best stays the strict one)."""
    all_rows = {"NQ": base, **rows}
    strict = {s: m for s, m in all_rows.items() if budget.fits(base, m)}
    if not strict:
        return set()
    best = min(budget.score(m)[0] for m in strict.values())
    feas = {s: m for s, m in all_rows.items()
            if budget.fits(base, dataclasses.replace(m, quality=m.quality + slack_pts / 100.0))}
    if budget.objective == "accuracy":
        return {s for s, m in feas.items() if budget.score(m)[0] <= best + 0.003}
    return {s for s, m in feas.items() if budget.score(m)[0] <= best * (1 + TIE[budget.objective])}


def best_name(budget: Budget, base: Measurement, rows: dict[str, Measurement]) -> str | None:
    evals = [Evaluation("NQ", {}, base)] + [Evaluation(s, {}, m) for s, m in rows.items()]
    chosen, _, _ = choose(budget, base, evals)
    return None if chosen is None else chosen.strategy


COVERAGE_TARGET = (0.85, 0.95)
OUTCOME_NAMES = ("accuracy drop (pt)", "size", "speed-up", "compression time")


def coverage_cases(ranker, held: list[dict]) -> list[dict]:
    """Each held-out record's measured outcomes against the ranker's intervals."""
    X, y, _ = training_set(held)
    if not X:
        return []
    p = ranker.predict_interval(X)
    out = []
    for i, row in enumerate(X):
        for j, name in enumerate(OUTCOME_NAMES):
            if np.isfinite(y[i, j]):
                out.append({"outcome": name, "scale": "real" if row.get("m_log_macs", 0) >= 8
                            or row.get("m_log_input", 0) >= np.log10(50_000) else "small",
                            "covered": bool(p.lo[i, j] <= y[i, j] <= p.hi[i, j]), "basis": p.latency_basis[i],
                            "error": float(y[i, j] - p.mean[i, j])})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=Path, default=SEED_PATH, help="knowledge-base records (JSON lines, gzip)")
    ap.add_argument("--name", default="rank_accuracy")
    a = ap.parse_args(argv)
    every = seed_records(a.seed)
    records = [r for r in every if r.get("threads") == 1]
    if not records:
        print("no seed knowledge base: run benchmarks/seed_kb.py first", file=sys.stderr)
        return 1
    families = sorted({r["family"] for r in records})
    cases, per_family = [], defaultdict(lambda: [0, 0, 0, 0, 0])
    covers: list[dict] = []
    for fam in families:
        ranker = fit_ranker([r for r in every if r["family"] != fam])
        covers += [{**c, "family": fam} for c in coverage_cases(ranker, [r for r in every if r["family"] == fam])]
        by_model: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for r in records:
            if r["family"] == fam:
                by_model[(r["model"], str(r.get("machine") or "?"))].append(r)
        for (model, device), rows in sorted(by_model.items()):
            base = baseline_of(rows[0])
            measured = {r["strategy"]: measured_of(r) for r in rows}
            heur = {r["strategy"]: heuristic_of(r) for r in rows}
            representative = all(quality_representative(r) for r in rows)
            for bname, budget in (BUDGETS if representative else NO_ACCURACY_BUDGETS).items():
                truth = best_name(budget, base, measured)
                if truth is None:
                    continue  # nothing fits: no best to find
                ranking = rank_strategies(
                    ranker=ranker, strategies=sorted(measured), excluded={}, model=rows[0]["model_features"],
                    baseline=base, baseline_p90_ms=base.latency.p90_ms, baseline_latency_source="measured",
                    budget=budget, facts=facts_of(rows[0]), threads=1,
                    static={r["strategy"]: record_static(r) for r in rows})
                order = ranking.order()
                h = best_name(budget, base, heur)
                near = near_best(budget, base, measured)
                near_slack = near_best(budget, base, measured, slack_pts=1.0)
                case = {"family": fam, "model": model, "device": device,
                        "scale": (rows[0].get("notes") or {}).get("scale", "small"),
                        "budget": bname, "measured_best": truth, "ranker_top3": order[:3],
                        "top1": order[:1] == [truth], "top3": truth in order[:3], "heuristic_pick": h,
                        "heuristic_top1": h == truth, "within_noise": sorted(near),
                        "top1_within_noise": bool(order) and order[0] in near, "heuristic_within_noise": h in near,
                        "top1_within_noise_1pt_slack": bool(order) and order[0] in near_slack,
                        "latency_basis": ranking.latency_basis}
                cases.append(case)
                pf = per_family[fam]
                pf[0] += 1
                pf[1] += case["top1"]
                pf[2] += case["top3"]
                pf[3] += case["heuristic_top1"]
                pf[4] += case["top1_within_noise"]
    n = len(cases)
    top1 = sum(c["top1"] for c in cases) / n
    top3 = sum(c["top3"] for c in cases) / n
    heur = sum(c["heuristic_top1"] for c in cases) / n
    top1n = sum(c["top1_within_noise"] for c in cases) / n
    top1s = sum(c["top1_within_noise_1pt_slack"] for c in cases) / n
    heurn = sum(c["heuristic_within_noise"] for c in cases) / n
    # Models the knowledge base already holds: a quarter of the records held out at random (their
    # models keep other records in the fit), four times.
    rng = np.random.default_rng(0)
    seen_covers: list[dict] = []
    for k in range(4):
        fold = rng.permutation(len(every)) % 4 == k
        ranker = fit_ranker([r for r, f in zip(every, fold, strict=True) if not f])
        seen_covers += coverage_cases(ranker, [r for r, f in zip(every, fold, strict=True) if f])
    info = machine()
    seen_cov = {}
    for c in seen_covers:
        seen_cov.setdefault(c["outcome"], []).append(c["covered"])
    seen_cov = {o: {"n": len(v), "covered": float(np.mean(v))} for o, v in sorted(seen_cov.items())}
    cov = {}
    for c in covers:
        for key in (("all", c["outcome"]), (c["scale"], c["outcome"])):
            cov.setdefault(key, []).append(c["covered"])
    coverage = {f"{s} / {o}": {"n": len(v), "covered": float(np.mean(v))} for (s, o), v in sorted(cov.items())}
    speed = coverage.get("all / speed-up", {"covered": 0.0})["covered"]
    acc = coverage.get("all / accuracy drop (pt)", {"covered": 0.0})["covered"]
    lo, hi = COVERAGE_TARGET
    doc = {"command": command(), "machine": info, "records": len(records), "families": families, "cases": n,
           "top1": top1, "top3": top3, "heuristic_top1": heur, "top1_within_noise": top1n,
           "heuristic_top1_within_noise": heurn, "top1_within_noise_1pt_slack": top1s,
           "coverage_nominal": 0.9, "coverage": coverage,
           "coverage_seen_models": seen_cov,
           "targets": {"top1_within_noise_ge_80": top1n >= 0.8, "top3_ge_95": top3 >= 0.95,
                       "beats_heuristic": top1n > heurn, "speedup_coverage_85_95": lo <= speed <= hi,
                       "accuracy_coverage_85_95": lo <= acc <= hi},
           "per_family": {f: {"cases": v[0], "top1": v[1] / v[0], "top3": v[2] / v[0], "heuristic_top1": v[3] / v[0],
                              "top1_within_noise": v[4] / v[0]}
                          for f, v in per_family.items() if v[0]},
           "budgets": {k: v.describe() for k, v in {**BUDGETS, **NO_ACCURACY_BUDGETS}.items()}, "case_list": cases}
    lines = ["# Ranker accuracy, leave-one-model-family-out", "", f"Command: `{command()}`", "", md_machine(info), "",
             f"{len(records)} one-thread records of {len(families)} families in the seed knowledge base; "
             f"{n} held-out (model, budget) cases with a feasible measured best.", "",
             "| measure | ranker | FLOPs/size heuristic | target |", "|---|---:|---:|---|",
             "| top-1 within measurement noise of the best (5% latency, 1% size, 0.3 pt) "
             f"| {top1n:.0%} | {heurn:.0%} | >= 80%: {'PASS' if top1n >= 0.8 else 'MISS'} |",
             f"| measured best in top-3 | {top3:.0%} | - | >= 95%: {'PASS' if top3 >= 0.95 else 'MISS'} |",
             f"| top-1 = measured best exactly | {top1:.0%} | {heur:.0%} | (context) |",
             "| top-1 within noise, also counting a pick that misses the accuracy limit by <= 1 pt (a test sample "
             f"is 0.56 pt of the digits' 180) | {top1s:.0%} | - | (context) |", "",
             "Stated 90% intervals vs the held-out families' measurements (every record, 1 and 2 threads; "
             f"target {lo:.0%}-{hi:.0%}):", "", "| scale / outcome | n | covered | target |", "|---|---:|---:|---|"]
    for k, v in coverage.items():
        ok = lo <= v["covered"] <= hi
        lines.append(f"| {k} | {v['n']} | {v['covered']:.0%} | {'PASS' if ok else 'MISS'} |")
    lines += ["", "Models the knowledge base already holds (a quarter of the records held out at random, four times; "
              "their intervals are calibrated on held-out records of seen models):", "",
              "| outcome | n | covered |", "|---|---:|---:|"]
    lines += [f"| {o} | {v['n']} | {v['covered']:.0%} |" for o, v in seen_cov.items()]
    lines += ["", "| held-out family | cases | top-1 within noise | top-1 | top-3 | heuristic top-1 |",
              "|---|---:|---:|---:|---:|---:|"]
    for f, v in doc["per_family"].items():
        lines.append(f"| {f} | {v['cases']} | {v['top1_within_noise']:.0%} | {v['top1']:.0%} | {v['top3']:.0%} | "
                     f"{v['heuristic_top1']:.0%} |")
    for scale in sorted({c["scale"] for c in cases}):
        sc = [c for c in cases if c["scale"] == scale]
        doc.setdefault("per_scale", {})[scale] = {"cases": len(sc), "top1": sum(c["top1"] for c in sc) / len(sc),
                                                  "top3": sum(c["top3"] for c in sc) / len(sc)}
    lines += ["", "| scale | cases | top-1 | top-3 |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['cases']} | {v['top1']:.0%} | {v['top3']:.0%} |"
              for k, v in doc.get("per_scale", {}).items()]
    lines += ["", "Budgets: " + "; ".join(f"**{k}**: {v}" for k, v in doc["budgets"].items()),
              "", "Randomly initialised (real-scale) models are scored only on the last three budgets "
              "(no accuracy limit); "
              "every other model on the first six."]
    write(a.name, doc, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
