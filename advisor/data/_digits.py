"""``builtin:digits``: scikit-learn's bundled 8x8 digits, upsampled to 1x32x32, with a fixed split."""

from __future__ import annotations

import numpy as np

from advisor.data._dataset import Dataset, DataSplits

__all__ = ["load_digits_splits", "DIGITS_INPUT_SHAPE"]

DIGITS_INPUT_SHAPE = (1, 32, 32)
# Validation and test hold 400 digits each: enough to confirm a 2 pt accuracy-drop limit for a candidate
# that changes a few answers (a lossless one can be shown within 0.6 pt at 95%); the rest (797) is the
# training split the built-in model's weights learnt from.
_VAL, _TEST, _CALIB = 400, 400, 200


def _upsample(images: np.ndarray) -> np.ndarray:
    """Bilinear 8x8 -> 32x32 (half-pixel centres), in numpy so data loading needs no torch."""
    src = images.shape[-1]
    dst = DIGITS_INPUT_SHAPE[-1]
    pos = (np.arange(dst) + 0.5) * src / dst - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, src - 1)
    hi = np.clip(lo + 1, 0, src - 1)
    w = np.clip(pos - lo, 0.0, 1.0).astype(np.float32)
    rows = images[:, lo, :] * (1 - w)[None, :, None] + images[:, hi, :] * w[None, :, None]
    return rows[:, :, lo] * (1 - w)[None, None, :] + rows[:, :, hi] * w[None, None, :]


def load_digits_splits(input_name: str = "input") -> DataSplits:
    """The 1,797 digits as float32 [N, 1, 32, 32] in [0, 1]: 797 train / 200 calibration /
    400 validation / 400 test.

    The split is a fixed permutation (seed 0), identical on every machine. Validation and test
    are the two halves of the 800 samples the built-in model's weights never saw in training.
    """
    from sklearn.datasets import load_digits  # start-up: ~1 s of scikit-learn only for builtin:digits

    bunch = load_digits()
    x = _upsample(bunch.images.astype(np.float32) / 16.0)[:, None].astype(np.float32)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    data = Dataset({input_name: x}, y)
    val, test = order[:_VAL], order[_VAL : _VAL + _TEST]
    calib, train = order[_VAL + _TEST : _VAL + _TEST + _CALIB], order[_VAL + _TEST + _CALIB :]
    return DataSplits("builtin:digits", data.take(train), data.take(calib), data.take(val), data.take(test), 10)
