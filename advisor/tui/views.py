"""Plain functions turning library results into the rows and lines the screens show.

No Textual here: the screens call these, and tests compare the screens with the same values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from advisor.budget import Budget
from advisor.types import Measurement

if TYPE_CHECKING:  # types only: the views stay light to import (advisor.problem loads the measuring stack)
    from advisor.problem import Evaluation, Problem
    from advisor.ranking import Interval, Ranking

__all__ = [
    "kb",
    "ms",
    "pct",
    "problem_summary",
    "ranking_rows",
    "trial_row",
    "TRIAL_COLUMNS",
    "RANKING_COLUMNS",
    "advice_rows",
    "advice_headline",
    "latency_tag",
]


def kb(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / 1024:.1f}"


def ms(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def pct(q: float | None) -> str:
    return "-" if q is None else f"{100 * q:.2f}%"


def _shape(shape: tuple | list) -> str:
    return "x".join("N" if d is None else str(d) for d in shape)


def problem_summary(problem: Problem, excluded: dict[str, str]) -> dict[str, Any]:
    """What the model screen shows about a loaded :class:`~advisor.problem.Problem`."""
    m, d, g, b = problem.model, problem.data, problem.graph, problem.baseline
    return {
        "model": m.source,
        "inputs": [f"{s.name} {_shape(s.shape)} {s.dtype}" for s in m.inputs],
        "outputs": [f"{s.name} {_shape(s.shape)} {s.dtype}" for s in m.outputs],
        "pytorch": m.has_torch,
        "params": g.params,
        "macs": g.macs,
        "flops": g.flops,
        "ops": ", ".join(
            f"{k} {v}" for k, v in sorted(g.op_counts.items(), key=lambda kv: -kv[1])[:6]
        ),
        "data": d.summary(),
        "metric": d.metric,
        "classes": d.num_classes,
        "baseline": {
            "quality": b.quality,
            "size_bytes": b.size_bytes,
            "p50_ms": b.latency.p50_ms,
            "p90_ms": b.latency.p90_ms,
            "threads": b.latency.threads,
        },
        "excluded": dict(excluded),
    }


def _millions(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return f"{n:.0f}"


def summary_lines(s: dict[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` pairs for the model screen."""
    b = s["baseline"]
    classes = s["classes"]
    return [
        (
            "model",
            s["model"] + ("  (PyTorch module available)" if s["pytorch"] else "  (ONNX only)"),
        ),
        ("inputs", "; ".join(s["inputs"])),
        ("outputs", "; ".join(s["outputs"])),
        ("parameters", _millions(s["params"])),
        ("FLOPs", f"{_millions(s['flops'])} per sample (batch 1)"),
        ("ops", s["ops"]),
        ("data", s["data"]),
        ("metric", s["metric"] + (f" over {classes} classes" if classes else "")),
        (
            "original",
            f"{s['metric']} {pct(b['quality'])}, {kb(b['size_bytes'])} KB, "
            f"p50 {ms(b['p50_ms'])} ms / p90 {ms(b['p90_ms'])} ms at {b['threads']} thread(s)",
        ),
    ]


