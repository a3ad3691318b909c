"""``advisor kb``: show, export and clear the records measured here; the seed stays."""

from __future__ import annotations

import json

import pytest

from advisor.cli import main
from advisor.profiling import probe_host
from advisor.ranking import KnowledgeBase, device_record_count
from advisor.ranking.kb import seed_records


def _records(n: int, machine: str) -> list[dict]:
    return [{"created": f"2026-12-0{i + 1}T00:00:00+00:00", "strategy": "FIQ", "model": f"m{i % 2}",
             "machine": machine, "outcomes": {}} for i in range(n)]


def test_show_export_clear(tmp_path, capsys):
    path = tmp_path / "kb.sqlite"
    cpu = probe_host()["cpu"]
    KnowledgeBase(path).append(_records(3, cpu) + _records(2, "another CPU"))
    assert main(["kb", "show", "--kb", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["local_records"] == 5 and doc["device_records"]["local"] == 3
    assert doc["seed_records"] == len(seed_records()) and doc["by_model"] == {"m0": 3, "m1": 2}
    assert main(["kb", "show", "--kb", str(path)]) == 0
    text = capsys.readouterr().out
    assert "5 records measured here" in text and "3 of this device" in text
    out = tmp_path / "kb.jsonl"
    assert main(["kb", "export", "--kb", str(path), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["strategy"] == "FIQ"
    assert main(["kb", "export", "--kb", str(path), "--seed"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5 + len(seed_records())
    assert main(["kb", "clear", "--kb", str(path)]) == 2  # refuses without --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["kb", "clear", "--kb", str(path), "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == 5
    assert KnowledgeBase(path).local_records() == [] and len(KnowledgeBase(path).records()) == len(seed_records())


def test_device_records_are_counted_by_cpu():
    recs = _records(4, "CPU A") + _records(1, "CPU B")
    assert device_record_count(recs, "CPU A") == 4 and device_record_count(recs, None) == 0


@pytest.mark.parametrize("argv", [["kb"], ["kb", "nope"]])
def test_kb_without_an_action_is_a_usage_error(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err
