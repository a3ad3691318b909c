"""Time `advisor demo` from a fresh output folder and tabulate what it measured.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/demo_run.py

Writes benchmarks/results/demo.json and demo.md: wall time (target <= 180 s on the 2-core build
machine), the number of strategies measured (target >= 10), the status (confirmed on the test
split or not) and the demo's candidate table: paired drops with bounds, same-run speed-ups.
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
    if r.returncode not in (0, 1, 3):
        print(r.stderr, file=sys.stderr)
        return r.returncode
    doc = json.loads(r.stdout)
    shutil.rmtree(out.parent, ignore_errors=True)
    result, lines = render(doc, wall, r.returncode, info)
    write("demo", result, "\n".join(lines))
    print("\n".join(lines))
    return 0


def render(doc: dict, wall: float, returncode: int, info: dict) -> tuple[dict, list[str]]:
    """The results document and the Markdown lines of one demo run's advice.json."""
    metric = doc["data"]["metric"]
    cands = [c for c in doc["candidates"] if "error" not in c]
    strategies = sorted({c["strategy"].split(" #")[0].split("(")[0] for c in cands})
    result = {
        "command": command(), "machine": info, "wall_seconds": round(wall, 1), "exit_code": returncode,
        "strategies_measured": strategies, "n_strategies": len(strategies), "trials": doc["trials"],
        "pick": doc["strategy"], "fits_budget": doc["fits_budget"], "baseline": doc["baseline"],
        "compressed": doc["compressed"], "candidates": doc["candidates"],
        "targets": {"wall_le_180s": wall <= 180, "strategies_ge_10": len(strategies) >= 10},
    }
    b, conf = doc["baseline"], doc.get("confirmation") or {}
    result["status"], result["confirmation"], result["ties"] = doc.get("status"), conf, doc.get("ties")
    result["targets"]["confirmed_on_test"] = doc.get("status") == "confirmed"

    def bounds(d: dict | None) -> str:
        if not d:
            return "-"
        n = f"n={d['n']}" + (f"/{d['of']}" if d.get("of") and d["of"] != d["n"] else "")
        return f"{d['value']:.2f} [{d['lo']:.2f}, {d['hi']:.2f}] {n}"

    def verdict(c: dict) -> str:
        bad = {k: v for k, v in (c.get("verdicts") or {}).items() if v != "fits"}
        return "meets" if c.get("fits") else ", ".join(f"{k} {v}" for k, v in bad.items()) or "-"

    cd = conf.get("drop") or {}
    lines = [
        "# `advisor demo` (built-in model, mid tier)", "",
        f"Command: `{command()}` (runs `advisor demo --out <fresh dir> --json`).", "", md_machine(info), "",
        f"- wall time: **{wall:.0f} s** (target <= 180 s: {'PASS' if wall <= 180 else 'MISS'})",
        f"- strategies measured: **{len(strategies)}** ({', '.join(strategies)}) (target >= 10: "
        f"{'PASS' if len(strategies) >= 10 else 'MISS'})",
        f"- **{doc.get('status')}** (exit {returncode}): {doc.get('headline')}",
        f"- pick: **{doc['strategy']}**; test split: {metric} drop {bounds(cd)} ({conf.get('state', '-')}); "
        f"ties: {', '.join(doc.get('ties') or []) or 'none'}; trials {doc['trials']['count']}, "
        f"stopped: {doc['trials'].get('stopped')}; "
        f"deferred: {', '.join(doc['trials'].get('deferred') or {}) or 'none'}",
        "",
        f"Every figure measured here: {metric} drop in points on the validation split (paired, one-sided 95% "
        "bounds, n of the split), speed-up = the original's p50 over the candidate's timed in the same run "
        "(interleaved blocks; bounds from the per-block ratios).", "",
        f"| strategy | {metric} drop pt (validation) | size (KB) | gzip (KB) | p50 (ms) | speed-up p50 (same run) | "
        "compress (s) | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|:--|",
        f"| NQ (original) | 0 | {b['size_bytes'] / 1024:.1f} | {b['size_compressed_bytes'] / 1024:.1f} | "
        f"{b['latency_ms_p50']:.3f} | 1.00x | 0.0 | |",
    ]
    for c in doc["candidates"]:
        if "error" in c:
            lines.append(f"| {c['strategy']} | failed: {c['error'][:60]} | | | | | | |")
            continue
        iv = c.get("speedup_p50_interval") or [None, None]
        sp = f"{c['speedup_p50']:.2f}x" + (f" [{iv[0]:.2f}, {iv[1]:.2f}]" if iv[0] is not None else "")
        pick = "**" if c["strategy"] == doc["strategy"] else ""
        lines.append(f"| {pick}{c['strategy']}{pick} | {bounds(c.get('drop'))} | {c['size_bytes'] / 1024:.1f} | "
                     f"{c['size_compressed_bytes'] / 1024:.1f} | {c['latency_ms_p50']:.3f} | {sp} | "
                     f"{c['compress_seconds']:.1f} | {verdict(c)} |")
    return result, lines


if __name__ == "__main__":
    raise SystemExit(main())
