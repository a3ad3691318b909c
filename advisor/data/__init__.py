"""Data intake: ``builtin:digits``, ``.npz`` files and image folders, split for every stage.

The split policy (which part trains, calibrates, selects and reports) is in :func:`split`.

Example:
    >>> from advisor.types import TensorSpec
    >>> splits = load_data("builtin:digits", (TensorSpec("input", (None, 1, 32, 32), "float32"),))
    >>> len(splits.val), len(splits.test), splits.metric
    (180, 180, 'accuracy')
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from advisor.data._dataset import CALIB_MAX, POLICIES, Dataset, DataSplits, match_inputs, split
from advisor.data._digits import DIGITS_INPUT_SHAPE, load_digits_splits
from advisor.data._files import load_image_folder, load_npz
from advisor.errors import InputError
from advisor.types import TensorSpec

__all__ = ["Dataset", "DataSplits", "load_data", "split", "BUILTIN_DATA", "DIGITS_INPUT_SHAPE", "POLICIES",
           "CALIB_MAX"]

BUILTIN_DATA = ("digits",)


def load_data(
    spec: str,
    inputs: tuple[TensorSpec, ...],
    *,
    seed: int = 0,
    trains: bool = True,
    train_data: str | None = None,
) -> DataSplits:
    """Load the data named by ``spec``, check it against the model's ``inputs`` and split it.

    Args:
        spec: ``builtin:digits``, a ``.npz`` file or an image folder.
        inputs: the model's inputs.
        seed: the split's permutation.
        trains: whether a candidate trains (then training gets its own share of ``spec``).
        train_data: training data apart (same formats as ``spec``); ``spec`` is then split only
            into calibration / validation / test.

    Raises:
        InputError: unknown built-in, missing file, unreadable file, a missing input array,
            a wrong shape or type, or an empty set; the message names which (``--train-data``
            when it is the training data).
    """
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name != "digits":
            raise InputError(f"unknown built-in data set '{name}'; built-ins: {', '.join(BUILTIN_DATA)}")
        if len(inputs) != 1:
            raise InputError(f"builtin:digits feeds one image input; the model has {len(inputs)} inputs")
        digits = load_digits_splits(inputs[0].name)
        match_inputs(spec, digits.test.take(slice(0, 1)).inputs, inputs)  # clear shape/type errors
        if train_data is None:
            return digits
        train = _train_set(train_data, inputs, digits.labelled)
        return replace(digits, train=train, policy="train-data", train_source=train_data)
    data, num_classes = _load_set(spec, inputs)
    train = None if train_data is None else _train_set(train_data, inputs, data.labels is not None)
    return split(spec, data, seed=seed, num_classes=num_classes, trains=trains, train_data=train,
                 train_source=train_data)


def _load_set(spec: str, inputs: tuple[TensorSpec, ...]) -> tuple[Dataset, int | None]:
    path = Path(spec)
    if not path.exists():
        raise InputError(f"data not found: {spec}")
    if path.is_dir():
        data, num_classes, _ = load_image_folder(path, inputs)
        return data, num_classes
    if path.suffix.lower() == ".npz":
        return load_npz(path, inputs)
    raise InputError(
        f"data {spec}: expected builtin:digits, a .npz file or a folder of images, got a '{path.suffix}' file"
    )


def _train_set(spec: str, inputs: tuple[TensorSpec, ...], labelled: bool) -> Dataset:
    """``--train-data``: the same formats and checks as ``--data``; labels kept only when the
    evaluation data has them too (one task, one metric)."""
    if spec.startswith("builtin:"):
        raise InputError(f"--train-data must be a .npz file or an image folder, got '{spec}'")
    try:
        data, _ = _load_set(spec, inputs)
    except InputError as e:
        raise InputError(f"--train-data: {e}") from None
    return data if labelled or data.labels is None else Dataset(data.inputs, None, data.groups)
