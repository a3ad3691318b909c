"""Data intake: the built-in split, .npz files, image folders, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.data import load_data
from advisor.errors import InputError
from advisor.types import TensorSpec

IMG = (TensorSpec("input", (None, 1, 32, 32), "float32"),)


def test_builtin_digits_split_is_fixed_and_disjoint():
    a = load_data("builtin:digits", IMG)
    b = load_data("builtin:digits", IMG)
    assert (len(a.train), len(a.calib), len(a.val), len(a.test)) == (797, 200, 400, 400)
    assert np.array_equal(a.test.inputs["input"], b.test.inputs["input"])
    parts = [{x.tobytes() for x in d.inputs["input"]} for d in (a.train, a.calib, a.val, a.test)]
    assert sum(map(len, parts)) == len(set().union(*parts))  # no sample in two parts
    assert a.num_classes == 10 and a.metric == "accuracy"
    assert "400 validation / 400 test" in a.summary()


def test_npz_missing_input_name(tmp_path):
    specs = (TensorSpec("image", (None, 3), "float32"), TensorSpec("meta", (None, 2), "float32"))
    np.savez(tmp_path / "d.npz", image=np.zeros((4, 3), np.float32))
    with pytest.raises(InputError, match="no array for model input 'meta'"):
        load_data(str(tmp_path / "d.npz"), specs)


def test_wrong_shape_is_named(tmp_path):
    np.savez(tmp_path / "d.npz", input=np.zeros((4, 1, 28, 28), np.float32))
    with pytest.raises(InputError, match=r"shape \[4, 1, 28, 28\], model expects \[N, 1, 32, 32\]"):
        load_data(str(tmp_path / "d.npz"), IMG)


def test_empty_data_set(tmp_path):
    np.savez(tmp_path / "d.npz", input=np.zeros((0, 1, 32, 32), np.float32))
    with pytest.raises(InputError, match="empty"):
        load_data(str(tmp_path / "d.npz"), IMG)
    (tmp_path / "imgs").mkdir()
    with pytest.raises(InputError, match="empty"):
        load_data(str(tmp_path / "imgs"), IMG)


def test_npz_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", input=np.array([object()], dtype=object))
    with pytest.raises(InputError, match="cannot read"):
        load_data(str(tmp_path / "d.npz"), IMG)


def test_labels_and_single_array_alias(tmp_path):
    x = np.random.default_rng(0).random((20, 1, 32, 32), dtype=np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 3)
    d = load_data(str(tmp_path / "d.npz"), IMG)
    assert d.labelled and d.num_classes == 3
    assert len(d.train) + len(d.calib) + len(d.val) + len(d.test) == 20


def test_image_folder_with_classes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    d = load_data(str(tmp_path), IMG)
    assert d.num_classes == 2
    x = d.train.inputs["input"]
    assert x.shape[1:] == (1, 32, 32) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1


def test_image_that_does_not_decode(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="does not decode"):
        load_data(str(tmp_path), IMG)
