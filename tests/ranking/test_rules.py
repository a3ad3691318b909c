"""Each rule fires on a crafted model/profile/budget and stays silent otherwise."""

from __future__ import annotations

import pytest

from advisor.budget import Budget
from advisor.models.graph import GraphInfo, NodeCost
from advisor.profiling import DeviceFacts
from advisor.ranking.features import model_features
from advisor.ranking.rules import RULES, RuleContext, fire_rules
from advisor.strategies import Strategy
from advisor.types import LatencyStats, Measurement

ALL = [Strategy.parse(s) for s in ("FIQ", "F16", "BLQ", "PRN", "PRQ", "SPR", "KD", "KD+FIQ", "CA", "LR", "QAT")]
BASE = Measurement("accuracy", 0.99, 1_000_000, 900_000, LatencyStats(1.0, 1.1, 100, 1, False), 1, 0.0)


def graph(params=500_000, conv=10, dw=0.0, mm=0.05, macs=50_000_000) -> dict[str, float]:
    costs = []
    if conv:
        costs.append(NodeCost("c", "Conv", int(macs * (1 - mm - dw)), 0, 0))
    if dw:
        costs.append(NodeCost("d", "Conv", int(macs * dw), 0, 0, depthwise=True))
    if mm:
        costs.append(NodeCost("m", "Gemm", int(macs * mm), 0, 0))
    g = GraphInfo(params, params * 4, macs, len(costs), {"Conv": conv, "Gemm": 1}, 5, 1024, 10, tuple(costs))
    return model_features(g, train=1000, classes=10, labelled=True)


def ctx(**kw) -> RuleContext:
    base = dict(model=graph(), budget=Budget.preset("mid"), facts=DeviceFacts(), baseline=BASE, labelled=True,
                kb_similar=50)
    base.update({("model" if k == "graph" else k): v for k, v in kw.items()})
    return RuleContext(**base)


def fired(c: RuleContext, name: str):
    rule = next(r for r in RULES if r.name == name)
    return rule.fn(c, ALL)


def test_every_rule_has_a_source():
    assert len(RULES) >= 10
    assert all(r.source for r in RULES)


def test_int8_speed_rule_reads_the_profile():
    up = fired(ctx(facts=DeviceFacts(int8_speedup=3.0)), "int8_speed_here")
    assert up and up[0].shift > 0 and "3.0x faster" in up[0].reason.text and "FIQ" in up[0].strategies
    down = fired(ctx(facts=DeviceFacts(int8_speedup=0.5)), "int8_speed_here")
    assert down and down[0].shift < 0 and "slower" in down[0].reason.text
    assert fired(ctx(facts=DeviceFacts()), "int8_speed_here") == []


def test_fp16_rule_only_without_speedup():
    assert fired(ctx(facts=DeviceFacts(fp16_speedup=0.9)), "fp16_no_speedup")
    assert fired(ctx(facts=DeviceFacts(fp16_speedup=1.8)), "fp16_no_speedup") == []


def test_dynamic_int8_rule_needs_convolutions():
    f = fired(ctx(), "dynamic_int8_on_conv")
    assert f and "ConvInteger" in f[0].reason.text and f[0].shift < 0
    assert fired(ctx(graph=graph(conv=0, mm=1.0)), "dynamic_int8_on_conv") == []


def test_zero_rule_shifts_only_for_latency_objective():
    assert fired(ctx(), "zeros_do_not_speed_up")[0].shift < 0
    assert fired(ctx(budget=Budget.preset("low")), "zeros_do_not_speed_up")[0].shift == 0


def test_compression_time_rule_excludes_training_under_a_tight_limit():
    f = fired(ctx(budget=Budget(max_compress_seconds=5)), "compression_time_budget")
    assert f[0].effect == "exclude" and "KD" in f[0].strategies and "FIQ" not in f[0].strategies
    assert fired(ctx(budget=Budget(max_compress_seconds=600)), "compression_time_budget")[0].effect == "note"


