"""Decisions that hold (issue 19): the same `advise` run again and again, as a new user would.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/decisions.py [--only NAME] [--runs N]

Rows (``--only`` repeatable; without it, all of them in this order):

- ``lite1``: EfficientNet-Lite1 as plain ONNX with the 700 labelled ImageNet photos
  (``benchmarks/imagenet.py``: accuracy against labels), ``--max-accuracy-drop 2``, 3 runs;
- ``lite1-2100``: the same with 2,100 samples (each photo + two augmentations, ``groups`` = photo),
  1 run: racing's cost against the 700;
- ``lite2``: EfficientNet-Lite2 the same way as ``lite1`` (260 px), 1 run;
- ``encoder``: the trained all-MiniLM-L6-v2 encoder of ``benchmarks/real_zoo.py`` (256 sentences,
  cosine), ``--max-accuracy-drop 1``, 3 runs;
- ``streaming``: the streaming GRU of ``real_zoo.py``, ``--max-accuracy-drop 2``, 1 run;
- ``demo``: ``advisor demo``, 3 runs;
- ``noise``: the original EfficientNet-Lite1 timed 10 times back to back with
  ``advisor.measure.latency.time_models`` at the saved profile's suggested threads (each run's
  ``spread`` and ``retimed``).

Every `advise`/`demo` run is ``python -m advisor ...`` in a subprocess from this checkout
(``PYTHONPATH`` = the repository root), with default settings except the budget, a fresh
knowledge base (``ADVISOR_KB``) and a fresh ``--out`` folder (kept under
``benchmarks/.cache/decisions/``, git-ignored); the whole command is timed, the load average is
recorded at its start and end, and so are the cores other processes used meanwhile. Each run's
advice.json gives the pick, its same-run speed-up with interval, its validation drop with bounds
(n of the split, looks), the test confirmation, the exit code and the ties.

Results: ``benchmarks/results/decisions.{json,md}``. A run with ``--only`` replaces only those
rows of the existing results (``--fresh`` starts them anew); each target is derived from the rows
present and marked PASS/MISS next to its figure, with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import imagenet, real_zoo  # noqa: E402
from benchmarks._common import RESULTS, advisor_env, machine, md_machine, run_advisor, write  # noqa: E402

__all__ = ["ROWS", "main", "targets", "advice_figures", "same_pick"]

NAME = "decisions"
LOCK = "flock /tmp/advisor-cpu.lock"
CMD = f"{LOCK} .venv/bin/python benchmarks/decisions.py"
WORK = real_zoo.CACHE / "decisions"
QUANTIZED = ("FIQ", "MPQ", "BLQ", "QAT", "F16")  # F16 is not INT8 but it is a quantized pick
INT8 = ("FIQ", "MPQ", "BLQ", "QAT")
WALL_LIMIT_S = 600.0
RACE_RATIO = 1.5
NOISE_LIMIT = 0.05

# name -> what runs: kind, model, data, budget (points), default runs
ROWS: dict[str, dict[str, Any]] = {
    "lite1": {"kind": "advise", "model": "efficientnet-lite1", "data": ("lite1", False), "drop": 2.0, "runs": 3},
    "lite1-2100": {"kind": "advise", "model": "efficientnet-lite1", "data": ("lite1", True), "drop": 2.0,
                   "runs": 1},
    "lite2": {"kind": "advise", "model": "efficientnet-lite2", "data": ("lite2", False), "drop": 2.0, "runs": 1},
    "encoder": {"kind": "advise", "model": "encoder", "data": None, "drop": 1.0, "runs": 3},
    "streaming": {"kind": "advise", "model": "streaming", "data": None, "drop": 2.0, "runs": 1},
    "demo": {"kind": "demo", "runs": 3},
    "noise": {"kind": "noise", "runs": 10},
}


# --------------------------------------------------------------------------------------------
# load: the load average and the cores other processes used during a run


class Load:
    """Load average at start and end, and the cores other processes kept busy in between (system
    busy CPU time minus this process's and its waited children's, over the wall time)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.start = os.getloadavg()
        self._t0 = time.perf_counter()
        self._sys0 = self._busy()
        self._own0 = self._own()

    def _busy(self) -> float:
        c = self._psutil.cpu_times()
        return sum(c) - c.idle - getattr(c, "iowait", 0.0)

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def done(self) -> dict[str, Any]:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        others = (self._busy() - self._sys0 - (self._own() - self._own0)) / wall
        return {"load_start": [round(v, 2) for v in self.start],
                "load_end": [round(v, 2) for v in os.getloadavg()],
                "other_cores": round(max(others, 0.0), 2)}


