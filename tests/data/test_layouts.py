"""Input layouts a user is likely to have: a fixed batch of 1 takes [N, *shape] and [N, *shape[1:]]."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.data import load_data
from advisor.errors import InputError
from advisor.problem import open_problem
from tests.conftest import FAST
from tests.measure.tinymodels import streaming_onnx


def _arrays(n: int, own_shape: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 576) if own_shape else (n, 576)).astype(np.float32)
    h = rng.standard_normal((n, 1, 1, 128) if own_shape else (n, 1, 128)).astype(np.float32)
    return {"x": x, "h": h}


@pytest.mark.parametrize("own_shape", [True, False], ids=["N-model-shape", "N-shape-minus-batch"])
def test_fixed_batch_state_model_accepts_both_layouts_and_runs(tmp_path, own_shape):
    model = streaming_onnx(tmp_path / "stream.onnx")
    np.savez(tmp_path / "d.npz", **_arrays(30, own_shape))
    with open_problem(str(model), str(tmp_path / "d.npz"), settings=FAST) as p:
        assert p.data.test.inputs["x"].shape[1:] == (576,)  # one sample = x[i:i+1], the model's [1, 576]
        assert p.data.test.inputs["h"].shape[1:] == (1, 128)
        assert {s.name: s.metric for s in p.reference.scoring} == {"prob": "rel-l2", "h_next": "cosine"}
        assert p.baseline.reported.value == 1.0 and p.baseline.reported.n == len(p.data.test)
        _, m = p.evaluate("FIQ")  # calibration reader feeds one sample at a time in the model's shape
    assert 0.0 <= m.quality <= 1.0 and m.reported.n == len(p.data.test)


def test_other_layouts_are_refused_naming_the_accepted_ones(tmp_path):
    model = streaming_onnx(tmp_path / "stream.onnx")
    from advisor.models import load_model

    specs = load_model(str(model), workdir=tmp_path).inputs
    bad = _arrays(10, True)
    bad["h"] = np.zeros((10, 2, 1, 128), np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(InputError, match=r"input 'h' has shape \[10, 2, 1, 128\], model expects \[1, 1, 128\]; "
                                         r"accepted layouts: \[N, 1, 1, 128\] .* or \[N, 1, 128\]"):
        load_data(str(tmp_path / "bad.npz"), specs)
