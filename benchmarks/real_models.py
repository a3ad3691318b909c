"""`advisor advise` on real models given as plain ONNX, as a new user would run it (issue 11).

    pip install -e '.[bench]'
    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/real_models.py [--only NAME]
        [--training] [--time-budget S] [--out DIR] [--label TEXT]

Builds (or reuses from ``benchmarks/.cache``) the models of ``benchmarks/real_zoo.py`` and runs,
one at a time, in a subprocess each and timing the whole command:

- ``advisor advise --model M.onnx --data M.npz --max-accuracy-drop D --threads 1
  --out DIR`` with nothing else set (``--time-budget S`` only when given) (D: 5 points for the CNNs, 1 for the encoder,
  2 for the streaming model); a fresh knowledge base per run (``ADVISOR_KB``), as on a new
  install;
- on EfficientNet-Lite1, ``advisor compress`` with plain static INT8 (FIQ) and with sensitivity /
  mixed precision (MPQ), for issue 11's mixed-precision target;
- with ``--training``, issue 12's training-based rows on EfficientNet-Lite1 given as a PyTorch
  factory + weights (``benchmarks.real_zoo:efficientnet_lite1``): KD at width 0.5, and SPR at 30%
  (its fine-tuning distils from the original: the crops carry no labels).

It reads back each advice.json (pick, same-run p50 speed-up, size ratio, reported fidelity with
its interval and n, metric, trials, failures), counts duplicate trials (pairs of finished trials
with equal strategy and parameters) in the Optuna study the advice names, and writes
``benchmarks/results/real_models.{json,md}`` with each target of issue 11 (and 12 with
``--training``) marked PASS/MISS next to the figure. One model failing does not stop the others;
its row records the error line. Nothing is installed or downloaded at run time.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import real_zoo  # noqa: E402
from benchmarks._common import RESULTS, advisor_env, machine, md_machine, run_advisor, write  # noqa: E402

__all__ = ["ADVISE_BUDGET", "TRAINING_ROWS", "advise_row", "compress_row", "duplicate_pairs",
           "main", "targets"]

# --max-accuracy-drop per model (points of agreement / cosine / fidelity), as issue 11 sets them.
ADVISE_BUDGET = {"efficientnet-lite1": 5.0, "efficientnet-lite2": 5.0, "encoder": 1.0,
                 "streaming": 2.0}
# (row label, strategy, params, target speed-up, target agreement): issue 12's targets.
TRAINING_ROWS = (
    ("KD width 0.5", "KD", {"KD.width": 0.5}, 1.6, 0.85),
    ("SPR 30% + distillation", "SPR", {"SPR.pruning_ratio": 0.3}, 1.25, 0.90),
)
# (row label, strategy, params): plain static INT8 vs sensitivity / mixed precision (issue 11.4).
SENSITIVITY_ROWS = (("static INT8 (FIQ)", "FIQ", {}), ("mixed precision (MPQ)", "MPQ", {}))
WALL_LIMIT_S = 600.0  # issue 11: whole `advise` <= 10 min
TRAIN_LIMIT_S = 900.0  # issue 12: each training row <= 15 min of compression


# --------------------------------------------------------------------------------------------
# running the CLI


def _run(args: list[str], log: Path, kb: Path, timeout: float) -> dict[str, Any]:
    """Run ``python -m advisor ARGS`` in the repository root; wall time, exit code, error line."""
    cmd = [sys.executable, "-m", "advisor", *args]
    rc, wall, timed_out = run_advisor(args, cwd=ROOT, env=advisor_env(ROOT, kb), stdout=log.with_suffix(".out"),
                                      stderr=log.with_suffix(".err"), timeout=timeout)
    stderr = log.with_suffix(".err").read_text(errors="replace").splitlines()
    error = next((ln.strip().removeprefix("error:").strip() for ln in reversed(stderr)
                  if ln.strip().lower().startswith("error")), None)
    if error is None and rc not in (0, 1):
        error = next((ln.strip() for ln in reversed(stderr) if ln.strip()), f"exit code {rc}")
    if timed_out:
        error = f"killed after {timeout:.0f} s (time box)"
    return {"command": _shown(cmd), "wall_seconds": round(wall, 1), "exit_code": rc, "error": error}


def _shown(cmd: list[str]) -> str:
    """The command as a user types it from the repository root (cache paths shortened)."""
    words = ["python" if c == sys.executable else c for c in cmd]
    return " ".join(w.replace(str(ROOT) + "/", "") for w in words)


# --------------------------------------------------------------------------------------------
# reading figures back


def _wilson(p: float, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion (for advice files that carry no interval)."""
    from scipy.stats import norm

    if n <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.975))
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def quality_of(m: dict[str, Any], test_n: int | None) -> dict[str, Any]:
    """The reported (held-out) quality figure of a measurement dict, with its interval and n.

    Uses ``reported`` when the advisor wrote one; otherwise (older advice files) the single
    figure, its n taken as the test split, and a Wilson interval computed here, said so.
    """
    rep = m.get("reported")
    if rep:
        return {"value": rep["value"], "lo": rep["lo"], "hi": rep["hi"], "n": rep["n"],
                "metric": rep["metric"], "split": rep.get("split"), "method": rep.get("method"),
                "per_output": rep.get("per_output") or {}, "interval_from": "advisor"}
    metric = m.get("metric", "fidelity")
    value = float(m.get(metric, float("nan")))
    out = {"value": value, "lo": None, "hi": None, "n": test_n, "metric": metric,
           "split": "test (fixed split)", "method": None, "per_output": {},
           "interval_from": "none in advice"}
    if test_n and metric in ("accuracy", "fidelity", "agreement") and not math.isnan(value):
        lo, hi = _wilson(value, test_n)
        out.update(lo=round(lo, 4), hi=round(hi, 4), method="wilson",
                   interval_from="computed by the benchmark from value and n")
    return out


