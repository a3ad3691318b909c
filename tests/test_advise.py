"""End to end on the real built-in model: the advice folder and its contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advisor.advice import build_advice
from advisor.budget import BASELINE_LATENCY_KEY, Budget, same_run_baseline
from advisor.jobs import _materialize, advise, is_this_device
from advisor.measure.latency import block_spread
from advisor.problem import Evaluation, open_problem
from advisor.progress import RunContext
from advisor.report import latency_heading, markdown
from advisor.search import SearchSettings
from advisor.types import LatencyStats, Measurement, QualityFigure
from tests.conftest import FAST
from tests.profiling.synthetic import make_profile

# The advice-folder contract checker shipped beside the project (product.md's fields), at
# ../shared/tools/check_advice.py from the repository (or from a folder above a worktree); located
# from this file, not from the working directory. Without it, the test checks the fields itself.
CHECKER = next((d / "shared" / "tools" / "check_advice.py" for d in Path(__file__).resolve().parents
                if (d / "shared" / "tools" / "check_advice.py").is_file()), Path("/nonexistent/check_advice.py"))
# Words that claim a latency was measured (the checker's list); predicted latency must not use them.
CLAIMS = ("measured here", "timed interleaved", "measured p50", "measured p90", "measured on this device")


def check_advice(folder: Path) -> None:
    """Run the contract checker on ``folder`` (when it is there) and assert it passes."""
    if CHECKER.is_file():
        r = subprocess.run([sys.executable, str(CHECKER), str(folder)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
FIELDS = ("schema", "fits_budget", "strategy", "params", "pick_rule", "model", "data", "device", "budget",
          "baseline", "compressed", "satisfied", "binding_constraint", "nearest", "alternatives", "candidates",
          "ranking", "reasons", "trials")


def test_fiq_is_four_times_smaller_within_one_point(digits_problem):
    _, m = digits_problem.evaluate("FIQ")
    base = digits_problem.baseline
    assert 3.5 <= base.size_bytes / m.size_bytes <= 4.5
    assert (base.quality - m.quality) * 100 <= 1.0
    assert m.extra["FIQ.calibration_samples"] == 200


@pytest.mark.slow
def test_advise_writes_contract_files_and_never_picks_a_budget_breaker(digits_problem, tmp_path):
    budget = Budget.preset("mid")
    advice = advise(digits_problem, budget, tmp_path, settings=SearchSettings(trials=3),
                    strategies=["BLQ", "FIQ", "F16"], enqueue=[("BLQ", {}), ("FIQ", {}), ("F16", {})])
    assert len(advice.evaluations) == 3
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert (tmp_path / "advice.md").is_file() and (tmp_path / "pareto.png").stat().st_size > 1000
    assert set(FIELDS) <= set(doc)
    check_advice(tmp_path)
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


@pytest.mark.slow
def test_impossible_budget_exits_one_with_binding_constraint(digits_problem, tmp_path):
    advice = advise(digits_problem, Budget(max_size_kb=1), tmp_path, settings=SearchSettings(trials=1),
                    strategies=["FIQ"], enqueue=[("FIQ", {})])
    assert advice.exit_code == 1
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert doc["fits_budget"] is False and doc["binding_constraint"] == "size"
    assert (tmp_path / "nearest.onnx").is_file() and not (tmp_path / "model.onnx").exists()


@pytest.mark.slow
def test_advice_measured_here_says_same_run_and_uses_same_run_speedups(digits_problem, tmp_path):
    advice = advise(digits_problem, Budget(max_accuracy_drop=5), tmp_path, settings=SearchSettings(trials=1),
                    strategies=["F16"], enqueue=[("F16", {})])
    check_advice(tmp_path)
    doc = json.loads((tmp_path / "advice.json").read_text())
    md = (tmp_path / "advice.md").read_text()
    assert "## Measured here" in md and "same run" in md
    assert doc["baseline"]["latency"]["source"] == "earlier-run"
    c = doc["compressed"]
    if doc["strategy"] != "NQ":
        assert c["latency"]["source"] == "same-run" and c["baseline_latency"]["source"] == "same-run"
        assert c["speedup_p50"] == pytest.approx(c["baseline_latency"]["p50_ms"] / c["latency"]["p50_ms"], rel=1e-3)
    m = advice.evaluations[0].measurement
    assert m.latency.spread is not None and m.latency.spread >= 0
    assert same_run_baseline(m) is not None


@pytest.mark.slow
def test_advice_for_a_foreign_profile_never_calls_latency_measured(tmp_path):
    """A profile of another machine: every latency is the profiler's prediction with an interval,
    and no surface (advice.md, advice.json, plot label, reasons) says it was measured."""
    foreign = make_profile("faraway-board", host={"cpu": "Some Other CPU", "cores_logical": 3})
    assert not is_this_device(foreign)
    with open_problem("builtin:digits-cnn", "builtin:digits", settings=FAST) as problem:
        advice = advise(problem, Budget(max_accuracy_drop=5, max_latency_ratio=1.5), tmp_path / "a",
                        settings=SearchSettings(trials=1), strategies=["FIQ"], enqueue=[("FIQ", {})], profile=foreign)
    out = tmp_path / "a"
    check_advice(out)
    doc = json.loads((out / "advice.json").read_text())
    assert "predicted" in doc["latency_source"] and "faraway-board" in doc["latency_source"]
    for side in ("baseline", "compressed"):
        lat = doc[side]["latency"]
        assert lat["source"] == "predicted" and lat["profile"] == "faraway-board"
        lo, hi = lat["interval_ms"]
        assert lo < lat["p50_ms"] < hi  # never a zero-width interval
        assert doc[side]["extra"]["latency_interval"]  # says where the interval comes from
    md = (out / "advice.md").read_text()
    assert "## Measured here" not in md and "Latency predicted for profile faraway-board" in md
    for line in md.splitlines():
        low = line.lower()
        if any(w in low for w in ("latency", "p90", "p50", " ms")) or line.startswith("#"):
            assert not any(c in low for c in CLAIMS) or "predict" in low, line
    for r in advice.reasons:
        assert not any(c in f"{r.text} {r.evidence} {r.source}".lower() for c in CLAIMS), r
    assert latency_heading(advice) == "predicted for profile faraway-board"


def test_block_spread_is_the_half_range_of_block_medians():
    ms = np.concatenate([np.full(5, 1.0), np.full(5, 1.2), np.full(5, 0.8)])
    assert block_spread(ms, [5, 5, 5]) == pytest.approx(0.2)  # (1.2 - 0.8) / (2 * 1.0)
    assert block_spread(np.full(10, 2.0), [5, 5]) == 0.0
    assert block_spread(np.full(3, 2.0), [3]) == 0.0  # one block: no spread measured


def _m(q, p90, size, spread=0.05, base_p90=None, reported=None):
    extra = {} if base_p90 is None else {
        BASELINE_LATENCY_KEY: LatencyStats(base_p90 * 0.9, base_p90, 100, 1, False, spread=spread).to_dict()}
    return Measurement("accuracy", q, size, size // 2, LatencyStats(p90 * 0.9, p90, 100, 1, False, spread=spread),
                       1, 1.0, extra=extra, reported=reported,
                       selection=QualityFigure(q, q - 0.02, min(1.0, q + 0.01), 180, "accuracy", "validation"))


def test_pick_reports_the_test_figure_and_says_a_noise_tie_decided(digits_problem, tmp_path):
    """Two candidates 1 us apart at p90, inside the measured noise: the more accurate one wins, the
    reason says so, and the pick's accuracy is shown from the test split with its interval."""
    base = digits_problem.baseline
    q = base.quality
    test_fig = QualityFigure(0.962, 0.921, 0.983, 120, "accuracy", "test")
    fast = Evaluation("FAST", {}, _m(q - 0.010, 0.500, 1000, base_p90=0.6))
    accurate = Evaluation("ACCURATE", {}, _m(q - 0.001, 0.501, 1200, base_p90=0.6, reported=test_fig))
    budget = Budget(max_accuracy_drop=5, max_size_kb=10)  # the original (2.3 MB) does not fit
    advice = build_advice(digits_problem, budget, [fast, accurate], device={}, trials={})
    assert advice.chosen is accurate
    text = " ".join(f"{r.text} {r.evidence}" for r in advice.reasons)
    assert "tie within measured noise" in text
    assert "0.962 [0.921, 0.983], n=120, test split" in text
    assert "validation split" in text
    md = markdown(advice, advice.to_dict())
    assert "96.20 [92.10, 98.30]" in md and "test split" in md
    doc = advice.to_dict()
    assert doc["compressed"]["reported"]["split"] == "test" and doc["selection_split"] == "validation"


