"""Write the advice folder: ``model.onnx`` (or ``nearest.onnx``), ``advice.json``, ``advice.md``
and ``pareto.png``. Every file is written atomically; ``advice.json`` goes last."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from advisor.advice import PICK_RULES, TABLE_COLUMNS, Advice, drop_cell, pareto_front, row_cells, speed_cell
from advisor.artifacts import ArtifactError, sha256_of
from advisor.decide import drop_of, same_run_baseline, speed
from advisor.fileio import atomic_copy, atomic_write_bytes, atomic_write_text, inside

__all__ = ["write_advice", "markdown", "pareto_png", "latency_heading", "MODEL_FILES"]

#: The names the shipped model can have (advisor.advice.Advice.model_file).
MODEL_FILES = ("model.onnx", "unconfirmed.onnx", "nearest.onnx")


def write_advice(advice: Advice, out: Path) -> dict[str, Path]:
    """Write the four files into ``out`` (already checked by ``prepare_out_dir``): the shown model as
    ``model.onnx`` (a confirmed pick), ``unconfirmed.onnx`` (a pick the test split did not confirm)
    or ``nearest.onnx`` (nothing fits); a file of the other names left by an earlier run is removed."""
    out = Path(out)
    d = advice.to_dict()
    shown = advice.shown
    name = advice.model_file
    model_src = shown.model_path or advice.problem.model.onnx_path
    paths = {"model": inside(out, name), "json": inside(out, "advice.json"),
             "md": inside(out, "advice.md"), "plot": inside(out, "pareto.png")}
    atomic_copy(model_src, paths["model"])
    ref = shown.artifact if shown.measurement is not advice.problem.baseline else None
    digest = sha256_of(paths["model"])
    if ref is not None and digest != ref.sha256:  # the file shipped must be the file measured
        paths["model"].unlink()
        raise ArtifactError(f"{name} ({digest[:16]}...) is not the measured model of {shown.label} "
                            f"(artifact {ref.artifact_id}, sha256 {ref.sha256[:16]}...): refused")
    d["shipped"]["sha256"] = digest
    for other in MODEL_FILES:
        stale = inside(out, other)
        if other != name and stale.exists():
            stale.unlink()  # an earlier run's file would contradict this advice
    atomic_write_bytes(paths["plot"], pareto_png(advice))
    atomic_write_text(paths["md"], markdown(advice))
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


def latency_heading(advice: Advice) -> str:
    """Where this advice's candidate latencies come from (one label for the table and plot)."""
    shown = advice.shown.measurement or advice.problem.baseline
    return shown.latency.label()


def markdown(advice: Advice) -> str:
    """``advice.md``: the headline, the table in the style of Lee et al. 2022, the reasons."""
    p, b = advice.problem, advice.budget
    metric = p.data.metric
    shown = advice.shown
    predicted = not (shown.measurement or p.baseline).latency.measured
    label = latency_heading(advice)
    lines = [f"# Compression advice for `{p.model.source}`", "", _bold_headline(advice) + f" -> `{advice.model_file}`.",
             ""]
    heading = (f"## Latency predicted for profile {shown.measurement.latency.profile if shown.measurement else '?'}; "
               "accuracy and size from this run (in the style of Lee et al. 2022)" if predicted
               else "## Measured here (in the style of Lee et al. 2022)")
    lines += [f"Budget: {b.describe()}.  ", f"Pick rule: {PICK_RULES[b.objective]}.  ",
              f"Data: {p.data.summary()}.  ", f"Device: {_device(advice.device)}.", "",
              "| figure | original | " + (shown.label if shown.measurement is not p.baseline else "original")
              + " | limit | verdict |", "|---|---:|---:|---:|:-:|"]
    lines += [f"| {' | '.join(r)} |" for r in advice.comparison()]
    lines += ["", heading, ""]
    cols = list(TABLE_COLUMNS)
    cols[4] = f"p50 / p90 ms ({label})"
    if predicted:
        cols[5] = "speed-up p50 (predicted)"
    lines += ["| " + " | ".join(cols) + " |", "|---|---:|---:|---:|---:|---:|---:|:--|"]
    for row in advice.rows():
        cells = list(row_cells(row, p.baseline))
        if row.picked:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + _latency_note(advice, predicted) + [""]
    lines += [f"{metric.capitalize()}: the drop is paired (the same samples through the original and the candidate) "
              f"with one-sided bounds at {b.confidence:.0%} confidence; the pick was made on the validation split and "
              "checked on the untouched test split (docs/measurement.md).", ""]
    checks = [c for c in ((advice.choice.confirmation,) if advice.choice.confirmation else ())
              + advice.choice.checked]
    if checks:
        lines += ["## Confirmation on the test split", "", "| candidate | test figure (95% interval) | "
                  f"{metric} drop pt (paired bounds) | verdict |", "|---|---:|---:|:-:|"]
        for c in checks:
            f = c.figure
            lines.append(f"| {c.label} | {100 * f.value:.2f} [{100 * f.lo:.2f}, {100 * f.hi:.2f}] n={f.n} | "
                         f"{c.drop.value:.2f} [{c.drop.lo:.2f}, {c.drop.hi:.2f}] | "
                         + ("confirmed" if c.confirmed else c.state) + " |")
        lines.append("")
    lines += ["![Pareto plot](pareto.png)", "", "## Why", ""]
    for r in advice.reasons:
        lines.append(f"- {r.text}  \n  *evidence:* {r.evidence}  \n  *source:* {r.source}")
    front = [e for e in pareto_front(advice.evaluations, p.baseline) if e is not shown]
    if front:
        lines += ["", "## Alternatives on the Pareto front", ""]
        for e in front:
            m = e.measurement
            lat = (f"predicted p90 {m.latency.p90_ms:.3f} ms" if not m.latency.measured
                   else f"p90 {m.latency.p90_ms:.3f} ms")
            lines.append(f"- {e.label}: {metric} drop {drop_cell(m, p.baseline)} pt, {m.size_bytes / 1024:.1f} KB, "
                         f"{lat}, speed-up {speed_cell(speed(p.baseline, m))}, {m.compress_seconds:.1f} s to compress")
    t = advice.trials
    lines += ["", "## Trials", "", f"{t.get('count', len(advice.evaluations))} trial(s)"
              + (f" in study `{t['study']}` at `{t['storage']}`" if t.get("study") else "") + "."]
    rep = advice.reproducibility
    if rep:
        lines += ["", "## Reproducibility", ""] + [f"- {k}: {v}" for k, v in rep.items()]
    return "\n".join(lines) + "\n"