# --------------------------------------------------------------------------------------------
# running the CLI


def _run(args: list[str], work: Path, kb: Path, timeout: float) -> dict[str, Any]:
    """``python -m advisor ARGS`` from the repository root, timed end to end, with its own KB."""
    cmd = [sys.executable, "-m", "advisor", *args]
    load = Load()
    rc, wall, timed_out = run_advisor(args, cwd=ROOT, env=advisor_env(ROOT, kb), stdout=work / "stdout.txt",
                                      stderr=work / "stderr.txt", timeout=timeout)
    error = None
    if rc not in (0, 1, 3):
        lines = (work / "stderr.txt").read_text(errors="replace").splitlines()
        error = next((ln.strip() for ln in reversed(lines) if ln.strip()), f"exit code {rc}")
    if timed_out:
        error = f"killed after {timeout:.0f} s (time box)"
    shown = " ".join("python" if c == sys.executable else c.replace(str(ROOT) + "/", "") for c in cmd)
    return {"command": shown, "wall_seconds": round(wall, 1), "exit_code": rc, "error": error,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **load.done()}


def _model_and_data(spec: dict[str, Any]) -> tuple[Path, Path, str]:
    model = real_zoo.build(spec["model"])
    if spec["data"] is None:
        return model.onnx, model.data, model.note
    variant, aug = spec["data"]
    data = imagenet.build(variant, aug)
    return model.onnx, data.path, data.note


def run_one(name: str, index: int, stamp: str) -> dict[str, Any]:
    """One `advise` or `demo` run of row ``name``; its figures read back from advice.json."""
    spec = ROWS[name]
    work = WORK / f"{stamp}-{name}-{index}"
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    if spec["kind"] == "demo":
        args = ["demo", "--out", str(out)]
        note = "advisor demo (builtin:digits-cnn, builtin:digits, mid tier)"
    else:
        onnx, data, note = _model_and_data(spec)
        args = ["advise", "--model", str(onnx), "--data", str(data), "--max-accuracy-drop", f"{spec['drop']:g}",
                "--out", str(out)]
    row: dict[str, Any] = {"name": name, "run": index, "kind": spec["kind"], "data_note": note,
                           "work": str(work), **_run(args, work, work / "kb.db", timeout=3600)}
    advice = out / "advice.json"
    if not advice.is_file():
        row["error"] = row["error"] or "no advice.json written"
        return row
    try:
        row.update(advice_figures(json.loads(advice.read_text())))
    except Exception as e:  # noqa: BLE001 - a malformed advice is a result, not a crash
        row["error"] = f"cannot read advice.json: {type(e).__name__}: {e}"
    return row


# --------------------------------------------------------------------------------------------
# reading advice.json


def base_label(label: str | None) -> str:
    """``FIQ(calibration_size=300) #3`` -> ``FIQ(calibration_size=300)``: the candidate, not its trial."""
    return re.sub(r"\s+#\d+$", "", str(label or ""))