def test_a_test_split_too_small_for_the_limit_gives_a_warning_reason(digits_problem):
    """10 test samples cannot show a 1 pt limit (one sample is 10 pt): the advice says so."""
    small = QualityFigure(0.9, 0.6, 0.98, 10, "accuracy", "test")
    cand = Evaluation("C", {}, _m(digits_problem.baseline.quality, 0.5, 1000, base_p90=0.6, reported=small))
    advice = build_advice(digits_problem, Budget(max_accuracy_drop=1, max_size_kb=10), [cand], device={}, trials={})
    assert advice.chosen is cand
    assert any("cannot show a 1 pt limit" in r.text for r in advice.reasons)


def test_a_pick_whose_test_figure_breaks_the_limit_is_flagged(digits_problem):
    """Chosen on validation (within the limit), the held-out test figure falls below it: the advice
    says the limit is unproven instead of reporting success silently."""
    q = digits_problem.baseline.quality
    low = QualityFigure(q - 0.08, q - 0.15, q - 0.03, 107, "agreement", "test")
    cand = Evaluation("C", {}, _m(q - 0.04, 0.5, 1000, base_p90=0.6, reported=low))
    advice = build_advice(digits_problem, Budget(max_accuracy_drop=5, max_size_kb=10), [cand], device={}, trials={})
    assert advice.chosen is cand
    assert any(r.text.startswith("Held-out check failed") for r in advice.reasons)
    check = advice.to_dict()["held_out_check"]
    assert check["passes"] is False and check["n"] == 107
    fine = QualityFigure(q - 0.02, q - 0.05, q, 107, "agreement", "test")
    ok = Evaluation("OK", {}, _m(q - 0.01, 0.5, 1000, base_p90=0.6, reported=fine))
    advice = build_advice(digits_problem, Budget(max_accuracy_drop=5, max_size_kb=10), [ok], device={}, trials={})
    assert advice.to_dict()["held_out_check"]["passes"] is True
    assert not any(r.text.startswith("Held-out check failed") for r in advice.reasons)


def test_a_pick_measured_elsewhere_is_rebuilt_from_its_strategy_not_its_label(digits_problem):
    """A worker on another host measured the pick (no model file here): ``advise`` re-runs the
    candidate's recorded strategy and parameters; the advice shows its display label."""
    _, m = digits_problem.evaluate("F16")
    remote = Evaluation("F16", {}, m, trial=7, train_scale=1.0, variant="F16")
    budget = Budget(max_accuracy_drop=5, max_size_ratio=0.6)  # the original does not fit, F16 does
    advice = build_advice(digits_problem, budget, [remote], device={}, trials={})
    assert advice.chosen is remote and remote.model_path is None
    _materialize(advice, digits_problem, RunContext())
    rebuilt = advice.chosen
    assert rebuilt.model_path is not None and rebuilt.model_path.is_file()
    assert (rebuilt.strategy, rebuilt.trial, rebuilt.label, rebuilt.notes["rebuilt_here"]) == ("F16", 7, "F16 #7", True)
    assert advice.evaluations[0] is rebuilt
    assert advice.to_dict()["strategy"] == "F16 #7" and "**Use F16 #7**" in markdown(advice, advice.to_dict())
