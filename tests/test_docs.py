"""Docs stay current: docs/cli.md is the parser's own help, every command has an example, every technique has a
page, and every doc the README links exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor.cli import build_parser
from advisor.techniques import technique_names

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    p = build_parser()
    sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", list(_commands()))
def test_every_command_is_documented_with_its_example(name):
    doc = (ROOT / "docs" / "cli.md").read_text()
    assert f"## advisor {name}" in doc
    epilog = _commands()[name].epilog or ""
    assert "example:" in epilog, f"advisor {name} --help has no example"
    flat = " ".join(doc.split())
    assert " ".join(epilog.split("example:", 1)[1].split()) in flat


@pytest.mark.parametrize("name", technique_names())
def test_every_technique_has_a_page(name):
    page = ROOT / "docs" / "techniques" / f"{name}.md"
    assert page.is_file()
    assert name in (ROOT / "docs" / "techniques" / "README.md").read_text()


def test_cli_reference_is_generated_from_the_current_parser():
    from advisor.cli._reference import DOC, intro_of, render

    text = DOC.read_text()
    assert text == render(intro_of(text)), "docs/cli.md is stale: run .venv/bin/python -m advisor.cli._reference"


def test_readme_links_exist():
    text = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
