"""Search vs exhaustive grid on the built-in model, for the three tier budgets.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/search_regret.py

1. The grid: every point of SPACE (each search strategy with a small set of parameter values) is
   compressed and measured once on the built-in model; its wall time is the grid's time.
2. For each tier (low, mid, high) the real search (`advisor.jobs.advise`: ranking, enqueued
   best-ranked candidates, TPE, the same SPACE, training scale fixed at 1x so the spaces match)
   runs on a fresh study. Its pick is looked up in the grid table (same configuration, so
   measurement noise between the two runs does not count as regret).
3. Regret = (search pick's objective - grid optimum's objective) / grid optimum's objective, on
   the budget's objective (p90 latency for mid/high, file size for low). Reported with the search's
   time to first reach its final pick and its total time, vs the grid's time.

Targets (issue 6): regret <= 1% and time-to-pick <= 25% of the grid's time, for every tier.
Writes benchmarks/results/search_regret.{json,md}; the grid table is cached in
benchmarks/results/grid_table.json (delete it to re-measure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.budget import Budget  # noqa: E402
from advisor.errors import AdvisorError  # noqa: E402
from advisor.jobs import advise  # noqa: E402
from advisor.measure import MeasureSettings  # noqa: E402
from advisor.problem import open_problem  # noqa: E402
from advisor.ranking import KnowledgeBase  # noqa: E402
from advisor.search import SearchSettings, grid  # noqa: E402
from advisor.types import Measurement  # noqa: E402
from benchmarks._common import RESULTS, command, machine, md_machine, write  # noqa: E402

STRATEGIES = ["FIQ", "F16", "BLQ", "QAT", "PRN", "SPR", "PRQ", "PRN+FIQ", "SPR+FIQ", "KD", "KD+FIQ", "KD+F16",
              "KD+PRN", "CA", "LR", "LR+FIQ"]
SPACE = {
    "FIQ.method": ["minmax", "entropy"], "FIQ.calibration_size": [200], "FIQ.per_channel": [True],
    "BLQ.mode": ["dynamic", "weight_only"], "BLQ.per_channel": [True], "F16.keep_io_types": [True],
    "PRN.sparsity": [0.5, 0.8, 0.9], "PRN.epochs": [2.0], "PRN.lr": [5e-4], "PRN.scope": ["global"],
    "SPR.pruning_ratio": [0.25, 0.5, 0.75], "SPR.epochs": [3.0], "SPR.lr": [1e-3],
    "KD.width": [0.5, 1.0], "KD.epochs": [15.0], "KD.lr": [0.01], "KD.temperature": [4.0], "KD.alpha": [0.9],
    "CA.width": [0.5, 1.0], "CA.epochs": [15.0], "CA.lr": [0.01],
    "LR.rank_ratio": [0.25, 0.5], "LR.epochs": [2.0], "LR.lr": [5e-4],
    "QAT.epochs": [1.0], "QAT.lr": [1e-4], "QAT.calibration_size": [200],
}
SETTINGS = MeasureSettings(threads=1, seconds=0.4, memory=False)
GRID_CACHE = RESULTS / "grid_table.json"


def key(strategy: str, params: dict) -> str:
    return strategy + "|" + json.dumps({k: params[k] for k in sorted(params) if k in SPACE}, sort_keys=True)


def measure_grid(problem) -> dict:
    points = list(grid(STRATEGIES, SPACE))
    table, t_total = {}, 0.0
    for i, (strategy, params) in enumerate(points):
        t0 = time.perf_counter()
        try:
            _, m = problem.evaluate(strategy, params)
            row = {"strategy": strategy, "params": params, "measurement": m.to_dict()}
        except AdvisorError as e:
            row = {"strategy": strategy, "params": params, "error": str(e)}
        row["seconds"] = time.perf_counter() - t0
        t_total += row["seconds"]
        table[key(strategy, params)] = row
        print(f"[grid {i + 1}/{len(points)}] {strategy} {row.get('error', '')} {row['seconds']:.1f}s", flush=True)
    return {"points": len(points), "seconds": t_total, "baseline": problem.baseline.to_dict(), "table": table}


def best(budget: Budget, baseline: Measurement, rows: list[dict]) -> tuple[dict | None, float | None]:
    feas = [(budget.score(m)[0], r) for r in rows if "measurement" in r
            for m in [Measurement.from_dict(r["measurement"])] if budget.fits(baseline, m)]
    if budget.fits(baseline, baseline):
        feas.append((budget.score(baseline)[0], {"strategy": "NQ", "params": {}}))
    if not feas:
        return None, None
    score, row = min(feas, key=lambda x: x[0])
    return row, score


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiers", nargs="*", default=["low", "mid", "high"])
    p.add_argument("--trials", type=int, default=52, help="upper bound on search trials per tier")
    a = p.parse_args(argv)
    info = machine()
    with open_problem("builtin:digits-cnn", "builtin:digits", settings=SETTINGS) as problem:
        if GRID_CACHE.is_file():
            g = json.loads(GRID_CACHE.read_text())
        else:
            g = measure_grid(problem)
            GRID_CACHE.write_text(json.dumps(g, indent=1, default=str))
        baseline = Measurement.from_dict(g["baseline"])
        rows = list(g["table"].values())
        results = []
        for tier in a.tiers:
            budget = Budget.preset(tier)
            grid_row, grid_score = best(budget, baseline, rows)
            out = Path(tempfile.mkdtemp(prefix=f"regret-{tier}-"))
            found_at: list[float] = []
            t0 = time.perf_counter()
            log: list[dict] = []

            def on_trial(e, t0=t0, log=log):
                log.append({"t": time.perf_counter() - t0, "strategy": e.strategy, "params": e.params,
                            "ok": e.ok})

            advice = advise(problem, budget, out, settings=SearchSettings(trials=a.trials, scales=(1.0,), space=SPACE),
                            strategies=STRATEGIES, kb=KnowledgeBase(out / "kb.sqlite"), on_trial=on_trial)
            total = time.perf_counter() - t0
            pick = advice.chosen
            pick_strategy = pick.strategy if pick else None
            pick_row = g["table"].get(key(pick_strategy, pick.params)) if pick and pick_strategy != "NQ" else None
            if pick_strategy == "NQ":
                pick_score = budget.score(baseline)[0]
            elif pick_row and "measurement" in pick_row:
                pick_score = budget.score(Measurement.from_dict(pick_row["measurement"]))[0]
            else:
                pick_score = None
            for entry in log:  # time the search first ran the configuration it finally picked
                if pick and entry["strategy"] == pick_strategy and entry["params"] == pick.params:
                    found_at.append(entry["t"])
                    break
            regret = None if (pick_score is None or grid_score is None) else (pick_score - grid_score) / grid_score
            t_found = found_at[0] if found_at else total
            results.append({
                "tier": tier, "objective": budget.objective,
                "grid_pick": grid_row and {"strategy": grid_row["strategy"], "params": grid_row["params"]},
                "grid_objective": grid_score,
                "search_pick": pick_strategy and {"strategy": pick_strategy, "params": pick.params},
                "search_objective_in_grid_table": pick_score,
                "search_objective_measured": pick and budget.score(pick.measurement)[0],
                "regret": regret, "search_trials": len(log), "search_seconds_total": total,
                "search_seconds_to_pick": t_found, "grid_seconds": g["seconds"],
                "time_fraction": t_found / g["seconds"],
                "pass_regret": regret is not None and regret <= 0.01,
                "pass_time": t_found <= 0.25 * g["seconds"],
            })
            print(results[-1], flush=True)
    doc = {"command": command(), "machine": info, "strategies": STRATEGIES, "space": SPACE,
           "grid_points": g["points"], "grid_seconds": g["seconds"], "results": results}
    unit = {"latency": "ms p90", "size": "bytes"}
    lines = ["# Search vs exhaustive grid (built-in model, three tiers)", "", f"Command: `{command()}`", "",
             md_machine(info), "",
             f"Grid: {g['points']} configurations ({len(STRATEGIES)} strategies x the parameter values in SPACE), "
             f"measured in {g['seconds']:.0f} s. Training scale fixed at 1x in both, so the spaces match.", "",
             "| tier | objective | grid optimum | search pick | regret | search time to pick | search total "
             "| grid time | time-to-pick / grid | targets |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        go = r["grid_pick"]["strategy"] if r["grid_pick"] else "none fits"
        sp = r["search_pick"]["strategy"] if r["search_pick"] else "none fits"
        reg = "n/a" if r["regret"] is None else f"{100 * r['regret']:+.1f}%"
        lines.append(f"| {r['tier']} | {r['objective']} ({unit.get(r['objective'], '')}) "
                     f"| {go} ({r['grid_objective']}) | {sp} "
                     f"({r['search_objective_in_grid_table']}) | {reg} | {r['search_seconds_to_pick']:.0f} s | "
                     f"{r['search_seconds_total']:.0f} s | {r['grid_seconds']:.0f} s | {r['time_fraction']:.0%} | "
                     f"regret {'PASS' if r['pass_regret'] else 'MISS'}, time {'PASS' if r['pass_time'] else 'MISS'} |")
    write("search_regret", doc, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
