"""The papers' table on this device: every strategy on the built-in model, measured interleaved.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/bench_table.py

1. Loads ``builtin:digits-cnn`` on ``builtin:digits`` and compresses it with every row below
   (NQ, BLQ, FIQ, F16, QAT, PRN, SPR, PRQ, KD, CA, KD+F16, KD+PRN, KD+FIQ, LR and extra rows),
   each with its default parameters unless the row says otherwise; compression time is the wall
   time of its steps (training on ``torch`` default threads).
2. Measures ALL models in one interleaved latency run (1 thread, then all threads; about
   ``--seconds`` of timed runs per model each), then accuracy on the 360 test images, raw and
   gzip size, and peak memory of an inference session in a fresh process.
3. Writes benchmarks/results/bench_table.{json,md}: the table, ratios against NQ, the issue's
   targets with their figures and PASS/MISS, the command, machine, versions and date.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import command, machine, md_machine, write  # noqa: E402

# (row label, strategy, parameters): the papers' rows first, then useful extra rows.
ROWS: list[tuple[str, str, dict]] = [
    ("NQ", "NQ", {}),
    ("BLQ", "BLQ", {}),
    ("FIQ", "FIQ", {}),
    ("F16", "F16", {}),
    ("QAT", "QAT", {}),
    ("PRN", "PRN", {}),
    ("SPR", "SPR", {}),
    ("PRQ", "PRQ", {}),
    ("KD", "KD", {}),
    ("CA", "CA", {}),
    ("KD+F16", "KD+F16", {}),
    ("KD+PRN", "KD+PRN", {"PRN.sparsity": 0.5}),
    ("KD+FIQ", "KD+FIQ", {}),
    ("LR", "LR", {}),
    ("BLQ weight-only", "BLQ", {"BLQ.mode": "weight_only"}),
    ("FIQ per-tensor", "FIQ", {"FIQ.per_channel": False}),
    ("PRN 90%", "PRN", {"PRN.sparsity": 0.9, "PRN.epochs": 4.0}),
    ("SPR 75%", "SPR", {"SPR.pruning_ratio": 0.75, "SPR.epochs": 6.0, "SPR.lr": 2e-3}),
    ("PRN+FIQ", "PRN+FIQ", {}),
    ("SPR+FIQ", "SPR+FIQ", {}),
    ("KD w0.5", "KD", {"KD.width": 0.5}),
    ("KD w0.5+FIQ", "KD+FIQ", {"KD.width": 0.5}),
]


def _compress_all(problem, rows, work: Path) -> list[dict]:
    from advisor.compress import compress
    from advisor.strategies import Strategy

    out = []
    for label, strategy, params in rows:
        s = Strategy.parse(strategy)
        t0 = time.perf_counter()
        if s.is_baseline:
            out.append({"label": label, "strategy": s.name, "params": {}, "model": problem.model, "seconds": 0.0,
                        "notes": {}})
            continue
        try:
            work_dir = work / label.replace(" ", "_").replace("+", "_")
            r = compress(problem.model, problem.data, s, params, workdir=work_dir)
        except Exception as e:  # noqa: BLE001 - a failed row is reported, the table goes on
            print(f"  {label}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
            out.append({"label": label, "strategy": s.name, "params": params, "error": f"{type(e).__name__}: {e}"})
            continue
        print(f"  {label}: compressed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        out.append({"label": label, "strategy": s.name, "params": params, "model": r.model, "seconds": r.seconds,
                    "notes": r.notes, "used": r.params})
    return out


def _row(entry: dict, m, nq) -> dict:
    allt = m.latency_all_threads
    nq_all = nq.latency_all_threads
    return {
        "label": entry["label"],
        "strategy": entry["strategy"],
        "params": entry["params"],
        "accuracy": round(m.quality, 6),
        "accuracy_delta_pts": round(100 * (m.quality - nq.quality), 2),
        "size_bytes": m.size_bytes,
        "size_gzip_bytes": m.size_compressed_bytes,
        "smaller_x": round(nq.size_bytes / m.size_bytes, 2),
        "smaller_gzip_x": round(nq.size_compressed_bytes / m.size_compressed_bytes, 2),
        "p50_ms_1t": round(m.latency.p50_ms, 4),
        "p90_ms_1t": round(m.latency.p90_ms, 4),
        "faster_x_1t": round(nq.latency.p50_ms / m.latency.p50_ms, 2),
        "p50_ms_all": None if allt is None else round(allt.p50_ms, 4),
        "p90_ms_all": None if allt is None else round(allt.p90_ms, 4),
        "faster_x_all": None if allt is None or nq_all is None else round(nq_all.p50_ms / allt.p50_ms, 2),
        "peak_memory_bytes": m.peak_memory_bytes,
        "compress_seconds": round(entry["seconds"], 2),
        "notes": entry.get("notes", {}),
    }


def _targets(rows: dict[str, dict]) -> list[dict]:
    def ok(cond: bool) -> str:
        return "PASS" if cond else "MISS"

    out = []
    best = [r for r in rows.values()
            if r["smaller_x"] >= 12 and r["faster_x_1t"] >= 4.7 and r["accuracy_delta_pts"] >= -1.0]
    best.sort(key=lambda r: -r["faster_x_1t"])
    fig = ", ".join(f"{r['label']}: {r['smaller_x']}x smaller, {r['faster_x_1t']}x faster, "
                    f"{r['accuracy_delta_pts']:+.2f} pts" for r in best) or "no row"
    out.append({"target": "some strategy >= 12x smaller and >= 4.7x faster (p50, 1 thread) at <= 1 point accuracy loss",
                "figure": fig, "result": ok(bool(best))})
    spr = rows.get("SPR")
    if spr:
        out.append({"target": "SPR at 50% channels >= 1.8x faster than NQ (p50, 1 thread)",
                    "figure": f"{spr['faster_x_1t']}x faster ({spr['p50_ms_1t']} ms), "
                              f"{spr['accuracy_delta_pts']:+.2f} pts",
                    "result": ok(spr["faster_x_1t"] >= 1.8)})
    prn = rows.get("PRN 90%")
    if prn:
        share = prn["size_gzip_bytes"] / rows["NQ"]["size_gzip_bytes"]
        out.append({"target": "PRN at 90% sparsity: gzip size <= 25% of NQ's within 1 point accuracy",
                    "figure": f"{share:.1%} of NQ's gzip size, {prn['accuracy_delta_pts']:+.2f} pts "
                              f"(sparsity {prn['notes'].get('PRN.sparsity')})",
                    "result": ok(share <= 0.25 and prn["accuracy_delta_pts"] >= -1.0)})
    fiq = rows.get("FIQ")
    if fiq:
        out.append({"target": "FIQ (per-channel) faster than NQ on this CPU (p50, 1 thread)",
                    "figure": f"{fiq['faster_x_1t']}x ({fiq['p50_ms_1t']} ms vs {rows['NQ']['p50_ms_1t']} ms)",
                    "result": ok(fiq["faster_x_1t"] > 1.0)})
    blq = rows.get("BLQ")
    if blq:
        word = "slower" if blq["faster_x_1t"] < 1 else "faster"
        out.append({"target": "BLQ on a CNN measured, and shown slower if slower",
                    "figure": f"{blq['p50_ms_1t']} ms vs NQ {rows['NQ']['p50_ms_1t']} ms: "
                              f"{max(blq['faster_x_1t'], 1 / blq['faster_x_1t']):.2f}x {word}",
                    "result": "PASS"})
    return out


def _markdown(doc: dict) -> str:
    lines = [
        "# Every strategy on the built-in model (builtin:digits-cnn on builtin:digits)",
        "",
        f"Command: `flock /tmp/advisor-cpu.lock {doc['command']}` (the lock keeps other benchmarks off the CPU).",
        "",
        md_machine(doc["machine"]),
        f"CPU features: {', '.join(doc['machine']['cpu_features']) or 'none detected'}; onnx {doc['machine']['onnx']}, "
        f"torch-pruning {doc['machine']['torch_pruning']}, numpy {doc['machine']['numpy']}; load average at the end "
        f"{doc['machine']['load_avg_1m_end']:.2f}; training on {doc['settings']['torch_threads']} torch thread(s).",
        f"Latency: batch 1, onnxruntime CPU, {doc['settings']['threads']} thread and "
        f"{doc['settings']['all_threads']} threads, spinning off, all models interleaved in one run "
        f"(~{doc['settings']['seconds']} s of timed runs per model per setting). Accuracy on the 360 test images.",
        "",
        "## Targets (issue 3)",
        "",
        "| target | figure | result |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {t['target']} | {t['figure']} | **{t['result']}** |" for t in doc["targets"]]
    lines += [
        "",
        "## Table",
        "",
        "| strategy | params | accuracy % | Δ pts | size KB | gzip KB | smaller x (raw/gzip) | p50 ms 1t | p90 ms 1t "
        "| faster x 1t | p50 ms all | p90 ms all | faster x all | peak mem MB | compress s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "defaults"
        mem = "n/a" if r["peak_memory_bytes"] < 0 else f"{r['peak_memory_bytes'] / 2**20:.1f}"
        lines.append(
            f"| {r['label']} | {params} | {100 * r['accuracy']:.2f} | {r['accuracy_delta_pts']:+.2f} "
            f"| {r['size_bytes'] / 1024:.1f} | {r['size_gzip_bytes'] / 1024:.1f} "
            f"| {r['smaller_x']} / {r['smaller_gzip_x']} "
            f"| {r['p50_ms_1t']:.3f} | {r['p90_ms_1t']:.3f} | {r['faster_x_1t']} "
            f"| {r['p50_ms_all']:.3f} | {r['p90_ms_all']:.3f} | {r['faster_x_all']} | {mem} | {r['compress_seconds']} |"
        )
    for f in doc["failed"]:
        lines.append(f"| {f['label']} | FAILED: {f['error']} | | | | | | | | | | | | | |")
    lines += [
        "",
        "Compression time is the wall time of the row's steps (training included) on this host; the host is shared, "
        "so other jobs that ignore the lock inflate it (compare rows with the same training, e.g. KD and KD+F16). "
        "Latency ratios are robust to that: every model is timed interleaved in the same run.",
        "",
        "Notes per row (achieved sparsity, channels and MACs kept, student size...) are in bench_table.json.",
    ]
    return "\n".join(lines)


def _versions() -> dict:
    import numpy
    import onnx
    import torch_pruning

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "fphp")
    return {"onnx": onnx.__version__, "numpy": numpy.__version__, "torch_pruning": torch_pruning.__version__,
            "cpu_features": [f for f in wanted if f in flags]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per model per thread setting")
    p.add_argument("--rows", default="", help="comma-separated row labels to run (default: all)")
    p.add_argument("--torch-threads", type=int, default=None, help="threads for training (default: torch's)")
    a = p.parse_args(argv)

    import torch

    if a.torch_threads:
        torch.set_num_threads(a.torch_threads)

    from advisor.measure import MeasureSettings, measure_models
    from advisor.problem import open_problem

    info = machine()
    info.update(_versions())
    settings = MeasureSettings(threads=1, all_threads=info["cores_logical"], seconds=a.seconds)
    wanted = {x.strip() for x in a.rows.split(",") if x.strip()}
    rows = [r for r in ROWS if not wanted or r[0] in wanted or r[0] == "NQ"]
    work = Path(tempfile.mkdtemp(prefix="bench-table-"))
    try:
        quick = MeasureSettings(threads=1, seconds=0.1, memory=False)
        with open_problem("builtin:digits-cnn", "builtin:digits", settings=quick, workdir=work) as problem:
            print(f"compressing {len(rows)} rows", file=sys.stderr)
            entries = _compress_all(problem, rows, work)
            done = [e for e in entries if "model" in e]
            print(f"measuring {len(done)} models interleaved", file=sys.stderr)
            ms = measure_models([e["model"] for e in done], problem.data, reference=problem.reference,
                                compress_seconds=[e["seconds"] for e in done], settings=settings)
        nq = ms[0]
        table = [_row(e, m, nq) for e, m in zip(done, ms, strict=True)]
        by_label = {r["label"]: r for r in table}
        info["load_avg_1m_end"] = os.getloadavg()[0]
        doc = {
            "command": command(),
            "machine": info,
            "settings": {"threads": settings.threads, "all_threads": settings.all_threads, "seconds": settings.seconds,
                         "torch_threads": torch.get_num_threads()},
            "targets": _targets(by_label),
            "rows": table,
            "failed": [{"label": e["label"], "error": e["error"]} for e in entries if "error" in e],
        }
        j, m = write("bench_table", doc, _markdown(doc))
        print(f"wrote {j} and {m}", file=sys.stderr)
        for t in doc["targets"]:
            print(f"{t['result']}: {t['target']} -- {t['figure']}")
        return 0 if all(t["result"] == "PASS" for t in doc["targets"]) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
