"""``advisor rank``: every strategy, predicted for this model, device and budget, before any trial."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from advisor.cli._common import (
    add_budget_args,
    add_model_args,
    add_profile_args,
    budget_from_args,
    emit_json,
    file_option,
    progress_context,
    resolve_profile,
)
from advisor.cli._jobs import _open
from advisor.jobs import rank_for, use_profile
from advisor.ranking import KnowledgeBase


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rank", help="rank strategies for a model, device and budget (predicted; no trials)",
        description="Predict every strategy's speed-up over the original, accuracy change, size, latency and "
                    "compression time, each with an interval of stated coverage (90%, calibrated on held-out model "
                    "families), the chance each meets the budget, the rules that fired, what each prediction was "
                    "learned from, and the order the search would try.",
        epilog="example: advisor rank --model builtin:digits-cnn --data builtin:digits --profile my-board --tier mid",
    )
    add_model_args(p)
    add_budget_args(p)
    add_profile_args(p, "(default: profile this device now; a profile of another device gives predicted latency)")
    p.add_argument("--kb", type=file_option, metavar="PATH",
                   help="knowledge-base SQLite file (default: $ADVISOR_KB or ~/.local/share/...)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    budget = budget_from_args(a)
    with progress_context(a.json) as ctx:
        profile = resolve_profile(a, ctx)
        with _open(a, ctx, profile=profile) as problem:
            source = use_profile(problem, profile)
            ranking = rank_for(problem, budget, profile=profile, kb=KnowledgeBase(a.kb) if a.kb else None,
                               latency_source=source)
            base = problem.baseline
    doc = ranking.to_dict()
    if a.json:
        emit_json({"budget": budget.to_dict(), "baseline": base.to_dict(), **doc})
    else:
        _print(doc, base, budget)
    return 1 if ranking.infeasible else 0


def _g(v: float) -> str:
    """Three significant figures without exponent noise: 0.0421, 2.53, 158, 21170."""
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _print(doc: dict, base, budget) -> None:
    def iv(d: dict | None, fmt=_g, unit: str = "") -> str:
        if not d:
            return ""
        if abs(d["hi"] - d["lo"]) < 1e-12:
            return fmt(d["mean"]) + unit
        return f"{fmt(d['mean'])}{unit} [{fmt(d['lo'])}, {fmt(d['hi'])}]"

    def kb(d: dict) -> dict:
        return {k: d[k] / 1024 for k in ("mean", "lo", "hi")}

    cov = f"{doc.get('coverage', 0.9):.0%}"
    con = Console() if Console().is_terminal else Console(width=120)
    t = Table(title=f"predicted ranking ({budget.describe()}); {cov} intervals; "
                    f"latency {doc['baseline_latency_source']}")
    for col in ("#", "strategy", "speed-up", "acc. drop pt", "size KB", "p90 ms", "compress s", "P(fits)"):
        t.add_column(col, justify="right")
    excluded: dict[str, list[str]] = {}
    for s in doc["strategies"]:
        if s["excluded"]:
            excluded.setdefault(s["excluded"], []).append(s["strategy"])
            continue
        if s.get("prediction") == "unknown":  # dry run failed: no prediction, not a certain one
            t.add_row(str(s["rank"]), s["strategy"], *(["unknown"] * 6))
            continue
        pr = s["predicted"]
        t.add_row(str(s["rank"]), s["strategy"], iv(s.get("speedup"), lambda v: f"{v:.2f}", "x"),
                  iv(pr["accuracy_drop_pts"], lambda v: f"{v:+.1f}"), iv(kb(pr["size_bytes"]), lambda v: f"{v:.0f}"),
                  iv(pr["latency_ms_p90"]), iv(pr["compress_seconds"], lambda v: f"{v:.0f}"),
                  f"{s['p_meets_budget']:.0%}")
    con.print(t)
    con.print(f"original: {base.metric} {base.quality:.4f}, {base.size_bytes / 1024:.0f} KB, "
              f"p90 {base.latency.p90_ms:.3f} ms ({base.latency.describe_source()})")
    con.print(f"learned from: {doc.get('learned_from') or str(doc['knowledge_base_records']) + ' records'}")
    for why, names in excluded.items():
        con.print(f"- not applicable: {', '.join(names)}: {why}")
    if doc["infeasible"]:
        con.print(f"[bold red]infeasible[/]: binding limit {doc['binding_constraint']}")
    for r in doc["reasons"]:
        con.print(f"- {r['text']} [dim]({r['source']})[/]")
    for s in doc["strategies"]:
        if s.get("prediction") == "unknown":
            con.print(f"- {s['strategy']}: prediction unknown ({s['unknown_reason']})")
        elif s.get("ranked_last"):
            for r in (r for r in s["reasons"] if "ranked last" in r["text"]):
                con.print(f"- {s['strategy']}: {r['text']} [dim]({r['evidence']}; {r['source']})[/]")
