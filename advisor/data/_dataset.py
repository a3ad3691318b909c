"""Data sets as arrays keyed by model input name, and their train/calibration/validation/test split."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from advisor.errors import InputError
from advisor.types import TensorSpec

__all__ = ["Dataset", "DataSplits", "split", "match_inputs", "POLICIES", "CALIB_MAX"]


@dataclass(frozen=True)
class Dataset:
    """``inputs`` maps each model input name to an array whose first axis is the sample.

    ``groups`` (optional) gives each sample a group id: samples of one group (crops or flips of one
    photo, frames of one recording) are not independent, so splits keep a group whole and intervals
    resample groups, not samples (docs/measurement.md).
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values()))) if self.inputs else 0

    def take(self, index: np.ndarray | slice) -> Dataset:
        return Dataset(
            {k: v[index] for k, v in self.inputs.items()},
            None if self.labels is None else self.labels[index],
            None if self.groups is None else self.groups[index],
        )

    def batches(self, size: int):
        """Yield ``(inputs, labels)`` chunks of at most ``size`` samples, in order."""
        for start in range(0, len(self), size):
            part = self.take(slice(start, start + size))
            yield part.inputs, part.labels


POLICIES = ("train", "post-training", "train-data")
CALIB_MAX = 256  # calibration samples at most (the research's 100-500 range)


@dataclass(frozen=True)
class DataSplits:
    """The disjoint parts every stage uses.

    ``train`` (fine-tuning, distillation), ``calib`` (static quantization ranges), ``val``
    (selection: the pick, retrain decisions, the Pareto front) and ``test`` (the figure reported
    for the pick, which takes no part in choosing). ``policy`` says how they were drawn:
    ``train`` (training has its own share), ``post-training`` (no candidate trains: ``train`` *is*
    the calibration set, no sample is held for it) or ``train-data`` (training data came from
    ``train_source``). ``metric_override`` is the user's ``--metric``, if any.
    """

    source: str
    train: Dataset
    calib: Dataset
    val: Dataset
    test: Dataset
    num_classes: int | None = None
    policy: str = "train"
    train_source: str | None = None
    metric_override: str | None = None

    @property
    def labelled(self) -> bool:
        return self.test.labels is not None

    @property
    def metric(self) -> str:
        """``accuracy`` with labels (unless ``--metric`` asks for fidelity), else ``fidelity``."""
        return "accuracy" if self.labelled and self.metric_override in (None, "accuracy") else "fidelity"

    def without_labels(self) -> DataSplits:
        """The same samples with every label dropped (fidelity to the original is measured)."""

        def no(ds: Dataset) -> Dataset:
            return Dataset(ds.inputs, None, ds.groups)

        return replace(self, train=no(self.train), calib=no(self.calib), val=no(self.val), test=no(self.test),
                       num_classes=None)

    @property
    def trained_on(self) -> str:
        """What a training candidate trains on, in words the advice can show."""
        if self.policy == "post-training":
            return (f"the {len(self.train)} calibration samples (no sample was held for training: "
                    f"the split assumed no candidate trains)")
        if self.policy == "train-data":
            return f"{len(self.train)} samples from {self.train_source}"
        return f"its own share of {self.source}: {len(self.train)} samples"

    @property
    def grouped(self) -> bool:
        """Whether the samples carry group ids (not independent within a group)."""
        return self.val.groups is not None

    def summary(self) -> str:
        kind = f"labelled, {self.num_classes} classes" if self.labelled else "unlabelled (fidelity)"
        if self.grouped:
            n_groups = len(np.unique(np.concatenate([p.groups for p in (self.calib, self.val, self.test)])))
            kind += f"; {n_groups} groups of related samples (kept whole in every split)"
        parts = (f"{len(self.calib)} calibration / {len(self.val)} validation / {len(self.test)} test samples")
        if self.policy == "post-training":
            train = ("; no training share (no candidate trains; a training candidate would use the "
                     "calibration samples)")
            head = f"{self.source}: {parts}{train}"
        elif self.policy == "train-data":
            head = f"{self.source}: {parts}; training: {len(self.train)} samples from {self.train_source}"
        else:
            head = f"{self.source}: {len(self.train)} train / {parts}"
        return f"{head}, {kind}"


