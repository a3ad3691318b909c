"""docs/cli.md, generated from the parser itself so the reference cannot drift from the code.

``python -m advisor.cli._reference`` rewrites the command sections of docs/cli.md (the prose
before the first ``## advisor`` heading is kept); ``tests/test_docs.py`` fails when they differ.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from advisor.cli import build_parser
from advisor.fileio import atomic_write_text

__all__ = ["render", "DOC"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_WIDTH = "80"


def render(intro: str) -> str:
    """``intro`` followed by one section per command holding its ``--help`` at 80 columns."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parts = [intro.rstrip() + "\n"]
        for name, cmd in sub.choices.items():
            parts.append(f"## advisor {name}\n\n```\n{cmd.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def intro_of(text: str) -> str:
    return text.split("\n## advisor ", 1)[0]


if __name__ == "__main__":
    atomic_write_text(DOC, render(intro_of(DOC.read_text())))
    print(f"wrote {DOC}", file=sys.stderr)
