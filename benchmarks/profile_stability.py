"""Is `advisor profile` fast and repeatable? (issues 4, 21: <= 10 s a command, start-up included;
every headline figure within +-10% of its median over 5 back-to-back runs)

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/profile_stability.py [--runs 5] [--wait-quiet S]

Runs the whole command ``python -m advisor profile`` ``--runs`` times back to back, as a user runs
it (a fresh interpreter each time: start-up and imports included in its wall time), each saving
its profile into a scratch folder, and records for each run the load around it: the load average
before it and other processes' CPU while it ran (:class:`advisor.measure.load.LoadMeter`, the
command itself excluded), besides the background load and re-timing the profile recorded itself.

Then, per figure, the largest deviation of a run from the median of the runs. The *headline
figures* are what the advice reads from a profile (``DeviceProfile.headline_figures()``): every
throughput and overhead figure at 1 thread, the derived speed-ups, and the all-core figures when
the runs suggested all cores (a quiet machine). When the runs suggested one thread (another
process held part of the CPU), the all-core figures measured contention rather than the device:
they are reported too, apart, not counted. Writes benchmarks/results/profile_stability.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import command, machine, md_machine, wait_quiet, write  # noqa: E402

WALL_TARGET = 10.0
SPREAD_TARGET = 0.10


def deviation(values: list[float]) -> float:
    """The largest distance of a run's value from the median of the runs, relative to that
    median (the target: every headline figure within +-10% of its median)."""
    v = np.asarray(values, dtype=float)
    med = float(np.median(v))
    return float(np.max(np.abs(v - med)) / med) if med else 0.0


def run_once(i: int, folder: Path, quick: bool) -> dict:
    """One whole ``advisor profile`` command, timed from before its interpreter starts to its exit."""
    from advisor.measure.load import LoadMeter

    argv = [sys.executable, "-m", "advisor", "profile", "--name", f"stability-{i}", "--profiles-dir", str(folder)]
    load_avg = os.getloadavg()[0]
    meter = LoadMeter(children=True)
    t0 = time.perf_counter()
    r = subprocess.run([*argv, *(["--quick"] if quick else [])], capture_output=True, text=True, timeout=300, cwd=ROOT)
    wall = time.perf_counter() - t0
    other, steal = meter.read()
    if r.returncode != 0:
        raise SystemExit(f"run {i + 1} failed ({r.returncode}): {r.stderr[-2000:]}")
    return {"command_seconds": round(wall, 3), "load_avg_1m_before": round(load_avg, 2),
            "other_load_cores": round(other, 3), "steal_percent": round(steal, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="time `advisor profile --quick` instead")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="first wait up to S seconds for other work to stop (the targets assume a quiet machine)")
    args = ap.parse_args()

    from advisor.profiling import load_profile

    info = machine()
    waited = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    runs, profiles = [], []
    with tempfile.TemporaryDirectory(prefix="profile-stability-") as d:
        for i in range(args.runs):
            rec = run_once(i, Path(d), args.quick)
            p = load_profile(Path(d) / f"stability-{i}.yaml")
            rec.update(profile_seconds=p.run.wall_seconds, background_load_cores=p.run.background_load_cores,
                       profile_steal_percent=p.run.steal_percent, rounds=p.run.rounds,
                       disturbed_blocks=p.run.disturbed_blocks, retimed_blocks=p.run.retimed_blocks,
                       unsettled_benchmarks=p.run.unsettled_benchmarks,
                       suggested_threads=p.derived.suggested_threads)
            runs.append(rec)
            profiles.append(p)
            print(f"run {i + 1}: {rec['command_seconds']:.2f} s command ({p.run.wall_seconds:.2f} s profiling); "
                  f"load average {rec['load_avg_1m_before']:.2f}, other processes {rec['other_load_cores']:.2f} "
                  f"core(s); {p.run.disturbed_blocks} blocks disturbed, {p.run.retimed_blocks} re-timed",
                  file=sys.stderr, flush=True)
    doc = analyse(profiles, runs)
    doc.update(command=command(), machine=info, wait=waited, quick=args.quick)
    write("profile_stability", doc, markdown(doc))
    print(json.dumps({k: doc[k]["result"] for k in ("wall", "headline")} | {
        "headline_within": f"{doc['headline']['within']}/{doc['headline']['figures']}",
        "max_command_s": doc["wall"]["max"]}))
    return 0


def _table(profiles, names) -> dict[str, dict]:
    from advisor.profiling._profile import speedups

    out = {}
    for name in names:
        group, _, field = name.partition(".")
        if group == "derived":  # a speed-up at one thread setting: int8_speedup_1t
            base, _, sfx = field.rpartition("_")
            vals = [speedups(p.figures, sfx)[base] for p in profiles]
            own = [0.0 for _ in profiles]
        else:
            vals = [float(getattr(getattr(p.figures, group), field)) for p in profiles]
            own = [p.figure_spread(name) for p in profiles]
        out[name] = {"values": vals, "median": float(np.median(vals)), "deviation": deviation(vals),
                     "in_run_spread": float(np.median(own))}
    return out


def analyse(profiles, runs) -> dict:
    first = profiles[0]
    all_cores = int(np.median([p.derived.suggested_threads for p in profiles])) > 1
    plain = first.to_dict()["figures"]
    every = [f"{g}.{k}" for g in first.figures.groups() for k in plain[g]]
    every += [f"derived.{k}_{sfx}" for sfx in ("1t", "all") for k in ("int8_speedup", "int8_gemm_speedup",
                                                                     "int8_dynamic_speedup", "fp16_speedup")]
    # The headline set of a run that suggested what most runs suggested (the library's definition).
    head = list(next(p for p in profiles if (p.derived.suggested_threads > 1) == all_cores).headline_figures())
    apart = [n for n in every if n not in head]
    headline, others = _table(profiles, head), _table(profiles, apart)
    bench = {}
    for bid in first.benchmarks:
        for sfx in ("us_1t", "us_all"):
            bench[f"{bid}.{sfx}"] = deviation([getattr(p.benchmarks[bid], sfx) for p in profiles])
    walls = [r["command_seconds"] for r in runs]
    within = sum(f["deviation"] <= SPREAD_TARGET for f in headline.values())
    worst = max(headline, key=lambda k: headline[k]["deviation"])
    quiet = max(r["other_load_cores"] for r in runs) < 0.1 and max(r["steal_percent"] for r in runs) < 2.0

    def bench_summary(sfx: str) -> dict:
        v = {k: x for k, x in bench.items() if k.endswith(sfx)}
        return {"median": float(np.median(list(v.values()))), "p90": float(np.percentile(list(v.values()), 90)),
                "within": sum(x <= SPREAD_TARGET for x in v.values()), "count": len(v), "worst": max(v, key=v.get),
                "max": max(v.values())}

    return {
        "targets": {"command_seconds": WALL_TARGET, "deviation": SPREAD_TARGET},
        "runs": runs,
        "wall": {"result": "PASS" if max(walls) <= WALL_TARGET else "MISS", "max": max(walls), "runs": walls},
        "headline": {"result": "PASS" if within == len(headline) else "MISS", "within": within,
                     "figures": len(headline), "worst": worst, "worst_deviation": headline[worst]["deviation"],
                     "all_cores_counted": all_cores},
        "load": {"quiet": quiet, "other_load_cores": [r["other_load_cores"] for r in runs],
                 "load_avg_1m_before": [r["load_avg_1m_before"] for r in runs]},
        "headline_figures": headline,
        "other_figures": others,
        "others_within": sum(f["deviation"] <= SPREAD_TARGET for f in others.values()),
        "benchmarks": {"1t": bench_summary("us_1t"), "all": bench_summary("us_all"), "all_deviations": bench},
    }


def markdown(doc: dict) -> str:
    w, h, ld = doc["wall"], doc["headline"], doc["load"]
    n = len(doc["runs"])
    lines = [
        "# `advisor profile`: command time and repeatability (issues 4, 21)",
        "",
        f"Command: `flock /tmp/advisor-cpu.lock {doc['command']}`" + (" (`--quick` profiles)" if doc["quick"] else ""),
        "",
        md_machine(doc["machine"]),
        "",
        f"- **Whole command <= {doc['targets']['command_seconds']:.0f} s, start-up included: {w['result']}** -- "
        + ", ".join(f"{x:.2f}" for x in w["runs"]) + f" s over {n} back-to-back runs (max {w['max']:.2f} s).",
        f"- **Every headline figure within +-{100 * doc['targets']['deviation']:.0f}% of its median over the runs: "
        f"{h['result']}** -- {h['within']}/{h['figures']} figures; worst {h['worst']} at "
        f"{100 * h['worst_deviation']:.1f}%.",
        "- Load: " + ("quiet machine." if ld["quiet"] else "**not quiet**: other processes used "
                      + ", ".join(f"{x:.2f}" for x in ld["other_load_cores"]) + " core(s) during the runs (load "
                      "average before them " + ", ".join(f"{x:.1f}" for x in ld["load_avg_1m_before"]) + ")."),
        "",
        "Headline figures: what the advice reads from a profile (`DeviceProfile.headline_figures()`): every "
        "throughput and overhead figure at 1 thread, the derived speed-ups, and the all-core figures when the "
        "profile suggests all cores. " + ("The runs suggested all cores: the all-core figures are counted."
                                          if h["all_cores_counted"] else
                                          "The runs suggested 1 thread (other work held part of the CPU), so the "
                                          "all-core figures measured contention rather than the device: they are "
                                          "listed below, apart, and not counted."),
        "",
        "| run | command (s) | profiling (s) | load avg before | other processes (cores) | profile's background "
        "(cores) | rounds | blocks disturbed | re-timed | figures unsettled | threads suggested |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, r in enumerate(doc["runs"], 1):
        lines.append(f"| {i} | {r['command_seconds']:.2f} | {r['profile_seconds']:.2f} | {r['load_avg_1m_before']:.2f} "
                     f"| {r['other_load_cores']:.2f} | {r['background_load_cores']:.2f} | {r['rounds']} | "
                     f"{r['disturbed_blocks']} | {r['retimed_blocks']} | {r['unsettled_benchmarks']} | "
                     f"{r['suggested_threads']} |")
    lines += ["", "'deviation': the largest |run - median| / median over the runs; 'in-run': the spread the profile "
                  "saved for the figure (half the range of its undisturbed rounds over the figure), median over "
                  "the runs.", ""]

    def rows(table: dict) -> list[str]:
        out = ["| figure | median | deviation | in-run | runs |", "| --- | ---: | ---: | ---: | --- |"]
        for name, f in table.items():
            mark = "" if f["deviation"] <= doc["targets"]["deviation"] else " **>10%**"
            out.append(f"| {name} | {f['median']:.4g} | {100 * f['deviation']:.1f}%{mark} | "
                       f"{100 * f['in_run_spread']:.1f}% | " + ", ".join(f"{v:.4g}" for v in f["values"]) + " |")
        return out

    lines += ["## Headline figures", "", *rows(doc["headline_figures"]), "",
              f"## Other figures (not counted): {doc['others_within']}/{len(doc['other_figures'])} within "
              f"+-{100 * doc['targets']['deviation']:.0f}%", "", *rows(doc["other_figures"])]
    b = doc["benchmarks"]
    lines += ["", "Raw micro-benchmark times (the predictor's inputs), deviation over the runs: "
              + "; ".join(f"{k}: {v['within']}/{v['count']} within 10%, median {100 * v['median']:.1f}%, "
                          f"p90 {100 * v['p90']:.1f}%, worst {v['worst']} {100 * v['max']:.0f}%"
                          for k, v in (("1 thread", b["1t"]), ("all cores", b["all"]))) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
