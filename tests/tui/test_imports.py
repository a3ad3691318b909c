"""The core library never imports Textual: every advisor module outside advisor/tui, imported in a
fresh interpreter, leaves ``textual`` out of ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import advisor

pytestmark = pytest.mark.slow  # each test starts fresh interpreters that import every module
ROOT = Path(advisor.__file__).parent
SKIP = {"advisor.__main__"}  # running it is the CLI itself (it would parse sys.argv and exit)


def core_modules() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[:2] == ["advisor", "tui"]:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if name not in SKIP:
            names.append(name)
    return names


CHECK = """
import importlib, json, sys
names = json.loads(sys.argv[1])
failed = {}
for n in names:
    try:
        importlib.import_module(n)
    except Exception as e:
        failed[n] = repr(e)
textual = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.") or m == "textual_plotext")
print(json.dumps({"failed": failed, "textual": textual}))
"""


def test_core_modules_do_not_import_textual():
    names = core_modules()
    assert "advisor.cli._tui" in names and "advisor.jobs" in names
    r = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT.parent,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["failed"] == {}, doc["failed"]
    assert doc["textual"] == [], f"core modules imported Textual: {doc['textual'][:5]}"


def test_the_tui_itself_does_use_textual():
    """Guard against the check above passing vacuously (e.g. module discovery finding nothing)."""
    r = subprocess.run(
        [sys.executable, "-c", "import sys, advisor.tui; print('textual' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT.parent,
    )
    assert r.stdout.strip() == "True", r.stderr[-2000:]