def _drop(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if not d:
        return None
    return {k: d.get(k) for k in ("value", "lo", "hi", "n", "of", "looks", "groups", "method", "split",
                                  "confidence", "metric")}


def trial_seconds(trials: dict[str, Any]) -> dict[int, float]:
    """Wall seconds of each finished trial of the advice's study (compression + measuring)."""
    if not trials.get("storage") or not trials.get("study"):
        return {}
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=trials["study"], storage=trials["storage"])
    except Exception:  # noqa: BLE001 - the study file may be gone: the figure is then absent
        return {}
    return {t.number: round((t.datetime_complete - t.datetime_start).total_seconds(), 1)
            for t in study.get_trials(deepcopy=False) if t.datetime_complete and t.datetime_start
            and t.state.name in ("COMPLETE", "FAIL")}


def _trial_number(label: str) -> int | None:
    m = re.search(r"#(\d+)$", label)
    return int(m.group(1)) if m else None


def advice_figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The figures of one advice.json the targets read."""
    comp, conf, data = doc.get("compressed") or {}, doc.get("confirmation") or {}, doc.get("data") or {}
    trials = doc.get("trials") or {}
    durations = trial_seconds(trials)
    cands = []
    for c in doc.get("candidates") or []:
        if "error" in c:
            cands.append({"strategy": c["strategy"], "error": str(c["error"]).splitlines()[0][:200]})
            continue
        cands.append({"strategy": c["strategy"], "drop": _drop(c.get("drop")), "speedup_p50": c.get("speedup_p50"),
                      "speedup_p50_interval": c.get("speedup_p50_interval"), "verdicts": c.get("verdicts"),
                      "fits": c.get("fits"), "size_bytes": c.get("size_bytes"),
                      "latency_ms_p50": c.get("latency_ms_p50"), "compress_seconds": c.get("compress_seconds"),
                      "trial_seconds": durations.get(_trial_number(c["strategy"]))})
    val = _drop(comp.get("drop")) if comp else None
    test = _drop(conf.get("drop")) if conf else None
    inside = None
    if val and test and doc.get("strategy") != "NQ":
        inside = bool(val["lo"] - 1e-9 <= test["value"] <= val["hi"] + 1e-9)
    used = [c["drop"]["n"] / c["drop"]["of"] for c in cands if c.get("drop") and c["drop"].get("of")]
    lat = comp.get("latency") or {}
    pick = doc.get("strategy")
    return {
        "status": doc.get("status"), "advice_exit_code": doc.get("exit_code"), "headline": doc.get("headline"),
        "pick": pick, "pick_base": base_label(pick), "params": doc.get("params"),
        "int8": any(base_label(pick).startswith(s) for s in INT8),
        "quantized": any(s in base_label(pick) for s in QUANTIZED),
        "speedup_p50": comp.get("speedup_p50"), "speedup_p50_interval": comp.get("speedup_p50_interval"),
        "latency": {k: lat.get(k) for k in ("p50_ms", "p90_ms", "threads", "spinning", "spread", "retimed",
                                            "source")},
        "baseline_latency": {k: (comp.get("baseline_latency") or {}).get(k)
                             for k in ("p50_ms", "p90_ms", "spread", "retimed")},
        "size_ratio": (round(doc["baseline"]["size_bytes"] / comp["size_bytes"], 3)
                       if comp.get("size_bytes") else None),
        "val_drop": val, "test": ({"state": conf.get("state"), "confirmed": conf.get("confirmed"),
                                   "drop": test, "figure": conf.get("figure")} if conf else None),
        "test_inside_val_interval": inside,
        "checked_on_test": [{"candidate": c.get("candidate"), "state": c.get("state"),
                             "drop": _drop(c.get("drop"))} for c in doc.get("checked_on_test") or []],
        "nearest_confirmed": doc.get("nearest_confirmed"),
        "ties": doc.get("ties") or [], "ties_base": sorted({base_label(t) for t in doc.get("ties") or []}),
        "final_race": doc.get("final_race"), "binding_constraint": doc.get("binding_constraint"),
        "data": {k: data.get(k) for k in ("metric", "policy", "calibration", "validation", "test", "grouped",
                                          "resolvable_limit_pts")},
        "device_threads": (doc.get("device") or {}).get("threads"),
        "trials": trials.get("count"), "stopped": trials.get("stopped"),
        "search_seconds": trials.get("search_seconds"),
        "samples_used": round(mean(used), 3) if used else None,
        "candidates": cands,
    }


# --------------------------------------------------------------------------------------------
# timing noise


def noise_runs(runs: int) -> list[dict[str, Any]]:
    """The original EfficientNet-Lite1 (ONNX) timed ``runs`` times back to back, at the threads and
    spinning the saved profile of this device suggests (else 1 thread, no spinning)."""
    import numpy as np

    from advisor.jobs import saved_profile_of_this_device
    from advisor.measure.latency import time_models

    model = real_zoo.build("efficientnet-lite1")
    data = imagenet.build("lite1", False)
    with np.load(data.path) as d:
        feed = {"input": np.ascontiguousarray(d["input"][:1])}
    profile = saved_profile_of_this_device(ROOT / "profiles")
    settings = profile.measure_settings() if profile is not None else None
    # no saved profile of this machine: the profiler's rule, every core but one, no spinning
    threads = settings.threads if settings is not None else max(1, (os.cpu_count() or 2) - 1)
    spinning = settings.spinning if settings is not None else False
    rows = []
    for i in range(runs):
        load = Load()
        t0 = time.perf_counter()
        (st,) = time_models([model.onnx], feed, threads=threads, spinning=spinning)
        rows.append({"name": "noise", "run": i, "kind": "noise", "wall_seconds": round(time.perf_counter() - t0, 1),
                     "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "threads": threads, "spinning": spinning,
                     "profile": getattr(profile, "name", None) or "none saved for this machine (every core but one)",
                     "p50_ms": round(st.p50_ms, 4),
                     "p90_ms": round(st.p90_ms, 4), "runs": st.runs, "spread": round(st.spread or 0.0, 4),
                     "retimed": st.retimed, "blocks_p50": [round(v, 4) for v in st.blocks_p50 or ()],
                     "command": f"{CMD} --only noise", **load.done()})
        print(f"    noise {i}: p50 {st.p50_ms:.3f} ms, spread {100 * (st.spread or 0):.1f}%, "
              f"retimed {st.retimed}", flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# targets


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def same_pick(rows: list[dict[str, Any]]) -> tuple[bool, list[str]]:
    """Every run's pick is the same as each other run's, or among that run's listed ties."""
    bad = []
    for a in rows:
        for b in rows:
            if a is b:
                continue
            if a.get("pick_base") != b.get("pick_base") and a.get("pick_base") not in (b.get("ties_base") or []):
                bad.append(f"run {a['run']}'s {a.get('pick_base')} not in run {b['run']}'s ties")
    return not bad, bad


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("error") and r.get("pick")]


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _speed(r: dict[str, Any]) -> str:
    iv = r.get("speedup_p50_interval")
    if r.get("speedup_p50") is None:
        return "-"
    return f"{r['speedup_p50']:.2f}x" + (f" [{iv[0]:.2f}, {iv[1]:.2f}]" if iv else "")


