"""End to end on the real built-in model: the advice folder and its contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advisor.budget import Budget
from advisor.choice import Choice, Confirmation
from advisor.decide import BASELINE_LATENCY_KEY, meets, same_run_baseline
from advisor.explain import build_advice
from advisor.jobs import advise, is_this_device
from advisor.measure.latency import block_spread
from advisor.problem import Evaluation, open_problem
from advisor.report import latency_heading, markdown
from advisor.search import SearchSettings
from advisor.types import DropFigure, LatencyStats, Measurement, QualityFigure
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
FIELDS = ("schema", "status", "exit_code", "headline", "fits_budget", "confirmed", "strategy", "params", "pick_rule",
          "model", "data", "device", "budget", "baseline", "compressed", "satisfied", "verdicts", "confirmation",
          "ties", "final_race", "binding_constraint", "nearest", "alternatives", "candidates", "ranking", "reasons",
          "trials", "reproducibility")


def test_fiq_is_four_times_smaller_within_one_point(digits_problem):
    _, m = digits_problem.evaluate("FIQ")
    base = digits_problem.baseline
    assert 3.5 <= base.size_bytes / m.size_bytes <= 4.5
    assert (base.quality - m.quality) * 100 <= 1.0
    assert m.drop is not None and m.drop.split == "validation" and m.drop.hi <= 2.0  # paired, with bounds
    assert m.confirmation is not None and m.confirmation.n == len(digits_problem.data.test)
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
        assert meets(budget, base, chosen.measurement)
        assert (tmp_path / advice.model_file).is_file()
        assert all(doc["satisfied"].values())
    for c in doc["candidates"]:
        if "fits" in c and not c["fits"]:
            assert c["strategy"] != doc["strategy"] or not doc["fits_budget"]
    assert all(r["text"] and r["evidence"] and r["source"] for r in doc["reasons"])


@pytest.mark.slow
def test_a_candidate_predicted_far_below_the_measured_best_is_deferred_and_the_advice_says_why(digits_problem,
                                                                                              tmp_path):
    """Dynamic INT8 runs ~10x slower than FP32 convolutions on this CPU and the ranker knows it:
    once FIQ is measured faster than the original, BLQ waits until every other candidate ran."""
    advice = advise(digits_problem, Budget(max_accuracy_drop=5), tmp_path, settings=SearchSettings(trials=3),
                    strategies=["FIQ", "F16", "BLQ"], enqueue=[("FIQ", {}), ("F16", {}), ("BLQ", {})])
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert list(doc["trials"]["deferred"]) == ["BLQ"], doc["trials"]["deferred"]
    assert doc["trials"]["deferred"]["BLQ"].startswith("BLQ deferred: predicted speed-up ")
    assert "BLQ" not in [e.strategy for e in advice.evaluations]  # 3 trials: FIQ, F16 and a move of the leader
    md = (tmp_path / "advice.md").read_text()
    assert "The search deferred 1 candidate(s) predicted to lose on latency" in md


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


def _cand(problem, label, d, ratio, size, half=0.5, run="r"):
    """A synthetic candidate of ``problem``: paired drop ``d`` +- ``half`` pt on validation, p50 at ``ratio``
    of the original in run ``run`` (clean blocks), ``size`` bytes."""
    base_ms = problem.baseline.latency.p50_ms
    blocks = (1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.0, 1.01, 0.99)

    def lat(ms):
        return LatencyStats(ms, ms * 1.1, 100, 1, False, spread=0.02, blocks_p50=tuple(ms * b for b in blocks),
                            blocks_p90=tuple(1.1 * ms * b for b in blocks), run=run)

    q = problem.baseline.quality - d / 100
    m = Measurement("accuracy", q, size, size // 2, lat(ratio * base_ms), 1, 1.0,
                    extra={BASELINE_LATENCY_KEY: lat(base_ms).to_dict()},
                    selection=QualityFigure(q, q - 0.02, min(1.0, q + 0.01), 400, "accuracy", "validation"),
                    drop=DropFigure(d, d - half, d + half, 400, "accuracy", "validation", "test", 0.95, of=400))
    return Evaluation(label, {}, m)


def _confirmation(label, d, half, limit, n=400):
    fig = QualityFigure(0.97, 0.95, 0.98, n, "accuracy", "test")
    return Confirmation(label, DropFigure(d, d - half, d + half, n, "accuracy", "test", "test", 0.95, of=n), fig, limit)


def test_a_speed_tie_is_decided_by_accuracy_and_listed(digits_problem):
    """Two candidates 1% apart in speed (another run each: within noise): the smaller drop wins, the
    other is listed as a tie, and the confirmed pick says "Use"."""
    fast = _cand(digits_problem, "FAST", 1.0, 0.500, 1000, run="a")
    accurate = _cand(digits_problem, "ACCURATE", 0.2, 0.505, 1200, run="b")
    budget = Budget(max_accuracy_drop=3, max_size_kb=10)  # the original (2.3 MB) does not fit
    cands = [Evaluation("NQ", {}, digits_problem.baseline), fast, accurate]
    choice = Choice(tuple(cands), accurate, (fast,), (fast, accurate), (), None,
                    _confirmation("ACCURATE", 0.3, 0.5, 3))
    advice = build_advice(digits_problem, budget, [fast, accurate], device={}, trials={}, choice=choice)
    assert advice.status == "confirmed" and advice.exit_code == 0 and advice.headline().startswith("Use ACCURATE")
    text = " ".join(f"{r.text} {r.evidence}" for r in advice.reasons)
    assert "tied on speed" in text and "Confirmed on the untouched test split" in text
    doc = advice.to_dict()
    assert doc["ties"] == ["FAST"] and doc["confirmation"]["confirmed"] is True and doc["status"] == "confirmed"
    md = markdown(advice)
    assert md.startswith("# Compression advice") and "**Use ACCURATE**" in md and "tie: meets" in md


def test_an_unconfirmed_pick_never_says_use_and_names_the_nearest_confirmed_option(digits_problem):
    a = _cand(digits_problem, "A", 0.5, 0.4, 1000)
    b = _cand(digits_problem, "B", 0.4, 0.6, 1000)
    cands = [Evaluation("NQ", {}, digits_problem.baseline), a, b]
    choice = Choice(tuple(cands), a, (), (a, b), (), None, _confirmation("A", 3.0, 0.6, 2.0),
                    (_confirmation("B", 0.5, 0.6, 2.0),))
    advice = build_advice(digits_problem, Budget(max_accuracy_drop=2, max_size_kb=10), [a, b], device={}, trials={},
                          choice=choice)
    assert advice.status == "unconfirmed" and advice.exit_code == 3 and advice.model_file == "unconfirmed.onnx"
    head = advice.headline()
    assert head.startswith("Unconfirmed: A") and "breaks the accuracy limit" in head
    assert "Nearest confirmed option: B" in head
    md = markdown(advice)
    assert "**Use" not in md and "**Unconfirmed**" in md
    doc = advice.to_dict()
    assert doc["confirmed"] is False and doc["nearest_confirmed"] == "B" and doc["exit_code"] == 3


def test_a_test_split_too_small_for_the_limit_says_so(digits_problem):
    """400 test samples cannot show a 0.3 pt limit even for a lossless candidate: the advice says so."""
    c = _cand(digits_problem, "C", 0.0, 0.5, 1000, half=0.1)
    cands = [Evaluation("NQ", {}, digits_problem.baseline), c]
    choice = Choice(tuple(cands), c, (), (c,), (), None, _confirmation("C", 0.0, 0.6, 0.3))
    advice = build_advice(digits_problem, Budget(max_accuracy_drop=0.3, max_size_kb=10), [c], device={}, trials={},
                          choice=choice)
    assert any("cannot confirm a 0.3 pt limit" in r.text for r in advice.reasons)
    assert advice.to_dict()["data"]["resolvable_limit_pts"]["test"] > 0.3


def _noisy_test_split(tmp_path: Path) -> Path:
    """The digits as an .npz whose test split (the positions the fixed split gives to test) holds
    low-margin inputs: validation is clean, test is where the quantized model disagrees."""
    from advisor.data import load_data
    from advisor.types import TensorSpec

    digits = load_data("builtin:digits", (TensorSpec("input", (None, 1, 32, 32), "float32"),))
    x = np.concatenate([digits.calib.inputs["input"], digits.val.inputs["input"], digits.test.inputs["input"]])
    n = len(x)
    order = np.random.default_rng(0).permutation(n)  # data._dataset.split's post-training permutation
    n_calib = min(256, n // 3)
    test_pos = order[n_calib + (n - n_calib) // 2:]
    rng = np.random.default_rng(1)
    x[test_pos] = 0.5 * x[test_pos] + 0.5 * rng.random(x[test_pos].shape, dtype=np.float32)
    np.savez(tmp_path / "shifted.npz", input=x)
    return tmp_path / "shifted.npz"


@pytest.mark.slow
def test_a_pick_whose_test_drop_breaks_the_limit_never_exits_zero_or_says_use(tmp_path):
    """The built-in model on data whose test split is harder than its validation split (a shift the
    choosing never saw): the pick fits on validation, the test split does not confirm it."""
    data = _noisy_test_split(tmp_path)
    with open_problem("builtin:digits-cnn", str(data), settings=FAST, strategies=["FIQ"]) as problem:
        advice = advise(problem, Budget(max_accuracy_drop=1.0, max_size_ratio=0.5), tmp_path / "out",
                        settings=SearchSettings(trials=1), strategies=["FIQ"], enqueue=[("FIQ", {})])
    assert advice.choice.pick is not None and advice.choice.pick.strategy == "FIQ"
    assert advice.status == "unconfirmed" and advice.exit_code == 3
    out = tmp_path / "out"
    md = (out / "advice.md").read_text()
    assert "**Use" not in md and "Unconfirmed" in md.splitlines()[2]
    assert (out / "unconfirmed.onnx").is_file() and not (out / "model.onnx").exists()
    doc = json.loads((out / "advice.json").read_text())
    assert doc["confirmed"] is False and doc["exit_code"] == 3
    assert doc["confirmation"]["state"] in ("breaks", "unresolved")
    check_advice(out)
