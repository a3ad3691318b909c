"""Output-aware fidelity: each output scored by what it is, the worst output binds."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.errors import InputError
from advisor.measure import quality_of
from advisor.measure.quality import choose_scoring, score
from advisor.models import load_model
from advisor.problem import open_problem
from tests.conftest import FAST
from tests.measure.tinymodels import dense_onnx, two_output_onnx


def _npz(tmp_path, n=90, width=8):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((n, width)).astype(np.float32))
    return path


def _metrics(problem) -> dict[str, str]:
    return {s.name: s.metric for s in problem.reference.scoring}


def test_normalised_384d_embedding_is_scored_by_cosine_not_argmax(tmp_path):
    model = dense_onnx(tmp_path / "enc.onnx", "output", 384, head="l2")  # a neutral name: values decide
    with open_problem(str(model), str(_npz(tmp_path)), settings=FAST) as p:
        assert _metrics(p) == {"output": "cosine"}
        assert "unit L2 norm" in p.reference.scoring[0].rule
        _, m = p.evaluate("BLQ")
    assert m.selection.metric == "cosine" and m.selection.method == "bootstrap"
    assert m.reported.metric == "cosine" and m.reported.split == "test"
    assert m.reported.lo <= m.reported.value <= m.reported.hi
    assert m.quality > 0.95  # INT8 weights barely move a unit vector; argmax agreement would not say so
    assert "rel-l2" in m.extra["quality_detail"]["output"]


def test_logits_are_scored_by_top1_agreement_with_extras(tmp_path):
    model = dense_onnx(tmp_path / "cls.onnx", "output", 10)  # raw scores (N, 10): class scores by shape
    with open_problem(str(model), str(_npz(tmp_path)), settings=FAST) as p:
        assert _metrics(p) == {"output": "agreement"}
        assert p.baseline.reported.value == 1.0 and p.baseline.reported.method == "wilson"
        _, m = p.evaluate("F16")
    detail = m.extra["quality_detail"]["output"]
    assert {"top5_agreement", "mean_kl"} <= set(detail) and detail["mean_kl"] >= 0


def test_name_rules_and_probabilities():
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((30, 6))
    probs = np.exp(raw) / np.exp(raw).sum(1, keepdims=True)
    got = choose_scoring(["logits", "sentence_embedding", "output", "last_hidden_state"],
                         [raw, raw, probs, rng.standard_normal((30, 7, 4))], labelled=False)
    assert [s.metric for s in got] == ["agreement", "cosine", "agreement", "cosine"]
    assert "summing to 1" in got[2].rule


def test_single_unit_probability_is_not_a_classifier(tmp_path):
    model = dense_onnx(tmp_path / "p.onnx", "prob", 1, head="sigmoid")  # even named 'prob'
    with open_problem(str(model), str(_npz(tmp_path)), settings=FAST) as p:
        assert _metrics(p) == {"prob": "rel-l2"}
    with (pytest.raises(InputError, match="--metric agreement does not fit output 'prob'.*choices that fit"),
          open_problem(str(model), str(_npz(tmp_path)), settings=FAST, metric="agreement")):
        pass


def test_several_outputs_each_scored_and_the_worst_binds(tmp_path):
    orig = two_output_onnx(tmp_path / "two.onnx")
    cand = load_model(str(two_output_onnx(tmp_path / "cand.onnx", state_noise=0.8)), workdir=tmp_path)
    with open_problem(str(orig), str(_npz(tmp_path)), settings=FAST) as p:
        assert _metrics(p) == {"logits": "agreement", "state": "cosine"}
        fig, detail = quality_of(cand, p.data, p.reference, "test")
    assert fig.per_output["logits"] == 1.0  # the logits' weights are untouched
    assert fig.value == fig.per_output["state"] < 0.99
    assert fig.metric == "cosine" and fig.method == "bootstrap"
    assert set(detail) == {"logits", "state"}


def test_metric_override_applies_to_every_output_and_scales_to_unit_interval():
    ref = [np.array([[1.0, 0.0], [0.0, 2.0]])]
    scoring = choose_scoring(["y"], ref, labelled=False, override="rel-l2")
    assert scoring[0].rule == "--metric"
    same, _ = score(ref, ref, scoring, ["y"], split="test")
    opposite, _ = score([-ref[0]], ref, scoring, ["y"], split="test")
    assert same.value == 1.0 and opposite.value == 0.0  # 1 - relative L2 error, clipped to [0, 1]
    cos = choose_scoring(["y"], ref, labelled=False, override="cosine")
    assert score([-ref[0]], ref, cos, ["y"], split="test")[0].value == 0.0  # anti-aligned: no similarity
