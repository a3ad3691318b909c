"""Data sets as arrays keyed by model input name, and their fixed train/calibration/test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.errors import InputError
from advisor.types import TensorSpec

__all__ = ["Dataset", "DataSplits", "split", "match_inputs"]


@dataclass(frozen=True)
class Dataset:
    """``inputs`` maps each model input name to an array whose first axis is the sample."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values()))) if self.inputs else 0

    def take(self, index: np.ndarray | slice) -> Dataset:
        return Dataset(
            {k: v[index] for k, v in self.inputs.items()},
            None if self.labels is None else self.labels[index],
        )

    def batches(self, size: int):
        """Yield ``(inputs, labels)`` chunks of at most ``size`` samples, in order."""
        for start in range(0, len(self), size):
            part = self.take(slice(start, start + size))
            yield part.inputs, part.labels


@dataclass(frozen=True)
class DataSplits:
    """The three disjoint parts every stage uses: training (fine-tuning, distillation),
    calibration (static quantization ranges, 100-500 samples) and test (every reported figure)."""

    source: str
    train: Dataset
    calib: Dataset
    test: Dataset
    num_classes: int | None = None

    @property
    def labelled(self) -> bool:
        return self.test.labels is not None

    @property
    def metric(self) -> str:
        return "accuracy" if self.labelled else "fidelity"

    def summary(self) -> str:
        kind = f"labelled, {self.num_classes} classes" if self.labelled else "unlabelled (fidelity)"
        return (
            f"{self.source}: {len(self.train)} train / {len(self.calib)} calibration / "
            f"{len(self.test)} test samples, {kind}"
        )


def split(source: str, data: Dataset, seed: int = 0, num_classes: int | None = None) -> DataSplits:
    """Split a user's data set deterministically: 20% test, 20% (at most 500) calibration, rest train.

    Tiny sets still work: with N samples test and calibration get at least one each when N >= 3.
    """
    n = len(data)
    if n == 0:
        raise InputError(f"data set {source} is empty: it holds no samples")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, n // 5) if n >= 3 else n
    n_calib = min(500, max(1, n // 5)) if n >= 3 else n
    test = order[:n_test]
    calib = order[n_test : n_test + n_calib] if n >= 3 else order
    train = order[n_test + n_calib :] if n >= 3 else order
    if len(train) == 0:
        train = calib
    return DataSplits(source, data.take(train), data.take(calib), data.take(test), num_classes)


def match_inputs(source: str, arrays: dict[str, np.ndarray], specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """Map a data file's arrays onto the model's inputs and check shape and type of each.

    A single-input model also accepts an array called ``x`` (or the only array present).
    Raises :class:`InputError` naming the input and what was expected.
    """
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name in arrays:
            arr = arrays[spec.name]
        elif len(specs) == 1 and "x" in arrays:
            arr = arrays["x"]
        elif len(specs) == 1 and len(arrays) == 1:
            arr = next(iter(arrays.values()))
        else:
            have = ", ".join(sorted(arrays)) or "nothing"
            raise InputError(
                f"data {source} has no array for model input '{spec.name}' (it has: {have})"
            )
        out[spec.name] = _conform(source, spec, np.asarray(arr))
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise InputError(f"data {source}: inputs have different sample counts: {lengths}")
    if not lengths or next(iter(lengths.values())) == 0:
        raise InputError(f"data set {source} is empty: it holds no samples")
    return out


def _conform(source: str, spec: TensorSpec, arr: np.ndarray) -> np.ndarray:
    want = spec.shape
    if arr.ndim != len(want):
        raise InputError(
            f"data {source}: input '{spec.name}' has shape {list(arr.shape)}, "
            f"model expects {_fmt(want)}"
        )
    for i, (got, exp) in enumerate(zip(arr.shape, want, strict=True)):
        if i > 0 and exp is not None and got != exp:
            raise InputError(
                f"data {source}: input '{spec.name}' has shape {list(arr.shape)}, "
                f"model expects {_fmt(want)}"
            )
    want_dtype = np.dtype(spec.dtype)
    if arr.dtype != want_dtype:
        if arr.dtype.kind in "fiub" and want_dtype.kind in "fiu":
            if want_dtype.kind in "iu" and arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
                raise InputError(
                    f"data {source}: input '{spec.name}' holds {arr.dtype} with fractions, "
                    f"model expects {want_dtype}"
                )
            arr = arr.astype(want_dtype)
        else:
            raise InputError(
                f"data {source}: input '{spec.name}' has type {arr.dtype}, model expects {want_dtype}"
            )
    if want_dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"data {source}: input '{spec.name}' contains NaN or Inf values")
    return np.ascontiguousarray(arr)


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