@pytest.mark.parametrize(("rule", "firing", "silent"), [
    ("many_parameters", {"graph": graph(params=5_000_000)}, {"graph": graph(params=100_000)}),
    ("tiny_model_overhead", {"graph": graph(macs=500_000)}, {"graph": graph(macs=50_000_000)}),
    ("depthwise_stays_float", {"graph": graph(dw=0.6)}, {"graph": graph(dw=0.0)}),
    ("tight_accuracy", {"budget": Budget(max_accuracy_drop=0.2)}, {"budget": Budget(max_accuracy_drop=3)}),
    ("per_network_variation", {"kb_similar": 0}, {"kb_similar": 100}),
    ("busy_device", {"facts": DeviceFacts(background_load_cores=1.6, cores_logical=2)},
     {"facts": DeviceFacts(background_load_cores=0.0, cores_logical=2)}),
    ("tier_strategy", {"budget": Budget.preset("low")}, {"budget": Budget(max_size_kb=10)}),
    ("distillation_pays", {"budget": Budget.preset("mid")}, {"budget": Budget(max_compress_seconds=20)}),
])
def test_rule_fires_when_and_only_when(rule, firing, silent):
    assert fired(ctx(**firing), rule)
    assert not fired(ctx(**silent), rule)


def test_large_dense_layers_direction():
    assert fired(ctx(graph=graph(conv=0, mm=1.0)), "large_dense_layers")[0].shift > 0
    assert fired(ctx(), "large_dense_layers")[0].shift < 0


def test_fire_rules_collects_reasons_with_sources():
    out = fire_rules(ctx(facts=DeviceFacts(int8_speedup=2.0, fp16_speedup=0.8)), ALL)
    assert out and all(f.reason.text and f.reason.evidence and f.reason.source for f in out)


def real_cnn(samples: int, trainable: bool, labelled: bool = False) -> dict[str, float]:
    costs = (NodeCost("c", "Conv", 500_000_000, 0, 0), NodeCost("d", "Conv", 100_000_000, 0, 0, depthwise=True))
    g = GraphInfo(5_400_000, 21_600_000, 600_000_000, 150, {"Conv": 49, "Gemm": 1}, 60, 3 * 240 * 240, 1000, costs)
    return model_features(g, train=0, classes=1000, labelled=labelled, samples=samples, trainable=trainable)


def test_scratch_training_rule_sends_from_scratch_strategies_last_with_evidence():
    f = fired(ctx(graph=real_cnn(200, trainable=False), labelled=False), "scratch_training_needs_data")
    assert f and f[0].effect == "last"
    assert set(f[0].strategies) == {"KD", "KD+FIQ", "CA"}  # KD from scratch without a PyTorch source; CA always
    assert "200 unlabelled samples" in f[0].reason.text and "47.5 pt" in f[0].reason.evidence
    assert "Rachmanto" in f[0].reason.source and "Lee" in f[0].reason.source
    derived = fired(ctx(graph=real_cnn(200, trainable=True), labelled=False), "scratch_training_needs_data")
    assert derived and derived[0].strategies == ("CA",)  # a student derived from the teacher is not from scratch
    assert fired(ctx(graph=real_cnn(100_000, trainable=False, labelled=True)), "scratch_training_needs_data") == []
    # digits scale: 1,797 samples are enough for a compact student
    assert fired(ctx(graph=graph(macs=5_000_000)), "scratch_training_needs_data") == []


def test_post_training_rule_fires_where_training_cannot_pay_off():
    f = fired(ctx(graph=real_cnn(200, trainable=False), labelled=False), "post_training_fits")
    assert f and f[0].shift > 0 and set(f[0].strategies) == {"FIQ", "F16", "BLQ"}
    assert fired(ctx(graph=real_cnn(100_000, trainable=True, labelled=True)), "post_training_fits") == []
    assert fired(ctx(graph=graph(macs=500_000, params=1000)), "post_training_fits") == []  # tiny: overhead wins


def test_dynamic_int8_on_a_conv_heavy_cnn_cites_the_measured_slowdown():
    f = fired(ctx(graph=real_cnn(200, trainable=False)), "dynamic_int8_on_conv")
    assert f[0].shift == pytest.approx(-2.3) and "~10x slower" in f[0].reason.text
    assert "61 ms" in f[0].reason.source and "ecosystem" in f[0].reason.source


def test_distillation_is_not_praised_when_it_trains_from_scratch_on_little_data():
    assert fired(ctx(graph=real_cnn(200, trainable=False), labelled=False), "distillation_pays") == []
    assert fired(ctx(graph=real_cnn(200, trainable=True), labelled=False), "distillation_pays")