def _bold_headline(advice: Advice) -> str:
    """The headline with its first clause in bold (advice.md only)."""
    text = advice.headline()
    head, sep, rest = text.partition(": ")
    return f"**{head}**{sep}{rest}" if sep else f"**{text}**"


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
            + ("speed-ups (with the bounds of their per-block ratios) and the latency limits use that same-run "
               "timing of the original. " if same else "")
            + "The original's own row is its one-off timing at the start (earlier run), kept for the record."
            + noise]


def _device(dev: dict[str, Any]) -> str:
    name = dev.get("profile") or "not profiled"
    cpu = dev.get("cpu") or "?"
    return f"{name}, {cpu}, onnxruntime {dev.get('onnxruntime')}, {dev.get('threads')} thread(s)"


def pareto_png(advice: Advice) -> bytes:
    """Scatter of p90 relative to the original timed in the same run vs file size, coloured by the
    paired accuracy drop; the Pareto front in bold, the pick circled, the limits dashed."""
    import matplotlib  # start-up: matplotlib loads only when a plot is drawn, with the Agg backend first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, b = advice.problem, advice.budget
    base = p.baseline
    pts = [("NQ", base)] + [(e.label, e.measurement) for e in advice.evaluations if e.measurement]
    front = {id(e.measurement) for e in pareto_front(advice.evaluations, base)}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    xs = [speed(base, m, "p90").value for _, m in pts]
    ys = [m.size_bytes / 1024 for _, m in pts]
    cs = [drop_of(base, m).value for _, m in pts]
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis_r", s=60, edgecolors="k", linewidths=0.5, zorder=3)
    fig.colorbar(sc, ax=ax, label=f"{p.data.metric} drop (pt, validation, paired)")
    for (name, m), x, y in zip(pts, xs, ys, strict=True):
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points",
                    fontweight="bold" if id(m) in front else "normal")
    shown = advice.shown.measurement
    if shown is not None:
        ax.scatter([speed(base, shown, "p90").value], [shown.size_bytes / 1024], s=220, facecolors="none",
                   edgecolors="red", linewidths=2, zorder=4, label="pick" if advice.fits else "nearest")
    if b.max_latency_ratio:
        ax.axvline(b.max_latency_ratio, color="red", ls="--", lw=1, label="latency limit")
    lim = b.resolve(base)
    if lim.max_size_bytes:
        ax.axhline(lim.max_size_bytes / 1024, color="orange", ls="--", lw=1, label="size limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    label = latency_heading(advice)
    ax.set_xlabel(f"p90 / the original's p90 (batch 1, {label})")
    ax.set_ylabel("model file size (KB)")
    ax.set_title(f"{p.model.source}: candidates (latency {label})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