def split(
    source: str,
    data: Dataset,
    seed: int = 0,
    num_classes: int | None = None,
    *,
    trains: bool = True,
    train_data: Dataset | None = None,
    train_source: str | None = None,
) -> DataSplits:
    """Split a user's data set deterministically (a fixed permutation by ``seed``).

    With ``trains`` (a candidate trains and no ``train_data``): 20% test, 20% validation,
    20% (at most 256) calibration, the rest training. Otherwise no sample is held for training:
    calibration gets ``min(256, N // 3)`` and the rest is split evenly into validation and test
    (300 samples -> 100 / 100 / 100); training uses ``train_data`` if given, else the calibration
    samples. Fewer than 3 samples cannot be split: every part is the whole set.
    """
    n = len(data)
    if n == 0:
        raise InputError(f"data set {source} is empty: it holds no samples")
    order = _order(data, seed)
    policy = "train-data" if train_data is not None else ("train" if trains else "post-training")
    if n < 3:
        parts = [order] * 4
    elif policy == "train":
        n_eval = max(1, n // 5)
        n_calib = min(CALIB_MAX, max(1, n // 5))
        test, val, calib, train = np.split(order, _cuts(order, [n_eval, n_eval, n_calib], data.groups))
        parts = [train if len(train) else calib, calib, val, test]
    else:
        n_calib = min(CALIB_MAX, n // 3)
        n_val = (n - n_calib) // 2
        calib, val, test = np.split(order, _cuts(order, [n_calib, n_val], data.groups))
        parts = [calib, calib, val, test]
    train_set, calib_set, val_set, test_set = (data.take(p) for p in parts)
    if train_data is not None:
        train_set = train_data
    return DataSplits(source, train_set, calib_set, val_set, test_set, num_classes, policy,
                      train_source if train_data is not None else None)


def _order(data: Dataset, seed: int) -> np.ndarray:
    """A fixed permutation of the samples; with groups, of the groups, each group's samples together."""
    rng = np.random.default_rng(seed)
    if data.groups is None:
        return rng.permutation(len(data))
    ids, inverse = np.unique(data.groups, return_inverse=True)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[rng.permutation(len(ids))] = np.arange(len(ids))
    return np.argsort(rank[inverse], kind="stable")


def _cuts(order: np.ndarray, cuts: list[int], groups: np.ndarray | None) -> np.ndarray:
    """The cut positions in ``order``, each moved forward to the next group boundary (no group
    spans two parts); without groups, as given."""
    cuts_arr = np.cumsum(cuts)
    if groups is None:
        return cuts_arr
    g = groups[order]
    starts = np.r_[np.flatnonzero(g[1:] != g[:-1]) + 1, len(order)]  # where a new group starts
    return np.array([int(starts[np.searchsorted(starts, c)]) if c < len(order) else c for c in cuts_arr])


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
    """Check one input array; returns it with the sample on axis 0 in the model's batch layout.

    A model input with a fixed leading dimension of 1 (batch fixed at 1) takes N samples as
    ``[N, *shape]`` (each sample in the model's own shape) or ``[N, *shape[1:]]``; both are stored
    as ``[N, *shape[1:]]`` so that ``arr[i:i + 1]`` is one sample in the model's shape.
    """
    want = spec.shape
    batch_one = len(want) > 0 and want[0] == 1
    if batch_one and arr.ndim == len(want) + 1 and _fits(arr.shape[1:], want):
        arr = arr.reshape(arr.shape[0], *arr.shape[2:])
    if arr.ndim != len(want) or not _fits(arr.shape[1:], want[1:]):
        if batch_one:
            layouts = f"{_fmt(('N', *want))} (N samples in the model's shape) or {_fmt(('N', *want[1:]))}"
            raise InputError(
                f"data {source}: input '{spec.name}' has shape {list(arr.shape)}, model expects "
                f"{_fmt(want)}; accepted layouts: {layouts}"
            )
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


def _fits(got: tuple[int, ...], want: tuple[int | str | None, ...]) -> bool:
    """Same rank, and every fixed dimension of ``want`` equal (free ones match anything)."""
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want, strict=True))


def _fmt(shape: tuple[int | str | None, ...]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
