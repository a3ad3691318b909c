"""The split policy: disjoint, deterministic parts that fit whether anything trains."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.data import Dataset, load_data, split
from advisor.errors import InputError
from advisor.types import TensorSpec

VEC = (TensorSpec("x", (None, 4), "float32"),)


def _ids(d: Dataset) -> set[int]:
    return {int(v) for v in d.inputs["x"][:, 0]}


def _numbered(n: int) -> Dataset:
    x = np.zeros((n, 4), np.float32)
    x[:, 0] = np.arange(n)
    return Dataset({"x": x})


def test_post_training_300_samples_is_100_100_100_disjoint():
    s = split("d.npz", _numbered(300), trains=False)
    assert (len(s.calib), len(s.val), len(s.test)) == (100, 100, 100)
    assert s.policy == "post-training"
    assert not (_ids(s.calib) & _ids(s.val) or _ids(s.calib) & _ids(s.test) or _ids(s.val) & _ids(s.test))
    assert _ids(s.train) == _ids(s.calib)  # nothing held back: training may only reuse calibration
    assert "100 calibration / 100 validation / 100 test" in s.summary()
    assert "no training share" in s.summary()
    again = split("d.npz", _numbered(300), trains=False)
    assert np.array_equal(s.test.inputs["x"], again.test.inputs["x"])  # deterministic


def test_calibration_is_capped_at_256_and_evaluation_gets_the_rest():
    s = split("d.npz", _numbered(2000), trains=False)
    assert len(s.calib) == 256 and len(s.val) + len(s.test) == 2000 - 256
    small = split("d.npz", _numbered(52), trains=False)
    assert (len(small.calib), len(small.val), len(small.test)) == (17, 17, 18)


def test_a_model_that_trains_gets_its_own_disjoint_share():
    s = split("d.npz", _numbered(300), trains=True)
    assert (len(s.train), len(s.calib), len(s.val), len(s.test)) == (120, 60, 60, 60)
    parts = [_ids(p) for p in (s.train, s.calib, s.val, s.test)]
    assert len(set().union(*parts)) == 300


def test_train_data_trains_and_data_only_calibrates_and_evaluates(tmp_path):
    np.savez(tmp_path / "eval.npz", x=np.ones((30, 4), np.float32))
    np.savez(tmp_path / "train.npz", x=np.zeros((50, 4), np.float32))
    s = load_data(str(tmp_path / "eval.npz"), VEC, train_data=str(tmp_path / "train.npz"))
    assert s.policy == "train-data" and len(s.train) == 50 and not s.train.inputs["x"].any()
    assert (len(s.calib), len(s.val), len(s.test)) == (10, 10, 10)
    assert f"50 samples from {tmp_path / 'train.npz'}" in s.summary()


def test_train_data_that_does_not_fit_the_model_names_the_option(tmp_path):
    np.savez(tmp_path / "eval.npz", x=np.ones((30, 4), np.float32))
    np.savez(tmp_path / "train.npz", x=np.zeros((50, 5), np.float32))
    with pytest.raises(InputError, match=r"^--train-data: data .* has shape \[50, 5\], model expects \[N, 4\]"):
        load_data(str(tmp_path / "eval.npz"), VEC, train_data=str(tmp_path / "train.npz"))


def test_training_source_is_said_in_words():
    post = split("d.npz", _numbered(300), trains=False)
    assert "100 calibration samples" in post.trained_on and "no sample was held" in post.trained_on
    assert "own share" in split("d.npz", _numbered(300), trains=True).trained_on


def test_groups_stay_whole_in_every_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((600, 4), dtype=np.float32)
    groups = np.repeat(np.arange(200), 3)  # 200 photos, 3 crops each
    np.savez(tmp_path / "g.npz", x=x, groups=groups)
    splits = load_data(str(tmp_path / "g.npz"), VEC, trains=False)
    seen = [set(p.groups.tolist()) for p in (splits.calib, splits.val, splits.test)]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and not (seen[0] & seen[2])
    assert sum(len(s) for s in seen) == 200 and splits.grouped
    assert "200 groups" in splits.summary()
    assert all(len(p) % 3 == 0 for p in (splits.calib, splits.val, splits.test))


def test_groups_must_be_one_id_per_sample(tmp_path):
    np.savez(tmp_path / "g.npz", x=np.zeros((10, 4), np.float32), groups=np.zeros(9, np.int64))
    with pytest.raises(InputError, match="groups must be one integer or string id per sample"):
        load_data(str(tmp_path / "g.npz"), VEC, trains=False)
