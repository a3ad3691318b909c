"""The layer contract (pyproject ``[tool.importlinter]``, docs/architecture.md): every stage imports
only the layers below it, the ranking and the search do not import each other, and only the TUI
imports Textual. Checked with import-linter on the real package, and shown to fail on a copy of
the package with one upward import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "advisor", root / "advisor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return root


def test_the_package_keeps_the_layer_contract():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in r.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("advisor.measure.size", "import advisor.jobs  # upward", "advisor.measure is not allowed to import advisor.jobs"),
    ("advisor.ranking.kb", "from advisor import search  # sideways",
     "advisor.ranking is not allowed to import advisor.search"),
    ("advisor.techniques.f16", "import textual  # core importing the UI toolkit",
     "advisor.techniques is not allowed to import textual"),
])
def test_one_added_upward_import_breaks_the_contract(tmp_path, module, line, broken):
    r = lint(copy_with(tmp_path, module, line))
    assert r.returncode != 0
    assert broken in r.stdout, r.stdout[-3000:]
