"""Write the advice folder: ``model.onnx`` (or ``nearest.onnx``), ``advice.json``, ``advice.md``
and ``pareto.png``. Every file is written atomically; ``advice.json`` goes last."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from advisor.advice import Advice, latency_label, pareto_front, speedup
from advisor.budget import same_run_baseline
from advisor.fileio import atomic_copy, atomic_write_bytes, atomic_write_text, inside
from advisor.types import Measurement

__all__ = ["write_advice", "markdown", "pareto_png", "table_rows", "latency_heading"]


def write_advice(advice: Advice, out: Path) -> dict[str, Path]:
    """Write the four files into ``out`` (already checked by ``prepare_out_dir``)."""
    out = Path(out)
    d = advice.to_dict()
    shown = advice.shown
    name = "model.onnx" if advice.fits else "nearest.onnx"
    model_src = shown.model_path or advice.problem.model.onnx_path
    paths = {"model": inside(out, name), "json": inside(out, "advice.json"),
             "md": inside(out, "advice.md"), "plot": inside(out, "pareto.png")}
    atomic_copy(model_src, paths["model"])
    stale = inside(out, "nearest.onnx" if advice.fits else "model.onnx")
    if stale.exists():
        stale.unlink()  # an earlier run's file would contradict this advice
    atomic_write_bytes(paths["plot"], pareto_png(advice))
    atomic_write_text(paths["md"], markdown(advice, d))
    atomic_write_text(paths["json"], json.dumps(_finite(d), indent=2) + "\n")
    return paths


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def table_rows(advice: Advice) -> list[dict[str, Any]]:
    """Rows of the Lee et al.-style table: the original first, then every measured candidate."""
    p = advice.problem
    rows = [{"strategy": "NQ (original)", "m": p.baseline, "fits": advice.budget.fits(p.baseline, p.baseline)}]
    for e in advice.evaluations:
        rows.append({"strategy": e.label, "m": e.measurement, "error": e.error,
                     "fits": e.measurement is not None and advice.budget.fits(p.baseline, e.measurement)})
    return rows


def latency_heading(advice: Advice) -> str:
    """Where this advice's candidate latencies come from (one label for the table and plot)."""
    shown = advice.shown.measurement or advice.problem.baseline
    return latency_label(shown.latency)


def _quality_cell(m: Measurement) -> str:
    f = m.reported
    if f is None:
        return f"{100 * m.quality:.2f}"
    return f"{100 * f.value:.2f} [{100 * f.lo:.2f}, {100 * f.hi:.2f}]"