def speed_of(m: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """p50 speed-up over the original: same-run ratio when recorded, else against the one-off."""
    p50 = float(m["latency_ms_p50"])
    if m.get("speedup_p50") and "same run" in str(m.get("speedup_against", "")):  # the advisor's own
        return {"speedup_p50": round(float(m["speedup_p50"]), 3), "ratio_source": "same-run", "p50_ms": p50,
                "baseline_p50_ms": round(p50 * float(m["speedup_p50"]), 5)}
    same = ((m.get("extra") or {}).get("baseline_latency") or {}).get("p50_ms") \
        or (m.get("extra") or {}).get("baseline_p50_same_run_ms")
    if same:
        return {"speedup_p50": round(float(same) / p50, 3), "ratio_source": "same-run",
                "p50_ms": p50, "baseline_p50_ms": float(same)}
    b = float(baseline["latency_ms_p50"])
    return {"speedup_p50": round(b / p50, 3), "ratio_source": "one-off baseline (not same-run)",
            "p50_ms": p50, "baseline_p50_ms": b}


def duplicate_pairs(storage: str, study: str) -> dict[str, Any]:
    """Pairs of finished trials in ``study`` with equal strategy and parameters.

    ``measured``: among trials that measured a model (COMPLETE); ``finished``: among every
    COMPLETE or FAIL trial (trials skipped for time or cut short by Ctrl-C are left out).
    """
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=storage)

    def key(t) -> str:
        strategy = t.user_attrs.get("strategy") or t.params.get("strategy", "?")
        params = {k: v for k, v in t.params.items() if k != "strategy"}
        return json.dumps([strategy, params], sort_keys=True, default=str)

    done = [t for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
            if not t.user_attrs.get("skipped") and not t.user_attrs.get("interrupted")]
    out: dict[str, Any] = {"trials": len(done)}
    for name, group in (("measured", [t for t in done if t.state == TrialState.COMPLETE]),
                        ("finished", done)):
        counts = Counter(key(t) for t in group)
        out[name] = sum(c * (c - 1) // 2 for c in counts.values())
        out[f"{name}_repeated"] = {k: c for k, c in counts.items() if c > 1}
    return out


# --------------------------------------------------------------------------------------------
# one row each


def advise_row(model: real_zoo.RealModel, work: Path, time_budget: float | None, threads: int) -> dict:
    """Run ``advisor advise`` on ``model`` as plain ONNX and read its figures back (without
    ``time_budget``, advise's own default: the ``normal`` effort's time limit)."""
    out = work / f"advise-{model.name}"
    drop = ADVISE_BUDGET[model.name]
    args = ["advise", "--model", str(model.onnx), "--data", str(model.data),
            "--max-accuracy-drop", f"{drop:g}", "--threads", str(threads),
            *(["--time-budget", f"{time_budget:g}"] if time_budget is not None else []), "--out", str(out)]
    run = _run(args, work / f"advise-{model.name}", work / f"kb-{model.name}.db",
               timeout=(time_budget or 600.0) * 2 + 600)
    row: dict[str, Any] = {"model": model.name, "kind": "advise", "max_accuracy_drop": drop, **run}
    advice_file = out / "advice.json"
    if not advice_file.exists():
        row["error"] = row["error"] or "no advice.json written"
        return row
    try:
        row.update(_advice_figures(json.loads(advice_file.read_text())))
    except Exception as e:  # noqa: BLE001 - a malformed advice is a result, not a crash
        row["error"] = f"cannot read advice.json: {type(e).__name__}: {e}"
    return row


def _advice_figures(doc: dict[str, Any]) -> dict[str, Any]:
    data, base, comp = doc.get("data") or {}, doc["baseline"], doc.get("compressed")
    trials = doc.get("trials") or {}
    cands = doc.get("candidates") or []
    failures = [{"strategy": c["strategy"], "error": str(c["error"]).splitlines()[0][:300]}
                for c in cands if "error" in c]
    row: dict[str, Any] = {
        "pick": doc.get("strategy"), "params": doc.get("params"),
        "fits_budget": doc.get("fits_budget"),
        "data_split": {k: data.get(k) for k in ("train", "calibration", "validation", "test")
                       if k in data},
        "metric": data.get("metric"), "trials": trials.get("count"),
        "stopped": trials.get("stopped"),
        "search_seconds": trials.get("search_seconds"), "failures": failures,
        "candidates": [{k: c.get(k) for k in ("strategy", "error", "fits", "latency_ms_p50",
                                              "size_bytes", data.get("metric"))
                        if k in c} for c in cands],
        "baseline_p50_ms": base.get("latency_ms_p50"),
        "baseline_size_bytes": base.get("size_bytes"),
        "warnings": [r for r in doc.get("reasons") or [] if "warn" in json.dumps(r).lower()],
    }
    if doc.get("strategy") == "NQ":
        row.update(speedup_p50=1.0, ratio_source="original kept", size_ratio=1.0,
                   quality=quality_of(comp or base, data.get("test")))
    elif comp:
        row.update(speed_of(comp, base))
        row["size_ratio"] = round(base["size_bytes"] / comp["size_bytes"], 3)
        row["quality"] = quality_of(comp, data.get("test"))
        row["latency_source"] = (comp.get("latency") or {}).get("source")
    if trials.get("storage") and trials.get("study"):
        try:
            row["duplicates"] = duplicate_pairs(trials["storage"], trials["study"])
        except Exception as e:  # noqa: BLE001
            row["duplicates"] = {"error": f"{type(e).__name__}: {e}"}
    return row


def compress_row(label: str, model: real_zoo.RealModel, strategy: str, params: dict[str, Any],
                 work: Path, threads: int, torch_source: bool, timeout: float) -> dict:
    """Run ``advisor compress`` with one strategy and read the measurement back."""
    tag = f"compress-{model.name}-{strategy}{'-torch' if torch_source else ''}"
    out = work / tag
    if torch_source:
        src = ["--model", model.factory, "--weights", str(model.weights),
               "--input-shape", model.input_shape]
    else:
        src = ["--model", str(model.onnx)]
    args = ["compress", *src, "--data", str(model.data), "--strategy", strategy,
            *[a for k, v in params.items() for a in ("--param", f"{k}={v}")],
            "--threads", str(threads), "--out", str(out), "--json"]
    run = _run(args, work / tag, work / f"kb-{tag}.db", timeout=timeout)
    row: dict[str, Any] = {"model": model.name, "kind": "compress", "label": label,
                           "strategy": strategy, "params": params,
                           "source": "PyTorch factory + weights" if torch_source else "ONNX", **run}
    try:
        doc = json.loads((work / tag).with_suffix(".out").read_text())
    except (OSError, ValueError):
        row["error"] = row["error"] or "no JSON on stdout"
        return row
    row.update(speed_of(doc, doc["baseline"]))
    row["size_ratio"] = round(doc["baseline"]["size_bytes"] / doc["size_bytes"], 3)
    row["quality"] = quality_of(doc, None)
    row["compress_seconds"] = doc.get("compress_seconds")
    row["notes"] = doc.get("notes")
    return row


# --------------------------------------------------------------------------------------------
# targets


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _q(row: dict[str, Any]) -> dict[str, Any]:
    return row.get("quality") or {}


def _quantized(row: dict[str, Any]) -> bool:
    pick = str(row.get("pick") or "")
    return bool(row.get("fits_budget")) and any(s in pick for s in ("FIQ", "BLQ", "MPQ", "QAT"))


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 11 (and 12 when its rows ran), with its figure and PASS/MISS."""
    by = {(r["model"], r["kind"], r.get("label")): r for r in rows}
    out: list[dict[str, Any]] = []

    def add(what: str, figure: str, ok: bool | None, row: dict[str, Any] | None) -> None:
        out.append({"target": what, "figure": figure, "result": _mark(ok),
                    "command": (row or {}).get("command", ""), "error": (row or {}).get("error")})

    for name in ("efficientnet-lite1", "efficientnet-lite2"):
        r = by.get((name, "advise", None))
        if r is None:
            continue
        q = _q(r)
        sp, sz = r.get("speedup_p50"), r.get("size_ratio")
        add(f"{name} ONNX-only: picks a quantized model", f"pick {r.get('pick')}",
            _quantized(r), r)
        add(f"{name}: pick >= 1.8x faster p50 at 1 thread (same-run)",
            f"{sp}x ({r.get('ratio_source')})" if sp else "no pick",
            bool(sp and sp >= 1.8 and r.get("ratio_source") == "same-run"), r)
        add(f"{name}: pick >= 3.5x smaller", f"{sz}x" if sz else "no pick",
            bool(sz and sz >= 3.5), r)
        add(f"{name}: top-1 agreement >= 0.95 on >= 100 held-out crops, interval printed",
            _qtext(q), bool(q and q.get("value", 0) >= 0.95 and (q.get("n") or 0) >= 100
                            and q.get("interval_from") == "advisor"
                            and q.get("metric") in ("agreement", "top1-agreement", "top-1")), r)
        add(f"{name}: whole `advise` <= 10 min wall", f"{r['wall_seconds']:.0f} s",
            r["wall_seconds"] <= WALL_LIMIT_S and r.get("exit_code") in (0, 1), r)
    fiq = by.get(("efficientnet-lite1", "compress", SENSITIVITY_ROWS[0][0]))
    mpq = by.get(("efficientnet-lite1", "compress", SENSITIVITY_ROWS[1][0]))
    if fiq is not None and mpq is not None:
        qf, qm = _q(fiq), _q(mpq)
        ok = None
        fig = f"MPQ: {mpq.get('error') or _qtext(qm)}; FIQ: {fiq.get('error') or _qtext(qf)}"
        if qf and qm and qf.get("lo") is not None:
            width = qf["hi"] - qf["lo"]
            ok = bool(qm["value"] - qf["value"] >= width and (mpq.get("speedup_p50") or 0) >= 1.5)
            fig += f"; MPQ speed-up {mpq.get('speedup_p50')}x; FIQ interval width {width:.3f}"
        else:
            ok = False
        add("Lite1 sensitivity/mixed precision: agreement above FIQ's by its interval width, "
            ">= 1.5x faster", fig, ok, mpq)
    r = by.get(("encoder", "advise", None))
    if r is not None:
        q, sp = _q(r), r.get("speedup_p50")
        add("encoder: picks a quantized model scored by cosine",
            f"pick {r.get('pick')}, metric {q.get('metric') or r.get('metric')}",
            bool(_quantized(r) and q.get("metric") == "cosine"), r)
        add("encoder: pick >= 1.7x faster (same-run) at cosine >= 0.99",
            f"{sp}x, {_qtext(q)}" if sp else "no pick",
            bool(sp and sp >= 1.7 and r.get("ratio_source") == "same-run"
                 and q.get("metric") == "cosine" and q.get("value", 0) >= 0.99), r)
        add("encoder: whole `advise` <= 10 min wall", f"{r['wall_seconds']:.0f} s",
            r["wall_seconds"] <= WALL_LIMIT_S and r.get("exit_code") in (0, 1), r)
        mask = [f for f in r.get("failures", []) if any(
            w in f["error"].lower() for w in ("finite", "inf", "bins", "range"))]
        add("encoder: no trial fails on the attention mask",
            f"{len(mask)} of {len(r.get('failures', []))} failed trials fail on a calibrated range "
            "(non-finite / too wide)"
            if "failures" in r else "advise did not finish", bool("failures" in r and not mask), r)
    r = by.get(("streaming", "advise", None))
    if r is not None:
        accepted = "failures" in r and r.get("exit_code") in (0, 1)
        add("streaming: the [N, *per-sample shape] data is accepted as given",
            "accepted" if accepted else (r.get("error") or "refused"), accepted, r)
    dups = [(r["model"], r["duplicates"]) for r in rows if isinstance(r.get("duplicates"), dict)
            and "measured" in r["duplicates"]]
    if dups:
        total = sum(d["finished"] for _, d in dups)
        add("0 duplicate trials in any study the benchmark creates",
            ", ".join(f"{m}: {d['finished']}" for m, d in dups), total == 0, None)
    for label, _, _, min_speed, min_agree in TRAINING_ROWS:
        r = by.get(("efficientnet-lite1", "compress", label))
        if r is None:
            continue
        q, sp = _q(r), r.get("speedup_p50")
        fig = r.get("error") or f"{sp}x, {_qtext(q)}, compression {r.get('compress_seconds')} s"
        ok = bool(not r.get("error") and sp and sp >= min_speed and q.get("value", 0) >= min_agree
                  and (r.get("compress_seconds") or 1e9) <= TRAIN_LIMIT_S)
        add(f"Lite1 (PyTorch) {label}: >= {min_speed}x faster, agreement >= {min_agree}, "
            f"<= 15 min compression", fig, ok, r)
    return out


def _qtext(q: dict[str, Any]) -> str:
    if not q or q.get("value") is None:
        return "no figure"
    s = f"{q['metric']} {q['value']:.3f}"
    if q.get("lo") is not None:
        s += f" [{q['lo']:.3f}, {q['hi']:.3f}]"
        if q.get("interval_from") != "advisor":
            s += " (interval computed by the benchmark)"
    else:
        s += " (no interval)"
    return s + (f", n={q['n']}" if q.get("n") else "")


# --------------------------------------------------------------------------------------------
# report


def _reread(row: dict[str, Any]) -> dict[str, Any]:
    """A row's figures read again from the files its run left (``--out``), with this version's
    reading of them; the row as stored when those files are gone."""
    argv = shlex.split(row.get("command") or "")
    if "--out" not in argv:
        return row
    out = Path(argv[argv.index("--out") + 1])
    try:
        if row.get("kind") == "advise" and (out / "advice.json").is_file():
            return {**row, **_advice_figures(json.loads((out / "advice.json").read_text()))}
        if out.with_suffix(".out").is_file():
            doc = json.loads(out.with_suffix(".out").read_text())
            return {**row, **speed_of(doc, doc["baseline"])}
    except (ValueError, KeyError):
        return row
    return row


def combine(parts: list[str], name: str, label: str = "") -> int:
    """Merge the results of several partial runs (each run whole, under the CPU lock) into one
    results file: every row, model and command is kept as measured; targets are re-derived."""
    docs = [json.loads((RESULTS / f"{p}.json").read_text()) for p in parts]
    models: dict[str, dict] = {}
    for d in docs:
        models.update({m["name"]: m for m in d["models"]})
    rows = [_reread(r) for d in docs for r in d["rows"]]
    doc = {"command": "; ".join(d["command"] for d in docs), "label": label,
           "machine": docs[-1]["machine"], "training": any(d.get("training") for d in docs),
           "models": list(models.values()), "rows": rows, "targets": targets(rows), "parts": parts}
    write(name, doc, markdown(doc))
    print(markdown(doc))
    return 0


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Real models as plain ONNX (issue 11{', 12' if doc['training'] else ''})", ""]
    if doc.get("label"):
        lines += [f"**{doc['label']}**", ""]
    lines += [f"Command: `{doc['command']}`", "", md_machine(doc["machine"]), "",
              "## Models", "", "| model | weights | what | samples |", "|---|---|---|---:|"]
    for m in doc["models"]:
        lines.append(f"| {m['name']} | {m['weights_kind']} | {m['note']} | {m['n_samples']} |")
    lines += ["", "## Targets", "", "| target | measured | result |", "|---|---|:-:|"]
    for t in doc["targets"]:
        lines.append(f"| {t['target']} | {t['figure']} | {t['result']} |")
    if any(r["kind"] == "advise" for r in doc["rows"]):
        lines += ["", "## `advisor advise` runs", "",
                  "| model | pick | speed-up p50 | size ratio | fidelity [95% interval], n | trials "
                  "| dup. pairs | failed | wall (s) |", "|---|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in doc["rows"]:
            if r["kind"] != "advise":
                continue
            if "failures" not in r:
                lines.append(f"| {r['model']} | error: {r.get('error')} | | | | | | | "
                             f"{r['wall_seconds']:.0f} |")
                continue
            d = r.get("duplicates") or {}
            lines.append(
                f"| {r['model']} | {r.get('pick')}"
                f"{'' if r.get('fits_budget') else ' (nothing fits)'} | "
                f"{_x(r.get('speedup_p50'))} | {_x(r.get('size_ratio'))} | {_qtext(_q(r))} | "
                f"{r.get('trials')} | {d.get('finished', '?')} | {len(r['failures'])} | "
                f"{r['wall_seconds']:.0f} |")
    for r in doc["rows"]:
        if r["kind"] != "advise" or not r.get("candidates"):
            continue
        metric = r.get("metric")
        lines += ["", f"Trials of the {r['model']} study (selection figures: {metric}; "
                  f"split {r.get('data_split')}; stopped: {r.get('stopped')}):", "",
                  f"| trial | {metric} | p50 (ms) | size (MB) | fits |", "|---|---:|---:|---:|:-:|"]
        for c in r["candidates"]:
            if c.get("error"):
                lines.append(f"| {c['strategy']} | failed: {str(c['error'])[:120]} | | | |")
                continue
            lines.append(f"| {c['strategy']} | {c.get(metric, float('nan')):.4f} | "
                         f"{c.get('latency_ms_p50', float('nan')):.3f} | "
                         f"{(c.get('size_bytes') or 0) / 1e6:.2f} | "
                         f"{'yes' if c.get('fits') else 'no'} |")
    comp = [r for r in doc["rows"] if r["kind"] == "compress"]
    if comp:
        lines += ["", "## `advisor compress` rows", "",
                  "| model (source) | row | speed-up p50 | size ratio | fidelity | compress (s) | "
                  "wall (s) |", "|---|---|---:|---:|---|---:|---:|"]
        for r in comp:
            if r.get("error") and "quality" not in r:
                lines.append(f"| {r['model']} ({r['source']}) | {r['label']} | error: "
                             f"{r['error'][:160]} | | | | {r['wall_seconds']:.0f} |")
                continue
            lines.append(f"| {r['model']} ({r['source']}) | {r['label']} | "
                         f"{_x(r.get('speedup_p50'))} | {_x(r.get('size_ratio'))} | "
                         f"{_qtext(_q(r))} | {r.get('compress_seconds')} | "
                         f"{r['wall_seconds']:.0f} |")
    lines += ["", "## Commands", ""]
    for r in doc["rows"]:
        lines.append(f"- {r['model']} {r['kind']} {r.get('label') or ''}: `{r['command']}`"
                     f"{' -> ' + r['error'] if r.get('error') else ''}")
    fails = [(r["model"], f) for r in doc["rows"] for f in r.get("failures", [])]
    if fails:
        lines += ["", "## Failed trials", ""]
        lines += [f"- {m}: {f['strategy']}: {f['error']}" for m, f in fails]
    lines += ["", "Speed-ups are p50 latency ratios at batch 1, 1 thread, measured in one run with "
              "the original interleaved (`same-run`) unless the row says otherwise. Fidelity is "
              "the figure the advice reports for its pick on held-out samples. The crops come from "
              "two photos (a narrow distribution); the encoder's sentences are standard-library "
              "docstrings."]
    return "\n".join(lines)


def _x(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}x"


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=real_zoo.NAMES, action="append",
                    help="run only this model (repeatable)")
    ap.add_argument("--training", action="store_true",
                    help="add issue 12's training-based rows on EfficientNet-Lite1 (PyTorch)")
    ap.add_argument("--no-advise", action="store_true",
                    help="skip the advise runs (only the compress rows)")
    ap.add_argument("--no-sensitivity", action="store_true",
                    help="skip the FIQ vs MPQ compress rows on EfficientNet-Lite1")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="--time-budget of each advise run, seconds (default: none given, advise's own)")
    ap.add_argument("--train-timeout", type=float, default=TRAIN_LIMIT_S + 600,
                    help="time box of each training row, seconds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None,
                    help="keep the advice folders here (default: a temporary folder, removed)")
    ap.add_argument("--name", default="real_models", help="results file name")
    ap.add_argument("--label", default="", help="a line printed at the top of the results")
    ap.add_argument("--combine", nargs="+", metavar="PART", default=None,
                    help="measure nothing: merge the results files PART.json (runs of parts of this "
                         "benchmark, e.g. --only ... --name PART) into --name, rows and commands kept")
    args = ap.parse_args(argv)

    info = machine()
    work = args.out or Path(tempfile.mkdtemp(prefix="real-models-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.combine:
        return combine(args.combine, args.name, args.label)
    names = args.only or list(real_zoo.NAMES)
    models, rows = [], []
    for name in names:
        try:
            model = real_zoo.build(name)
        except Exception as e:  # noqa: BLE001 - a model that cannot be built is a result
            rows.append({"model": name, "kind": "advise", "wall_seconds": 0.0, "command": "",
                         "error": f"build failed: {type(e).__name__}: {e}"})
            continue
        models.append(model)
        if not args.no_advise:
            print(f"[{time.strftime('%H:%M:%S')}] advise {name}", flush=True)
            rows.append(advise_row(model, work, args.time_budget, args.threads))
            print(f"    -> {_summary(rows[-1])}", flush=True)
        if name == "efficientnet-lite1" and not args.no_sensitivity:
            for label, strategy, params in SENSITIVITY_ROWS:
                print(f"[{time.strftime('%H:%M:%S')}] compress {name} {strategy}", flush=True)
                rows.append(compress_row(label, model, strategy, params, work, args.threads,
                                         torch_source=False, timeout=(args.time_budget or 600.0) + 600))
                print(f"    -> {_summary(rows[-1])}", flush=True)
        if name == "efficientnet-lite1" and args.training:
            for label, strategy, params, _, _ in TRAINING_ROWS:
                print(f"[{time.strftime('%H:%M:%S')}] compress {name} {label}", flush=True)
                rows.append(compress_row(label, model, strategy, params, work, args.threads,
                                         torch_source=True, timeout=args.train_timeout))
                print(f"    -> {_summary(rows[-1])}", flush=True)
    argv_shown = shlex.join(argv if argv is not None else sys.argv[1:])
    doc = {
        "command": ("flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/real_models.py "
                    f"{argv_shown}").strip(),
        "label": args.label, "machine": info, "training": args.training,
        "models": [m.to_dict() for m in models], "rows": rows, "targets": targets(rows),
    }
    write(args.name, doc, markdown(doc))
    print(markdown(doc))
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _summary(row: dict[str, Any]) -> str:
    if row.get("error") and "quality" not in row:
        return f"error: {row['error']} ({row.get('wall_seconds')} s)"
    return (f"{row.get('pick') or row.get('label')}: {_x(row.get('speedup_p50'))}, "
            f"{_x(row.get('size_ratio'))} smaller, {_qtext(_q(row))}, {row.get('wall_seconds')} s")


if __name__ == "__main__":
    raise SystemExit(main())