def _dtext(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    used = f"n={d['n']}" + (f"/{d['of']}" if d.get("of") and d["of"] != d["n"] else "")
    return f"{d['value']:.2f} [{d['lo']:.2f}, {d['hi']:.2f}] {used}"


def _overlap(r: dict[str, Any]) -> str:
    """Whether the test drop's own interval overlaps the validation one (context for a miss)."""
    v, t = r.get("val_drop") or {}, (r.get("test") or {}).get("drop") or {}
    if not v or not t:
        return ""
    return f" (the two intervals {'overlap' if t['lo'] <= v['hi'] and v['lo'] <= t['hi'] else 'do not overlap'})"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _fastest(rows: list[dict[str, Any]]) -> str:
    """The fastest candidate that met the budget in any of ``rows`` (what the hardware allowed)."""
    best = max(((c.get("speedup_p50") or 0.0, c["strategy"]) for r in rows for c in r.get("candidates") or []
                if c.get("fits")), default=None)
    return "" if best is None else f"; fastest candidate meeting the budget in any run: {best[1]} {best[0]:.2f}x"


def _loads(rows: list[dict[str, Any]]) -> str:
    vals = [v for r in rows for v in (r.get("load_start", [None])[0], r.get("load_end", [None])[0])
            if v is not None]
    oth = [r["other_cores"] for r in rows if r.get("other_cores") is not None]
    if not vals:
        return ""
    return (f"load {min(vals):.1f}-{max(vals):.1f}" + (f", other processes {min(oth):.1f}-{max(oth):.1f} cores"
                                                       if oth else ""))


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 19 the rows present can judge, with its figure and PASS/MISS."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    out: list[dict[str, Any]] = []

    def add(target: str, figure: str, ok: bool | None, name: str, rs: list[dict[str, Any]]) -> None:
        runs = len(rs)
        cmd = f"{CMD} --only {name}" + (f" --runs {runs}" if runs != ROWS[name]["runs"] else "")
        out.append({"target": target, "figure": figure, "result": _mark(ok), "command": cmd, "load": _loads(rs)})

    rs = by.get("lite1", [])
    if rs:
        ok = _ok(rs)
        fast = [r for r in ok if r["int8"] and (r.get("speedup_p50") or 0) >= 1.8]
        add(f"Lite1 (700 photos, drop <= 2): a quantized pick >= 1.8x faster (same-run) in {len(rs)} of {len(rs)}",
            ("; ".join(f"{r.get('pick')} {_speed(r)}" for r in ok) or "no pick") + _fastest(ok),
            len(fast) == len(rs), "lite1", rs)
        conf = [r for r in ok if r.get("status") == "confirmed"]
        add(f"Lite1: confirmed on test in {len(rs)} of {len(rs)}",
            f"{len(conf)} of {len(rs)} (" + "; ".join(
                f"{(r.get('test') or {}).get('state')} {_dtext((r.get('test') or {}).get('drop'))}" for r in ok) + ")",
            len(conf) == len(rs), "lite1", rs)
        same, bad = same_pick(ok)
        add("Lite1: picks within one another's ties", "yes" if same and len(ok) == len(rs) else "; ".join(bad)
            or "runs failed", same and len(ok) == len(rs), "lite1", rs)
        walls = [r["wall_seconds"] for r in rs]
        add("Lite1: each run <= 10 min wall", ", ".join(f"{w:.0f} s" for w in walls),
            all(w <= WALL_LIMIT_S for w in walls) and len(ok) == len(rs), "lite1", rs)
    big = by.get("lite1-2100", [])
    if rs and big:
        small_wall = mean(r["wall_seconds"] for r in rs)
        big_wall = mean(r["wall_seconds"] for r in big)
        ratio = big_wall / small_wall

        def use(group: list[dict[str, Any]]) -> str:
            u = [r["samples_used"] for r in group if r.get("samples_used") is not None]
            t = [r.get("trials") for r in group if r.get("trials") is not None]
            meas: dict[str, list[float]] = {}
            for r in group:
                for c in r.get("candidates") or []:
                    if c.get("trial_seconds") is not None and c.get("compress_seconds") is not None:
                        meas.setdefault(base_label(c["strategy"]), []).append(
                            c["trial_seconds"] - c["compress_seconds"])
            return ((f"races used {100 * mean(u):.0f}% of validation on average" if u else "no races")
                    + (f", {mean(t):.1f} trials" if t else "")
                    + (", measuring s per trial (trial minus compression): "
                       + ", ".join(f"{k} {mean(v):.0f}" for k, v in meas.items()) if meas else ""))
        add(f"Racing: 2,100 samples cost <= {RACE_RATIO}x the wall time of the 700",
            f"{big_wall:.0f} s vs {small_wall:.0f} s (mean of {len(rs)}): {ratio:.2f}x; 700: {use(rs)}; 2,100: "
            f"{use(big)}", ratio <= RACE_RATIO and not any(r.get("error") for r in big), "lite1-2100", big)
    for name, label in (("encoder", "Encoder (drop <= 1)"),):
        es = by.get(name, [])
        if es:
            ok = _ok(es)
            fast = [r for r in ok if (r.get("speedup_p50") or 0) >= 2.0 and r.get("pick_base") != "NQ"]
            add(f"{label}: a pick >= 2x faster same-run in {len(es)} of {len(es)}",
                ("; ".join(f"{r.get('pick')} {_speed(r)}" for r in ok) or "no pick") + _fastest(ok),
                len(fast) == len(es), name, es)
    for name, label in (("lite1", "Lite1"), ("lite2", "Lite2"), ("encoder", "encoder"), ("streaming", "streaming"),
                        ("lite1-2100", "Lite1 (2,100)"), ("demo", "demo (context)")):
        ms = by.get(name, [])
        if not ms:
            continue
        checks = [r.get("test_inside_val_interval") for r in _ok(ms)]
        fig = "; ".join(
            f"{r.get('pick_base')}: test {_dtext((r.get('test') or {}).get('drop'))} in validation "
            f"{_dtext(r.get('val_drop'))}: {'yes' if r.get('test_inside_val_interval') else 'no'}"
            f"{'' if r.get('test_inside_val_interval') else _overlap(r)}"
            if r.get("test_inside_val_interval") is not None else f"{r.get('pick_base') or r.get('error')}: no drop"
            for r in ms)
        add(f"{label}: the pick's test drop inside its validation drop's interval "
            f"({sum(bool(c) for c in checks)} of {len(ms)} runs)", fig,
            bool(checks) and len(checks) == len(ms) and all(c is True for c in checks), name, ms)
    ds = by.get("demo", [])
    if ds:
        ok = _ok(ds)
        conf = [r for r in ok if r.get("status") == "confirmed"]
        add(f"Demo: pick confirmed on test in {len(ds)} of {len(ds)}",
            f"{len(conf)} of {len(ds)}: " + "; ".join(
                f"{r.get('pick')} {(r.get('test') or {}).get('state')} "
                f"{_dtext((r.get('test') or {}).get('drop'))}" for r in ok), len(conf) == len(ds), "demo", ds)
        same, bad = same_pick(ok)
        add("Demo: each run's pick the same or among the other runs' ties",
            "yes: " + ", ".join(sorted({r['pick_base'] for r in ok})) if same and len(ok) == len(ds)
            else "; ".join(bad) or "runs failed", same and len(ok) == len(ds), "demo", ds)
    ns = by.get("noise", [])
    if ns:
        worst = max(r["spread"] for r in ns)
        add(f"Timing noise: original Lite1 timed {len(ns)} times, p50 block spread <= +-5% in every run",
            f"worst +-{100 * worst:.1f}% (runs: " + ", ".join(f"{100 * r['spread']:.1f}%" for r in ns)
            + f"; retimed {sum(r['retimed'] for r in ns)} blocks in all; {ns[0]['threads']} thread(s))",
            worst <= NOISE_LIMIT, "noise", ns)
    return out


# --------------------------------------------------------------------------------------------
# report


def int8_isa() -> list[str]:
    """The CPU's INT8 dot-product instruction sets (what static/dynamic INT8 speed-ups depend on)."""
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]


