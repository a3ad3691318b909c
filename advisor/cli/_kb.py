"""``advisor kb``: the knowledge base every measured trial teaches -- show, export, clear."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from advisor.cli._common import emit_json, file_option
from advisor.errors import InputError
from advisor.fileio import atomic_write_text
from advisor.profiling import probe_host
from advisor.ranking import KnowledgeBase

_KB_HELP = "knowledge-base SQLite file (default: $ADVISOR_KB or ~/.local/share/compression-advisor/knowledge.db)"


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kb", help="show, export or clear the knowledge base the ranker learns from",
        description="Every trial measured on this device (advise, compress, workers) becomes a knowledge-base record; "
                    "the next ranking learns from it and says how many records of this device it used. The project's "
                    "seed records ship with it and are never cleared.",
        epilog="example: advisor kb show --json",
    )
    ksub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    ksub.required = True
    q = ksub.add_parser("show", help="what the knowledge base holds", description="Record counts (measured here, "
                        "seed, of this device) and the records measured here by model, strategy and machine.",
                        epilog="example: advisor kb show --kb runs/kb.sqlite")
    q.add_argument("--kb", type=file_option, metavar="PATH", help=_KB_HELP)
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_show)
    q = ksub.add_parser("export", help="write the records as JSON lines", description="Write the records measured "
                        "here (with --seed, the seed's too) as JSON lines, one record a line.",
                        epilog="example: advisor kb export --out kb.jsonl")
    q.add_argument("--kb", type=file_option, metavar="PATH", help=_KB_HELP)
    q.add_argument("--out", type=file_option, metavar="FILE", help="file to write (default: standard output)")
    q.add_argument("--seed", action="store_true", help="include the shipped seed records")
    q.set_defaults(run=run_export)
    q = ksub.add_parser("clear", help="delete the records measured here", description="Delete every record measured "
                        "here (the shipped seed stays). Asks for --yes.", epilog="example: advisor kb clear --yes")
    q.add_argument("--kb", type=file_option, metavar="PATH", help=_KB_HELP)
    q.add_argument("--yes", action="store_true", help="really delete them")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=run_clear)
    p.set_defaults(run=lambda a: p.print_help() or 2)


def _kb(a: argparse.Namespace) -> KnowledgeBase:
    return KnowledgeBase(a.kb) if a.kb else KnowledgeBase()


def run_show(a: argparse.Namespace) -> int:
    doc = _kb(a).summary(cpu=probe_host()["cpu"])
    if a.json:
        emit_json(doc)
        return 0
    con = Console()
    dev = doc["device_records"]
    con.print(f"knowledge base {doc['path']}: {doc['local_records']} records measured here "
              f"({dev['local']} of this device: {doc['cpu']}), {doc['seed_records']} seed records "
              f"({dev['seed']} of this device)")
    if doc["local_records"]:
        con.print(f"measured {doc['first']} .. {doc['last']}")
        for key, title in (("by_model", "model"), ("by_strategy", "strategy"), ("by_machine", "machine")):
            t = Table(title=f"records measured here, by {title}")
            t.add_column(title)
            t.add_column("records", justify="right")
            for k, v in doc[key].items():
                t.add_row(k, str(v))
            con.print(t)
    return 0


def run_export(a: argparse.Namespace) -> int:
    kb = _kb(a)
    records = kb.records() if a.seed else kb.local_records()
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    if a.out:
        atomic_write_text(Path(a.out), text)
        print(f"wrote {len(records)} records to {a.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_clear(a: argparse.Namespace) -> int:
    if not a.yes:
        raise InputError("kb clear: add --yes to delete the records measured here (the seed stays)")
    kb = _kb(a)
    n = kb.clear()
    if a.json:
        emit_json({"path": str(kb.path), "deleted": n})
    else:
        print(f"deleted {n} records from {kb.path} (the seed records stay)")
    return 0
