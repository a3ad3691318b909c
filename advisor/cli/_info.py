"""``advisor techniques``: what each technique is, needs, and which parameters it takes."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from advisor.cli._common import emit_json
from advisor.strategies import ALIASES
from advisor.techniques import all_techniques


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("techniques", help="list techniques, what they need, and their parameters",
                       description="List every registered technique with its source, needs and parameters.",
                       epilog="example: advisor techniques --json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    docs = [t.describe() for t in all_techniques()]
    if a.json:
        emit_json({"techniques": docs, "aliases": {k: "+".join(v) or "(original)" for k, v in ALIASES.items()}})
        return 0
    t = Table(title="techniques (chain them as A+B, e.g. KD+FIQ)")
    for col in ("name", "what", "capabilities", "needs", "parameters (default; searched range)", "source"):
        t.add_column(col)
    for d in docs:
        needs = [k for k in ("needs_torch", "needs_labels", "needs_calibration", "trains") if d[k]]
        params = "\n".join(f"{p['name']}={p['default']}"
                           + (f" [{p['search'][0]}..{p['search'][-1]}]"
                              if p["search"] and len(p["search"]) == 2 and not p["choices"] else "")
                           + (f" {{{'|'.join(map(str, p['choices']))}}}" if p["choices"] else "") for p in d["params"])
        caps = f"computes in {d['precision']}, changes {d['changes']}" + (
            f"; outputs: {d['outputs']}" if d["outputs"] != "any" else "") + (
            f"; searched, then {', '.join(d['then'])}" if d["then"] else "" if d["searched"] else "; not searched")
        t.add_row(d["name"], d["title"], caps, ", ".join(n.replace("needs_", "") for n in needs) or "-", params,
                  d["source"])
    Console().print(t)
    return 0