def markdown(doc: dict[str, Any]) -> str:
    rows = doc["rows"]
    isa = doc["machine"].get("int8_isa")
    lines = ["# Decisions that hold (issue 19)", "",
             f"Full run: `{CMD}` (one row: `--only NAME [--runs N]`).", "", md_machine(doc["machine"])
             + (f" INT8-relevant instruction sets: {', '.join(isa) or 'none'}." if isa is not None else ""), "",
             "Preliminary figures on the shared 2-core VM: each row records the load average at its start and "
             "end and the cores other processes used meanwhile.", "",
             "## Targets", "", "| target | figure | result | load | command |", "|---|---|:-:|---|---|"]
    for t in doc["targets"]:
        lines.append(f"| {t['target']} | {t['figure']} | {t['result']} | {t['load']} | `{t['command']}` |")
    adv = [r for r in rows if r["kind"] in ("advise", "demo")]
    if adv:
        lines += ["", "## Runs", "",
                  "| row | run | status (exit) | pick | speed-up p50 same run [bounds] | validation drop pt [bounds] "
                  "n/of | test drop pt [bounds] n: state | test in val. interval | ties | trials | races used "
                  "| wall (s) | load start/end | other cores |",
                  "|---|---:|---|---|---|---|---|:-:|---|---:|---:|---:|---|---:|"]
        for r in adv:
            if r.get("error") and not r.get("pick"):
                lines.append(f"| {r['name']} | {r['run']} | error (exit {r.get('exit_code')}): {r['error'][:120]} "
                             f"| | | | | | | | | {r['wall_seconds']:.0f} | | |")
                continue
            t = r.get("test") or {}
            inside = r.get("test_inside_val_interval")
            lines.append(
                f"| {r['name']} | {r['run']} | {r.get('status')} ({r.get('exit_code')}) | {r.get('pick')} | "
                f"{_speed(r)} | {_dtext(r.get('val_drop'))} | {_dtext(t.get('drop'))}: {t.get('state', '-')} | "
                f"{'-' if inside is None else ('yes' if inside else 'no')} | "
                f"{', '.join(r.get('ties') or []) or '-'} | {r.get('trials')} | "
                f"{_pct(r.get('samples_used'))} | "
                f"{r['wall_seconds']:.0f} | {r['load_start'][0]:.1f} / {r['load_end'][0]:.1f} | "
                f"{r.get('other_cores')} |")
        lines += ["", "Data of each row: " + "; ".join(sorted({f"{r['name']}: {r['data_note']}" for r in adv}))]
        for r in adv:
            if not r.get("candidates"):
                continue
            d = r.get("data") or {}
            lines += ["", f"### {r['name']} run {r['run']}: candidates", "",
                      f"Metric {d.get('metric')}; split calibration {d.get('calibration')} / validation "
                      f"{d.get('validation')} / test {d.get('test')}"
                      f"{' (grouped)' if d.get('grouped') else ''}; resolvable limit "
                      f"{d.get('resolvable_limit_pts')}; threads {r.get('device_threads')}; search "
                      f"{r.get('search_seconds')} s, stopped: {r.get('stopped')}; final race "
                      f"{json.dumps(r.get('final_race'))}; headline: {r.get('headline')}", "",
                      "| candidate | drop pt [bounds] n/of (looks) | speed-up p50 [bounds] | verdicts |",
                      "|---|---|---|---|"]
            for c in r["candidates"]:
                if c.get("error"):
                    lines.append(f"| {c['strategy']} | failed: {c['error'][:100]} | | |")
                    continue
                dd = c.get("drop") or {}
                verdicts = ", ".join(f"{k} {v}" for k, v in (c.get("verdicts") or {}).items())
                lines.append(f"| {c['strategy']} | {_dtext(dd)} ({dd.get('looks')}) | {_speed(c)} | {verdicts} |")
    ns = [r for r in rows if r["kind"] == "noise"]
    if ns:
        lines += ["", "## Timing noise: the original EfficientNet-Lite1, back to back", "",
                  f"`advisor.measure.latency.time_models` on the Lite1 ONNX, batch 1 (the first photo), "
                  f"{ns[0]['threads']} thread(s), spinning {ns[0]['spinning']} (the saved profile "
                  f"{ns[0]['profile']}'s suggestion); spread = half-range of the ten block p50s over their median.",
                  "", "| run | p50 ms | p90 ms | timed runs | spread | retimed | load start/end | other cores |",
                  "|---:|---:|---:|---:|---:|---:|---|---:|"]
        for r in ns:
            lines.append(f"| {r['run']} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['runs']} | "
                         f"+-{100 * r['spread']:.1f}% | {r['retimed']} | {r['load_start'][0]:.1f} / "
                         f"{r['load_end'][0]:.1f} | {r['other_cores']} |")
    lines += ["", "## Commands", ""]
    for r in adv:
        lines.append(f"- {r['name']} run {r['run']} ({r['date']}): `{r['command']}`")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=list(ROWS), action="append", help="run only this row (repeatable)")
    ap.add_argument("--runs", type=int, default=None, help="runs per row (default: 3 for lite1, encoder and demo, "
                    "1 for lite1-2100, lite2 and streaming, 10 timings for noise)")
    ap.add_argument("--fresh", action="store_true", help="drop every earlier row of the results file")
    ap.add_argument("--name", default=NAME, help="results file name")
    ap.add_argument("--render", action="store_true", help="measure nothing: derive the targets and the Markdown "
                    "again from the results file")
    args = ap.parse_args(argv)
    names = args.only or list(ROWS)
    prev = RESULTS / f"{args.name}.json"
    old = json.loads(prev.read_text())["rows"] if prev.is_file() and not args.fresh else []
    rows = [r for r in old if r["name"] not in names]
    if args.render:
        old = [_reread(r) for r in old]
        rows = [r for r in old if r["name"] not in names]
        kept = json.loads(prev.read_text())["machine"]
        doc = _save(args.name, {"int8_isa": int8_isa(), **kept}, rows + [r for r in old if r["name"] in names], names)
        print(markdown(doc))
        return 0
    info = {**machine(), "int8_isa": int8_isa()}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    new: list[dict[str, Any]] = []
    for name in names:
        runs = args.runs or ROWS[name]["runs"]
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {runs} run(s)", flush=True)
        if ROWS[name]["kind"] == "noise":
            new += noise_runs(runs)
            continue
        for i in range(runs):
            r = run_one(name, i, stamp)
            new.append(r)
            print(f"    run {i}: {r.get('status') or r.get('error')} {r.get('pick')} {_speed(r)} "
                  f"val {_dtext(r.get('val_drop'))} test {_dtext((r.get('test') or {}).get('drop'))} "
                  f"exit {r.get('exit_code')} {r['wall_seconds']:.0f} s (load {r['load_start'][0]:.1f})", flush=True)
        _save(args.name, info, rows + new, names)  # keep what ran so far
    doc = _save(args.name, info, rows + new, names)
    print(markdown(doc))
    return 0


def _reread(row: dict[str, Any]) -> dict[str, Any]:
    """A run's figures read again from its advice.json (when its folder is still here)."""
    advice = Path(row.get("work") or "/nonexistent") / "out" / "advice.json"
    if row.get("kind") not in ("advise", "demo") or not advice.is_file():
        return row
    return {**row, **advice_figures(json.loads(advice.read_text()))}


def _save(name: str, info: dict[str, Any], rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    order = list(ROWS)
    rows = sorted(rows, key=lambda r: (order.index(r["name"]), r["run"]))
    doc = {"command": CMD, "last_run": f"{CMD} " + " ".join(f"--only {n}" for n in names), "machine": info,
           "rows": rows, "targets": targets(rows)}
    write(name, doc, markdown(doc))
    return doc


if __name__ == "__main__":
    raise SystemExit(main())
