"""Data intake: ``builtin:digits``, ``.npz`` files and image folders, split for every stage.

Example:
    >>> from advisor.types import TensorSpec
    >>> splits = load_data("builtin:digits", (TensorSpec("input", (None, 1, 32, 32), "float32"),))
    >>> len(splits.test), splits.metric
    (360, 'accuracy')
"""

from __future__ import annotations

from pathlib import Path

from advisor.data._dataset import Dataset, DataSplits, match_inputs, split
from advisor.data._digits import DIGITS_INPUT_SHAPE, load_digits_splits
from advisor.data._files import load_image_folder, load_npz
from advisor.errors import InputError
from advisor.types import TensorSpec

__all__ = ["Dataset", "DataSplits", "load_data", "BUILTIN_DATA", "DIGITS_INPUT_SHAPE"]

BUILTIN_DATA = ("digits",)


def load_data(spec: str, inputs: tuple[TensorSpec, ...], *, seed: int = 0) -> DataSplits:
    """Load the data named by ``spec`` and check it against the model's ``inputs``.

    Raises:
        InputError: unknown built-in, missing file, unreadable file, a missing input array,
            a wrong shape or type, or an empty set; the message names which.
    """
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name != "digits":
            raise InputError(f"unknown built-in data set '{name}'; built-ins: {', '.join(BUILTIN_DATA)}")
        if len(inputs) != 1:
            raise InputError(f"builtin:digits feeds one image input; the model has {len(inputs)} inputs")
        digits = load_digits_splits(inputs[0].name)
        match_inputs(spec, digits.test.take(slice(0, 1)).inputs, inputs)  # clear shape/type errors
        return digits
    path = Path(spec)
    if not path.exists():
        raise InputError(f"data not found: {spec}")
    if path.is_dir():
        data, num_classes, _ = load_image_folder(path, inputs)
    elif path.suffix.lower() == ".npz":
        data, num_classes = load_npz(path, inputs)
    else:
        raise InputError(
            f"data {spec}: expected builtin:digits, a .npz file or a folder of images, got a '{path.suffix}' file"
        )
    return split(spec, data, seed=seed, num_classes=num_classes)
