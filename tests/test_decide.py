"""The decision rule on interval figures: three-state verdicts, same-run latency, ties and the pick."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.budget import Budget
from advisor.decide import BASELINE_LATENCY_KEY, binding, judge, meets, pick, same_run_baseline, speed
from advisor.types import DropFigure, LatencyStats, Measurement

JITTER = np.array([1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.00])


def lat(ms: float, run: str | None = "r", jitter=JITTER) -> LatencyStats:
    blocks = tuple(float(ms * j) for j in jitter)
    return LatencyStats(ms, ms * 1.1, 100, 1, False, spread=0.02, blocks_p50=blocks,
                        blocks_p90=tuple(b * 1.1 for b in blocks), run=run)


def drop(value: float, half: float = 0.5, n: int = 1000) -> DropFigure:
    return DropFigure(value, value - half, value + half, n, "accuracy", "validation", "test", 0.95, of=n)


def cand(d=0.5, half=0.5, size=1000, ratio=0.5, base_ms=1.0, run="r", secs=1.0, q=0.98) -> Measurement:
    """A candidate timed in run ``run`` with the original at ``base_ms`` (same jitter: a clean pairing)."""
    extra = {BASELINE_LATENCY_KEY: lat(base_ms, run).to_dict()}
    return Measurement("accuracy", q, size, size // 2, lat(ratio * base_ms, run), 1, secs, extra=extra,
                       drop=drop(d, half))


BASE = Measurement("accuracy", 0.99, 4000, 2000, lat(1.0, "open"), 1, 0.0, drop=drop(0.0, 0.0))


def test_limits_have_three_states_and_only_fits_meets_accuracy():
    b = Budget(max_accuracy_drop=2.0)
    assert judge(b, BASE, cand(d=0.5, half=1.0))["accuracy"].state == "fits"
    unresolved = judge(b, BASE, cand(d=1.8, half=1.0))["accuracy"]
    assert unresolved.state == "unresolved" and not unresolved.meets
    assert judge(b, BASE, cand(d=3.5, half=1.0))["accuracy"].state == "breaks"


def test_a_candidate_that_breaks_any_limit_is_never_picked():
    b = Budget(max_accuracy_drop=1.0, max_size_kb=4, max_compress_seconds=100)
    ms = [cand(d=5.0, ratio=0.1), cand(size=5000, ratio=0.2), cand(secs=500, ratio=0.3),
          cand(d=0.2, half=0.3, ratio=0.9)]
    p = pick(b, BASE, ms)
    assert p.index == 3 and p.feasible == (3,)


def test_nothing_fits_names_the_binding_constraint_whatever_the_order():
    b = Budget(max_size_kb=1, max_accuracy_drop=1)
    ms = [cand(size=3000, d=0.0, half=0.2), cand(size=1000, d=4.0)]
    assert pick(b, BASE, ms).index is None
    assert binding(b, BASE, ms) == binding(b, BASE, ms[::-1]) == "size"


def test_latency_ratio_is_judged_against_the_same_run_original():
    """The one-off timing of the original was slow (a busy moment: 10 ms); the original timed with
    the candidate ran at 1 ms. A 1.5 ms candidate breaks p90 <= original, whatever the one-off says."""
    one_off = Measurement("accuracy", 0.99, 4000, 2000, lat(10.0, "open"), 1, 0.0, drop=drop(0.0, 0.0))
    c = cand(ratio=1.5, base_ms=1.0)
    v = judge(Budget(max_latency_ratio=1.0), one_off, c)["latency"]
    assert v.state == "breaks" and not v.meets
    assert same_run_baseline(c).p90_ms == pytest.approx(1.1) and same_run_baseline(one_off) is None


def test_a_latency_within_noise_of_its_limit_meets_it_and_says_so():
    v = judge(Budget(max_latency_ratio=1.0), BASE, cand(ratio=1.02))["latency"]
    assert v.state in ("fits", "within noise") and v.meets
    wobble = np.array([0.95, 1.05] * 5)  # a noisy run: the candidate's blocks swing +-5% against a steady original
    noisy = Measurement("accuracy", 0.98, 1000, 500, lat(1.06, "n", jitter=wobble), 1, 1.0,
                        extra={BASELINE_LATENCY_KEY: lat(1.0, "n", jitter=np.ones(10)).to_dict()}, drop=drop(0.1))
    v = judge(Budget(max_latency_ratio=1.0), BASE, noisy)["latency"]
    assert v.state == "within noise" and v.meets
    assert judge(Budget(max_latency_ratio=1.0), BASE, cand(ratio=1.2))["latency"].state == "breaks"


def test_a_latency_objective_never_picks_a_candidate_slower_than_the_original():
    b = Budget(max_accuracy_drop=5.0)  # the original fits too
    slow = cand(d=0.0, half=0.1, ratio=1.3, size=500)
    p = pick(b, BASE, [BASE, slow])
    assert p.index == 0 and p.slower == (1,)
    assert pick(Budget(max_accuracy_drop=5.0, max_size_kb=1), BASE, [BASE, slow]).index is None


def test_speeds_tied_within_noise_go_to_the_smaller_drop_then_the_smaller_file():
    b = Budget(max_accuracy_drop=3.0, max_size_kb=3)
    fast = cand(d=1.0, ratio=0.500, size=1000, run="a")
    accurate = cand(d=0.2, ratio=0.505, size=1200, run="b")  # 1% slower, another run: a tie
    p = pick(b, BASE, [fast, accurate])
    assert p.index == 1 and p.ties == (0,)
    small = cand(d=0.25, ratio=0.51, size=900, run="c")  # the same drop within 0.1 pt, smaller
    assert pick(b, BASE, [fast, accurate, small]).index == 2
    far = cand(d=0.2, ratio=0.7, size=1200, run="d")  # clearly slower: not a tie
    p = pick(b, BASE, [fast, far])
    assert p.index == 0 and p.ties == ()


def test_candidates_timed_in_one_run_compare_by_their_paired_blocks():
    """Two candidates of the final race: their own blocks pair up, so a 6% difference is resolved
    even though each one's ratio to the original overlaps the other's."""
    a = cand(ratio=0.50, run="race")
    bb = cand(ratio=0.53, run="race")
    assert speed(BASE, a).hi < speed(BASE, bb).lo  # clean pairing here
    p = pick(Budget(max_accuracy_drop=3.0, max_size_kb=3), BASE, [bb, a])
    assert p.index == 1 and p.ties == ()


def test_the_pick_does_not_depend_on_the_order_of_candidates():
    b = Budget(max_accuracy_drop=3.0, max_size_kb=3)
    ms = [cand(d=1.0, ratio=0.50, size=1000, run="a"), cand(d=0.2, ratio=0.505, size=1200, run="b"),
          cand(d=0.2, ratio=0.506, size=1100, run="c")]
    names = ["A", "B", "C"]
    first = names[pick(b, BASE, ms, names).index]
    assert names[::-1][pick(b, BASE, ms[::-1], names[::-1]).index] == first == "C"


def test_meets_is_every_verdict():
    b = Budget(max_accuracy_drop=1.0, max_size_kb=3)
    assert meets(b, BASE, cand(d=0.1, half=0.2))
    assert not meets(b, BASE, cand(d=0.1, half=0.2, size=5000))