def markdown(advice: Advice, d: dict[str, Any]) -> str:
    p, b = advice.problem, advice.budget
    metric = p.data.metric
    shown = advice.shown
    predicted = not (shown.measurement or p.baseline).latency.measured
    label = latency_heading(advice)
    rows = table_rows(advice)
    reported = any(r["m"] is not None and r["m"].reported is not None for r in rows)
    lines = [f"# Compression advice for `{p.model.source}`", ""]
    if advice.fits:
        lines.append(f"**Use {shown.label}** ({_params(shown.params)}) -> `model.onnx`.")
    else:
        lines.append(f"**Nothing fits the budget.** Binding constraint: **{advice.binding}**. "
                     f"Nearest option: {shown.label} -> `nearest.onnx`.")
    heading = (f"## Latency predicted for profile {shown.measurement.latency.profile if shown.measurement else '?'}; "
               "accuracy and size from this run (in the style of Lee et al. 2022)" if predicted
               else "## Measured here (in the style of Lee et al. 2022)")
    qcol = f"{metric} (%, test split, 95% interval)" if reported else f"{metric} (%)"
    lines += ["", f"Budget: {b.describe()}.  ", f"Pick rule: {d['pick_rule']}.  ",
              f"Data: {p.data.summary()}.  ",
              f"Device: {_device(d['device'])}.", "",
              heading, "",
              f"| strategy | {qcol} | size (KB) | gzip (KB) | latency p50 / p90 (ms, {label}) | "
              f"p50 speed-up ({'predicted' if predicted else 'same run'}) | compression (s) | fits |",
              "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in rows:
        m = r["m"]
        if m is None:
            lines.append(f"| {r['strategy']} | - | - | - | - | - | - | failed: {r.get('error', '')} |")
            continue
        mark = "**" if (shown.measurement is m) else ""
        is_base = m is p.baseline
        dagger = " (earlier run)" if is_base and m.latency.source == "earlier-run" else ""
        ratio = "1.00x" if is_base else f"{speedup(p.baseline, m)[0]:.2f}x"
        lines.append(
            f"| {mark}{r['strategy']}{mark} | {_quality_cell(m)} | {m.size_bytes / 1024:.1f} | "
            f"{m.size_compressed_bytes / 1024:.1f} | {m.latency.p50_ms:.3f} / {m.latency.p90_ms:.3f}{dagger} | "
            f"{ratio} | {m.compress_seconds:.1f} | {'yes' if r['fits'] else 'no'} |"
        )
    lines += [""] + _latency_note(advice, predicted) + [""]
    if reported:
        sel = next((r["m"].selection.split for r in rows if r["m"] is not None and r["m"].selection is not None),
                   "validation")
        lines += [f"{metric.capitalize()}: the pick and the limits were judged on the {sel} split; the figures above "
                  "come from the held-out test split, with their 95% intervals.", ""]
    lines += ["![Pareto plot](pareto.png)", "", "## Why", ""]
    for r in advice.reasons:
        lines.append(f"- {r.text}  \n  *evidence:* {r.evidence}  \n  *source:* {r.source}")
    front = [e for e in pareto_front([*advice.evaluations]) if e is not shown]
    if front:
        lines += ["", "## Alternatives on the Pareto front", ""]
        for e in front:
            m = e.measurement
            lat = (f"predicted p90 {m.latency.p90_ms:.3f} ms" if not m.latency.measured
                   else f"p90 {m.latency.p90_ms:.3f} ms")
            lines.append(f"- {e.label}: {metric} {_quality_cell(m)}%, {m.size_bytes / 1024:.1f} KB, "
                         f"{lat}, {m.compress_seconds:.1f} s to compress")
    t = d.get("trials") or {}
    lines += ["", "## Trials", "", f"{t.get('count', len(advice.evaluations))} trial(s)"
              + (f" in study `{t['study']}` at `{t['storage']}`" if t.get("study") else "") + ".", ""]
    return "\n".join(lines)


def _latency_note(advice: Advice, predicted: bool) -> list[str]:
    p = advice.problem
    lat = p.baseline.latency
    if predicted:
        return [f"Latency: predicted for profile {lat.profile or '?'} at batch 1, {lat.threads} intra-op thread(s) "
                "(that device is not at hand; each p50's 95% interval is in advice.json), p90 scaled by this "
                "run's p90/p50 ratio; speed-ups are ratios of two predictions."]
    spreads = [e.measurement.latency.spread for e in advice.evaluations
               if e.measurement is not None and e.measurement.latency.spread is not None]
    noise = (f" Run-to-run noise (half-range of the per-block medians): up to +-{100 * max(spreads):.1f}%."
             if spreads else "")
    same = any(e.measurement is not None and same_run_baseline(e.measurement) is not None for e in advice.evaluations)
    return [f"Latency: batch 1, {lat.threads} intra-op thread(s), spinning {'on' if lat.spinning else 'off'}, "
            "each candidate timed interleaved with the original in one run; "
            + ("speed-ups and the latency-ratio limit use that same-run timing of the original. " if same else "")
            + "The original's own row is its one-off timing at the start (earlier run), kept for the record."
            + noise]


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _device(dev: dict[str, Any]) -> str:
    name = dev.get("profile") or "not profiled"
    cpu = dev.get("cpu") or "?"
    return f"{name}, {cpu}, onnxruntime {dev.get('onnxruntime')}, {dev.get('threads')} thread(s)"


def pareto_png(advice: Advice) -> bytes:
    """Scatter of p90 latency vs size, coloured by accuracy, Pareto front and budget marked."""
    import matplotlib  # start-up: matplotlib loads only when a plot is drawn, with the Agg backend first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, b = advice.problem, advice.budget
    pts = [("NQ", p.baseline)] + [(e.label, e.measurement) for e in advice.evaluations if e.measurement]
    front = {id(e.measurement) for e in pareto_front(list(advice.evaluations))}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    xs = [m.latency.p90_ms for _, m in pts]
    ys = [m.size_bytes / 1024 for _, m in pts]
    cs = [100 * m.quality for _, m in pts]
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=60, edgecolors="k", linewidths=0.5, zorder=3)
    split = next((m.selection.split for _, m in pts if m.selection is not None), None)
    fig.colorbar(sc, ax=ax, label=f"{p.data.metric} (%)" + (f", {split} split" if split else ""))
    for name, m in pts:
        ax.annotate(name, (m.latency.p90_ms, m.size_bytes / 1024), fontsize=7, xytext=(4, 3),
                    textcoords="offset points", fontweight="bold" if id(m) in front else "normal")
    shown = advice.shown.measurement
    if shown is not None:
        ax.scatter([shown.latency.p90_ms], [shown.size_bytes / 1024], s=220, facecolors="none",
                   edgecolors="red", linewidths=2, zorder=4, label="pick" if advice.fits else "nearest")
    lim = b.resolve(p.baseline, shown)  # a latency ratio: against the shown candidate's same-run original
    if lim.max_latency_ms:
        ax.axvline(lim.max_latency_ms, color="red", ls="--", lw=1, label="latency limit")
    if lim.max_size_bytes:
        ax.axhline(lim.max_size_bytes / 1024, color="orange", ls="--", lw=1, label="size limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    label = latency_heading(advice)
    ax.set_xlabel(f"latency p90 (ms, batch 1, {label})")
    ax.set_ylabel("model file size (KB)")
    ax.set_title(f"{p.model.source}: candidates (latency {label})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
