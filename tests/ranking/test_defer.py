"""Steering the search and flagging the advice with a ranking: deferral and contradiction."""

from __future__ import annotations

from advisor.ranking import Deferral, contradiction, defer, why_deferred
from advisor.ranking._rank import Interval, RankedStrategy, Ranking


def _ranking() -> Ranking:
    def item(name, rank, sp, acc=(0.5, -0.5, 1.5)):
        return RankedStrategy(name, rank=rank, speedup=Interval(*sp, 0.9),
                              predicted={"accuracy_drop_pts": Interval(*acc, 0.9)},
                              learned_from={"latency_estimate": "the original's per-node times measured here"})

    items = [item("MPQ", 1, (1.9, 1.6, 2.2)), item("FIQ", 2, (2.0, 1.7, 2.4), acc=(8.0, 4.0, 12.0)),
             item("F16", 3, (0.8, 0.7, 0.92)), item("BLQ", 4, (0.11, 0.08, 0.15)),
             RankedStrategy("NQ", rank=5, speedup=Interval(1, 1, 1)),
             RankedStrategy("QAT", excluded="needs the PyTorch model"),
             RankedStrategy("SPR", rank=6, unknown="dry run failed: boom")]
    return Ranking(items, [], False, None, 100, "measured here", coverage=0.9, device_records=12,
                   latency_basis="shares")


def test_candidates_wholly_below_the_best_measured_are_deferred_with_why():
    r = _ranking()
    out = defer(r, 1.9, best_label="MPQ #0", measured={"MPQ"})
    assert set(out) == {"F16", "BLQ"}  # FIQ's interval reaches above 1.9x: it may still win
    assert "0.80x [0.70x, 0.92x] (90% interval) lies wholly below the 1.90x measured for MPQ #0" in out["F16"]
    assert defer(r, 0.5) == {"BLQ": defer(r, 0.5)["BLQ"]}  # only what lies wholly below
    assert defer(r, 0.0) == {} and defer(r, 1.0, measured={"F16", "BLQ"}) == {}
    # the original, excluded and unknown strategies are never deferred
    assert not {"NQ", "QAT", "SPR"} & set(defer(r, 100.0))


def test_why_deferred_needs_a_prediction_and_a_wholly_lower_interval():
    assert why_deferred(None, 2.0) is None
    assert why_deferred(Interval(1.5, 1.2, 2.1, 0.9), 2.0) is None  # overlaps: might win
    assert why_deferred(Interval(1.5, 1.2, 1.9, 0.9), 2.0).endswith("measured for the best trial so far")


def test_a_contradicted_prediction_is_a_reason_for_the_advice():
    r = _ranking()
    assert contradiction(r, "MPQ", measured_speedup=2.1, measured_drop_pts=1.0) is None  # inside both
    why = contradiction(r, "MPQ", measured_speedup=1.2, label="MPQ #3")
    assert why is not None and why.text.startswith("Prediction contradicted for MPQ #3: speed-up predicted 1.90x")
    assert "measured 1.20x (slower than predicted)" in why.text and "measured here" in why.evidence
    acc = contradiction(r, "FIQ", measured_drop_pts=1.0, metric="fidelity")
    assert acc is not None and "fidelity drop predicted +8.00 pt [+4.00, +12.00] (90% interval), measured +1.00" \
        in acc.text
    assert contradiction(r, "SPR", measured_speedup=9.0) is None  # no prediction: nothing to contradict
    assert contradiction(r, "NOPE", measured_speedup=9.0) is None


def test_deferral_for_the_search_handles_defaults_variants_and_objectives():
    r = _ranking()
    asked = []

    def predict(strategy, params):
        asked.append((strategy, params))
        return Interval(1.02, 0.95, 1.1, 0.9) if params.get("BLQ.ops") == "matmul" else None

    d = Deferral(r, predict=predict, defaults=lambda s: {"BLQ.ops": "all"} if s == "BLQ" else {})
    assert d("BLQ", {}, 2.0, "FIQ #1").startswith("BLQ deferred: predicted speed-up 0.11x")
    assert d("BLQ", {"BLQ.ops": "all"}, 2.0) is not None and asked == []  # its defaults: the ranking's prediction
    why = d("BLQ", {"BLQ.ops": "matmul"}, 2.0, "FIQ #1")
    assert why.startswith("BLQ(BLQ.ops=matmul) deferred: predicted speed-up 1.02x") and len(asked) == 1
    d("BLQ", {"BLQ.ops": "matmul"}, 2.0)
    assert len(asked) == 1  # predicted once per variant
    assert d("SPR", {"SPR.pruning_ratio": 0.7}, 2.0) is None  # no prediction of its own: never deferred
    assert d("F16", {}, None) is None  # nothing measured yet
    assert Deferral(r, objective="size")("BLQ", {}, 2.0) is None  # only latency objectives defer


def test_a_variant_gets_its_own_dry_run_and_prediction(digits_problem):
    """What the search's deferral asks about a variant: a dry run of that variant (kept on the
    problem, so asked twice it runs once) and the ranker's calibrated speed-up interval."""
    from functools import partial

    from advisor.ranking import fit_ranker, variant_speedup
    from advisor.ranking.kb import seed_records

    ranker = fit_ranker([r for r in seed_records() if r.get("threads") == 1], n_estimators=20,
                        latency_bases=("none",))
    predict = partial(variant_speedup, digits_problem, ranker=ranker)
    iv = predict("FIQ", {"FIQ.ops": "matmul"})
    assert iv is not None and iv.lo < iv.mean < iv.hi and iv.coverage == 0.9
    keys = [k for k in digits_problem.dry_runs if k[0].startswith("FIQ{")]
    assert keys and '"FIQ.ops": "matmul"' in keys[0][0]
    assert predict("FIQ", {"FIQ.ops": "matmul"}) == iv  # the dry run is not repeated
    d = Deferral(_ranking(), predict=predict)
    assert d("FIQ", {"FIQ.ops": "matmul"}, 1000.0, "a very fast trial").startswith("FIQ(FIQ.ops=matmul) deferred")
