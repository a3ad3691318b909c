"""End to end on the real built-in model: the advice folder and its contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from advisor.budget import Budget
from advisor.jobs import advise
from advisor.search import SearchSettings

# The advice-folder contract checker shipped beside the project (product.md's fields); located
# from this file, not from the working directory. Without it, the test checks the fields itself.
CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_advice.py"
FIELDS = ("schema", "fits_budget", "strategy", "params", "pick_rule", "model", "data", "device", "budget",
          "baseline", "compressed", "satisfied", "binding_constraint", "nearest", "alternatives", "candidates",
          "ranking", "reasons", "trials")


def test_fiq_is_four_times_smaller_within_one_point(digits_problem):
    _, m = digits_problem.evaluate("FIQ")
    base = digits_problem.baseline
    assert 3.5 <= base.size_bytes / m.size_bytes <= 4.5
    assert (base.quality - m.quality) * 100 <= 1.0
    assert m.extra["FIQ.calibration_samples"] == 200


def test_advise_writes_contract_files_and_never_picks_a_budget_breaker(digits_problem, tmp_path):
    budget = Budget.preset("mid")
    advice = advise(digits_problem, budget, tmp_path, settings=SearchSettings(trials=3),
                    strategies=["BLQ", "FIQ", "F16"], enqueue=[("BLQ", {}), ("FIQ", {}), ("F16", {})])
    assert len(advice.evaluations) == 3
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert (tmp_path / "advice.md").is_file() and (tmp_path / "pareto.png").stat().st_size > 1000
    assert set(FIELDS) <= set(doc)
    if CHECKER.is_file():
        r = subprocess.run([sys.executable, str(CHECKER), str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
    base = digits_problem.baseline
    chosen = advice.chosen
    if chosen is not None:
        assert budget.fits(base, chosen.measurement)
        assert (tmp_path / "model.onnx").is_file()
        assert all(doc["satisfied"].values())
    for c in doc["candidates"]:
        if "fits" in c and not c["fits"]:
            assert c["strategy"] != doc["strategy"] or not doc["fits_budget"]
    assert all(r["text"] and r["evidence"] and r["source"] for r in doc["reasons"])


def test_impossible_budget_exits_one_with_binding_constraint(digits_problem, tmp_path):
    advice = advise(digits_problem, Budget(max_size_kb=1), tmp_path, settings=SearchSettings(trials=1),
                    strategies=["FIQ"], enqueue=[("FIQ", {})])
    assert advice.exit_code == 1
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert doc["fits_budget"] is False and doc["binding_constraint"] == "size"
    assert (tmp_path / "nearest.onnx").is_file() and not (tmp_path / "model.onnx").exists()
