"""User data: ``.npz`` files of named arrays, and folders of images (class sub-folders)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from advisor.data._dataset import Dataset, match_inputs
from advisor.errors import InputError
from advisor.types import TensorSpec

__all__ = ["load_npz", "load_image_folder", "IMAGE_SUFFIXES", "GROUPS_KEY"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
_LABEL_KEYS = ("labels", "y")
GROUPS_KEY = "groups"  # one id per sample: samples of a group are related (crops of one photo)


def load_npz(path: Path, specs: tuple[TensorSpec, ...]) -> tuple[Dataset, int | None]:
    """Arrays keyed by input name (or ``x``), optional integer ``labels``/``y`` and ``groups`` (one id
    per sample: related samples, such as crops of one photo, share an id). Pickles refused."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"cannot read data file {path}: {_first_line(e)}") from None
    labels = None
    for key in _LABEL_KEYS:
        if key in arrays and not any(s.name == key for s in specs):
            labels = arrays.pop(key)
            break
    groups = arrays.pop(GROUPS_KEY) if GROUPS_KEY in arrays and not any(s.name == GROUPS_KEY for s in specs) else None
    inputs = match_inputs(str(path), arrays, specs)
    n = len(next(iter(inputs.values())))
    if groups is not None:
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != n or groups.dtype.kind not in "iuU":
            raise InputError(f"data {path}: groups must be one integer or string id per sample, shape [{n}]; "
                             f"got {groups.dtype} of shape {list(groups.shape)}")
    num_classes = None
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != n:
            raise InputError(
                f"data {path}: labels have shape {list(labels.shape)}, expected [{n}] (one per sample)"
            )
        if labels.dtype.kind not in "iu" and not (
            labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(np.mod(labels, 1) == 0)
        ):
            raise InputError(f"data {path}: labels must be integer class indices, got {labels.dtype}")
        labels = labels.astype(np.int64)
        if labels.min() < 0:
            raise InputError(f"data {path}: labels must be >= 0, found {int(labels.min())}")
        num_classes = int(labels.max()) + 1
    return Dataset(inputs, labels, groups), num_classes


def load_image_folder(path: Path, specs: tuple[TensorSpec, ...]) -> tuple[Dataset, int | None, list[str] | None]:
    """Images resized to the model's input (N, C, H, W), scaled to [0, 1].

    Class sub-folders give labels in sorted order; images directly in ``path`` are unlabelled.
    """
    from PIL import Image, UnidentifiedImageError  # start-up: Pillow loads only for image folders

    if len(specs) != 1 or len(specs[0].shape) != 4:
        raise InputError(
            f"an image folder needs a model with one 4-D image input (N, C, H, W); this model has "
            f"{', '.join(f'{s.name}{list(s.shape)}' for s in specs)}"
        )
    spec = specs[0]
    _, c, h, w = spec.shape
    if c not in (1, 3) or h is None or w is None:
        raise InputError(f"model input '{spec.name}' {list(spec.shape)} is not a 1- or 3-channel image of fixed size")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        files = [(f, i) for i, cl in enumerate(classes) for f in sorted((path / cl).iterdir()) if _is_image(f)]
    else:
        files = [(f, -1) for f in sorted(path.iterdir()) if _is_image(f)]
    if not files:
        raise InputError(f"data set {path} is empty: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    xs = np.empty((len(files), c, h, w), dtype=np.float32)
    for k, (f, _) in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise InputError(f"image {f} does not decode: {_first_line(e)}") from None
        xs[k] = a[None] if c == 1 else a.transpose(2, 0, 1)
    labels = np.array([i for _, i in files], dtype=np.int64) if classes else None
    inputs = match_inputs(str(path), {spec.name: xs}, specs)
    return Dataset(inputs, labels), (len(classes) if classes else None), (classes or None)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