def excluded_groups(excluded: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Ruled-out strategies grouped by reason (``PRN needs ...`` and ``PRQ: PRN needs ...`` are one
    reason): ``[(reason, [strategies])]`` in first-seen order."""
    groups: dict[str, list[str]] = {}
    for name, why in excluded.items():
        # Drop the leading "STEP " the technique puts before its reason, so chains group together.
        key = re.sub(r"^[A-Z0-9+]+ (?=needs|cannot|requires|is |has )", "", why.strip())
        groups.setdefault(key, []).append(name)
    return list(groups.items())


RANKING_COLUMNS = ("#", "strategy", "fits", "speed-up", "acc drop pt", "size KB", "p90 ms", "comp s")


def _iv(iv: Interval | None, fmt: Callable[[float], str]) -> str:
    if iv is None:
        return "-"
    if abs(iv.hi - iv.lo) < 1e-12:
        return fmt(iv.mean)
    return f"{fmt(iv.mean)} [{fmt(iv.lo)},{fmt(iv.hi)}]"


def ranking_rows(ranking: Ranking) -> list[tuple[str, ...]]:
    """One row per strategy: predicted mean with its interval (nominal coverage: the ranking's,
    shown in the screen's title), and the chance to fit."""
    rows = []
    for i in ranking.items:
        if i.excluded is not None:
            rows.append(("-", i.strategy, "n/a", "excluded", "", "", "", ""))
            continue
        if getattr(i, "unknown", None) is not None:  # dry run failed: no prediction, not a certain one
            rows.append((str(i.rank), i.strategy, *(["unknown"] * 6)))
            continue
        p = i.predicted
        rows.append(
            (
                str(i.rank),
                i.strategy,
                f"{i.p_meets:.0%}",
                _iv(i.speedup, lambda v: f"{v:.2f}x"),
                _iv(p.get("accuracy_drop_pts"), lambda v: f"{v:.1f}"),
                _iv(p.get("size_bytes"), lambda v: f"{v / 1024:.0f}"),
                _iv(p.get("latency_ms_p90"), lambda v: f"{v:.2f}" if v < 10 else f"{v:.0f}"),
                _iv(p.get("compress_seconds"), lambda v: f"{v:.0f}" if v >= 10 else f"{v:.1f}"),
            )
        )
    return rows


def top_strategy(ranking: Ranking) -> str | None:
    """The best-ranked strategy that is not the original (what "accept" compresses with)."""
    for name in ranking.order():
        if name != "NQ":
            return name
    return None


TRIAL_COLUMNS = ("#", "strategy", "fits", "quality", "KB", "p90 ms", "comp s")


def trial_row(e: Evaluation, baseline: Measurement, budget: Budget) -> tuple[str, ...]:
    """A finished trial as a table row."""
    trial = "" if e.trial is None else str(e.trial)
    name = e.variant
    m = e.measurement
    if m is None:
        # A trial with no technique error was cut short (Stop, Ctrl-C, a crash).
        why = "interrupted" if e.error in (None, "failed", "interrupted") else "failed"
        return (trial, name, why, (e.error or "")[:40] if why == "failed" else "", "", "", "")
    fits = budget.fits(baseline, m)
    return (
        trial,
        name,
        "yes" if fits else "no",
        pct(m.quality),
        kb(m.size_bytes),
        ms(m.latency.p90_ms),
        f"{m.compress_seconds:.1f}",
    )


def advice_headline(doc: dict[str, Any]) -> str:
    if doc["fits_budget"]:
        return f"Use {doc['strategy']}: it fits the budget ({doc['pick_rule']})."
    return (
        f"Nothing fits the budget: the binding constraint is {doc['binding_constraint']}. "
        f"Nearest option: {doc['strategy']}."
    )


ADVICE_COLUMNS = ("", "original", "compressed", "limit", "ok")


def latency_tag(source: str | None) -> str:
    """``same run`` / ``earlier run`` / ``predicted``: where a latency figure comes from."""
    s = str(source or "")
    if not s:
        return "measured"  # an advice.json from before sources were recorded
    return "predicted" if "predict" in s else "earlier run" if "earlier" in s else "same run"


def advice_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """Baseline vs compressed vs budget, one row per figure. Latency rows say where the figures
    come from; the original's latency is the timing from the compressed model's own run (the
    speed-up is against it); the compressed model's quality is its held-out test figure with the
    95% interval when measured."""
    metric = doc["data"]["metric"]
    b, c = doc["baseline"], doc["compressed"] or {}
    lim = doc["budget"]["resolved"]
    sat = doc.get("satisfied") or {}
    tag = latency_tag(c.get("latency_source") or b.get("latency_source"))
    ref = c.get("baseline_latency")
    if ref:  # the original as timed in the compressed model's run
        b = {**b, "latency_ms_p50": ref.get("p50_ms"), "latency_ms_p90": ref.get("p90_ms")}
    rep = c.get("reported")
    quality = (f"{pct(rep['value'])} [{100 * rep['lo']:.1f}, {100 * rep['hi']:.1f}] {rep['split']}" if rep
               else None)

    def ok(key: str) -> str:
        return "" if key not in sat else ("yes" if sat[key] else "NO")

    def val(d: dict[str, Any], key: str, f) -> str:
        return f(d[key]) if d.get(key) is not None else "-"

    return [
        (
            metric,
            val(b, metric, pct),
            quality or val(c, metric, pct),
            ">= " + pct(lim["min_quality"]) if lim.get("min_quality") is not None else "-",
            ok("accuracy"),
        ),
        (
            "size KB",
            val(b, "size_bytes", kb),
            val(c, "size_bytes", kb),
            "<= " + kb(lim["max_size_bytes"]) if lim.get("max_size_bytes") is not None else "-",
            ok("size"),
        ),
        (
            "gzip KB",
            val(b, "size_compressed_bytes", kb),
            val(c, "size_compressed_bytes", kb),
            "-",
            "",
        ),
        (f"p50 ms ({tag})", val(b, "latency_ms_p50", ms), val(c, "latency_ms_p50", ms), "-", ""),
        ("speed-up p50", "1.00x", val(c, "speedup_p50", lambda v: f"{v:.2f}x"), "-", ""),
        (
            f"p90 ms ({tag})",
            val(b, "latency_ms_p90", ms),
            val(c, "latency_ms_p90", ms),
            "<= " + ms(lim["max_latency_ms_p90"])
            if lim.get("max_latency_ms_p90") is not None
            else "-",
            ok("latency"),
        ),
        (
            "compress s",
            "0.0",
            val(c, "compress_seconds", lambda v: f"{v:.1f}"),
            f"<= {lim['max_compress_seconds']:g}"
            if lim.get("max_compress_seconds") is not None
            else "-",
            ok("compress_time"),
        ),
    ]


def alternative_lines(doc: dict[str, Any]) -> list[str]:
    metric = doc["data"]["metric"]
    out = []
    for a in doc.get("alternatives") or []:
        if "error" in a:
            continue
        out.append(
            f"{a['strategy']}: {metric} {pct(a[metric])}, {kb(a['size_bytes'])} KB, "
            f"p90 {ms(a['latency_ms_p90'])} ms, {a['compress_seconds']:.1f} s"
            + ("" if a.get("fits") else "  (breaks the budget)")
        )
    return out
