"""Time `advisor demo` from a fresh output folder and tabulate what it measured.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/demo_run.py

Writes benchmarks/results/demo.json and demo.md: wall time (target <= 180 s on the 2-core build
machine), the number of strategies measured (target >= 10), and the demo's candidate table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import command, machine, md_machine, write  # noqa: E402


def main() -> int:
    info = machine()
    out = Path(tempfile.mkdtemp(prefix="demo-bench-")) / "demo"
    exe = Path(sys.executable).with_name("advisor")
    t0 = time.perf_counter()
    r = subprocess.run([str(exe), "demo", "--out", str(out), "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        print(r.stderr, file=sys.stderr)
        return r.returncode
    doc = json.loads(r.stdout)
    shutil.rmtree(out.parent, ignore_errors=True)
    metric = doc["data"]["metric"]
    cands = [c for c in doc["candidates"] if "error" not in c]
    strategies = sorted({c["strategy"].split(" #")[0].split("(")[0] for c in cands})
    result = {
        "command": command(), "machine": info, "wall_seconds": round(wall, 1), "exit_code": r.returncode,
        "strategies_measured": strategies, "n_strategies": len(strategies), "trials": doc["trials"],
        "pick": doc["strategy"], "fits_budget": doc["fits_budget"], "baseline": doc["baseline"],
        "compressed": doc["compressed"], "candidates": doc["candidates"],
        "targets": {"wall_le_180s": wall <= 180, "strategies_ge_10": len(strategies) >= 10},
    }
    b = doc["baseline"]
    lines = [
        "# `advisor demo` (built-in model, mid tier)", "",
        f"Command: `{command()}` (runs `advisor demo --out <fresh dir> --json`).", "", md_machine(info), "",
        f"- wall time: **{wall:.0f} s** (target <= 180 s: {'PASS' if wall <= 180 else 'MISS'})",
        f"- strategies measured: **{len(strategies)}** ({', '.join(strategies)}) (target >= 10: "
        f"{'PASS' if len(strategies) >= 10 else 'MISS'})",
        f"- pick: **{doc['strategy']}** ({'fits' if doc['fits_budget'] else 'nothing fits'}); "
        f"trials {doc['trials']['count']}, "
        f"stopped: {doc['trials'].get('stopped')}", "",
        f"| strategy | {metric} (%) | size (KB) | gzip (KB) | p50 (ms) | p90 (ms) | compress (s) | fits |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|",
        f"| NQ (original) | {100 * b[metric]:.2f} | {b['size_bytes'] / 1024:.1f} | "
        f"{b['size_compressed_bytes'] / 1024:.1f} | "
        f"{b['latency_ms_p50']:.3f} | {b['latency_ms_p90']:.3f} | 0.0 | |",
    ]
    for c in doc["candidates"]:
        if "error" in c:
            lines.append(f"| {c['strategy']} | failed: {c['error'][:60]} | | | | | | |")
            continue
        lines.append(f"| {c['strategy']} | {100 * c[metric]:.2f} | {c['size_bytes'] / 1024:.1f} | "
                     f"{c['size_compressed_bytes'] / 1024:.1f} | {c['latency_ms_p50']:.3f} | "
                     f"{c['latency_ms_p90']:.3f} | "
                     f"{c['compress_seconds']:.1f} | {'yes' if c['fits'] else 'no'} |")
    write("demo", result, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
