"""Plain functions turning library results into the rows and lines the screens show.

No Textual here: the screens call these, and tests compare the screens with the same values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from advisor.advice import TABLE_COLUMNS, drop_cell, pareto_front, row_cells, speed_cell
from advisor.budget import Budget
from advisor.decide import judge, meets, speed
from advisor.types import Measurement

if TYPE_CHECKING:  # types only: the views stay light to import (advisor.problem loads the measuring stack)
    from advisor.advice import Advice
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
    "candidate_rows",
    "alternative_lines",
    "ADVICE_COLUMNS",
    "CANDIDATE_COLUMNS",
]

CANDIDATE_COLUMNS = TABLE_COLUMNS


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


TRIAL_COLUMNS = ("#", "strategy", "meets", "drop pt (validation)", "KB", "p50 speed-up", "comp s")


def trial_row(e: Evaluation, baseline: Measurement, budget: Budget) -> tuple[str, ...]:
    """A finished trial as a table row: its paired drop with bounds, whether it meets the budget,
    its same-run speed-up."""
    trial = "" if e.trial is None else str(e.trial)
    name = e.variant
    m = e.measurement
    if m is None:
        # A trial with no technique error was cut short (Stop, Ctrl-C, a crash).
        why = "interrupted" if e.error in (None, "failed", "interrupted") else "failed"
        return (trial, name, why, (e.error or "")[:40] if why == "failed" else "", "", "", "")
    verdicts = judge(budget, baseline, m)
    state = "yes" if all(v.meets for v in verdicts.values()) else next(
        f"{k} {v.state}" for k, v in verdicts.items() if not v.meets)
    return (trial, name, state, drop_cell(m, baseline), kb(m.size_bytes), speed_cell(speed(baseline, m)),
            f"{m.compress_seconds:.1f}")


ADVICE_COLUMNS = ("", "original", "compressed", "limit", "verdict")


def advice_rows(advice: Advice) -> list[tuple[str, ...]]:
    """Original vs the shown candidate vs the budget (:meth:`Advice.comparison`)."""
    return [tuple(r) for r in advice.comparison()]


def candidate_rows(advice: Advice) -> list[tuple[str, ...]]:
    """Every candidate, as advice.md and the CLI show them (:func:`advisor.advice.row_cells`)."""
    return [row_cells(r, advice.problem.baseline) for r in advice.rows()]


def alternative_lines(advice: Advice) -> list[str]:
    """The Pareto front besides the shown candidate, one line each."""
    p = advice.problem
    out = []
    for e in pareto_front(advice.evaluations, p.baseline):
        if e is advice.shown:
            continue
        m = e.measurement
        out.append(f"{e.label}: {p.data.metric} drop {drop_cell(m, p.baseline)} pt, {kb(m.size_bytes)} KB, "
                   f"speed-up {speed_cell(speed(p.baseline, m))}, {m.compress_seconds:.1f} s"
                   + ("" if meets(advice.budget, p.baseline, m) else "  (breaks the budget)"))
    return out
