"""Every figure carries a 95% interval; choosing uses validation, reporting uses test."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.measure import quality_of
from advisor.measure.intervals import bootstrap_mean, wilson
from advisor.models import load_model
from advisor.problem import open_problem
from tests.conftest import FAST
from tests.measure.tinymodels import dense_onnx


def test_wilson_and_bootstrap_intervals_shrink_as_samples_grow():
    widths = [np.subtract(*wilson(int(0.9 * n), n)[::-1]) for n in (20, 200, 2000)]
    assert widths[0] > widths[1] > widths[2] > 0
    rng = np.random.default_rng(0)
    cos = [rng.beta(50, 1, n) for n in (20, 200, 2000)]
    widths = [np.subtract(*bootstrap_mean(c)[::-1]) for c in cos]
    assert widths[0] > widths[1] > widths[2] > 0
    assert bootstrap_mean(np.ones(50)) == (1.0, 1.0)
    assert bootstrap_mean(cos[0]) == bootstrap_mean(cos[0])  # fixed seed: reproducible


@pytest.mark.parametrize("metric_head", [(None, "agreement"), ("l2", "cosine")])
def test_reported_interval_shrinks_as_the_test_split_grows(tmp_path, metric_head):
    head, metric = metric_head
    orig = dense_onnx(tmp_path / "o.onnx", "output", 6, head=head)
    cand = load_model(str(dense_onnx(tmp_path / "c.onnx", "output", 6, head=head, noise=0.3)), workdir=tmp_path)
    widths = []
    for n in (60, 600):
        np.savez(tmp_path / f"d{n}.npz", x=np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32))
        with open_problem(str(orig), str(tmp_path / f"d{n}.npz"), settings=FAST) as p:
            fig, _ = quality_of(cand, p.data, p.reference, "test")
        assert fig.metric == metric and fig.n == len(p.data.test) and fig.lo <= fig.value <= fig.hi
        widths.append(fig.hi - fig.lo)
    assert widths[1] < widths[0]


def test_selection_uses_validation_and_the_report_uses_test(tmp_path):
    orig = dense_onnx(tmp_path / "o.onnx", "output", 6)
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(1).standard_normal((90, 8)).astype(np.float32))
    with open_problem(str(orig), str(tmp_path / "d.npz"), settings=FAST) as p:
        assert p.data.policy == "post-training"  # an ONNX file: nothing trains, nothing held for it
        test_rows = {r.tobytes() for r in p.data.test.inputs["x"]}
        assert not any(r.tobytes() in test_rows for r in p.data.val.inputs["x"])
        assert not any(r.tobytes() in test_rows for r in p.data.calib.inputs["x"])
        result, m = p.evaluate("BLQ")
        val, _ = quality_of(result.model, p.data, p.reference, "validation")
        test, _ = quality_of(result.model, p.data, p.reference, "test")
    assert m.selection == val and m.quality == val.value and m.selection.n == len(p.data.val)
    assert m.reported == test and m.reported.split == "test" and m.reported.n == len(p.data.test)
    assert p.baseline.selection.split == "validation"


