"""The 700 labelled ImageNet photos as model input, for EfficientNet-Lite1/Lite2 (issue 19).

    .venv/bin/python benchmarks/imagenet.py [--only lite1|lite2] [--augmented] [--force]

Reads ``../shared/data/imagenet-samples`` (one photo per class for 700 of the 1,000 ImageNet
classes, short side 256 px, with ``labels.csv``; see ``../shared/data/README.md``) and writes,
under ``benchmarks/.cache`` (git-ignored; neither photos nor arrays are committed):

- ``imagenet-<variant>.npz``: the 700 photos preprocessed as the EfficientNet-Lite weights expect
  (short side resized to ``size / 0.875``, bicubic; centre crop ``size x size``; scaled to [0, 1]
  then ``(x - 0.5) / 0.5``; channels first; float32 ``input`` [700, 3, size, size]), ``labels``
  (the ImageNet-1k class index from ``labels.csv``, int64) and ``groups`` (the photo's index);
- ``imagenet-<variant>-x3.npz``: 2,100 samples, each photo's centre crop plus two deterministic
  augmentations of it (seeded): a random-resized crop (area 30-100% of the photo, aspect 3/4-4/3)
  and a horizontally flipped random-resized crop; ``groups`` = the photo's index, so crops of one
  photo stay in one split and every interval resamples photos, not crops.

``size`` is 240 for Lite1 and 260 for Lite2. The ONNX models come from ``benchmarks/real_zoo.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import real_zoo  # noqa: E402

__all__ = ["PHOTOS", "SIZES", "ImagenetData", "build", "load_photos", "preprocess", "augmented"]

PHOTOS = Path(os.environ.get("ADVISOR_IMAGENET_SAMPLES", ROOT.parent / "shared" / "data" / "imagenet-samples"))
SIZES = {"lite1": 240, "lite2": 260}
SEED = 20261219
CROP_AREA = (0.30, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class ImagenetData:
    """One built data file: where it is and what it holds."""

    variant: str
    path: Path
    n_samples: int
    n_photos: int
    size: int
    augmented: bool
    note: str

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def load_photos(folder: Path = PHOTOS) -> list[tuple[str, int]]:
    """``(file, class_index)`` of every photo in ``labels.csv``, in the file's order."""
    with open(folder / "labels.csv", newline="") as f:
        rows = [(r["file"], int(r["class_index"])) for r in csv.DictReader(f)]
    missing = [name for name, _ in rows if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} photos of {folder / 'labels.csv'} missing, e.g. {missing[0]}")
    return rows


def _to_array(im) -> np.ndarray:
    """PIL RGB image -> float32 channels-first, ``(x / 255 - 0.5) / 0.5``."""
    a = np.asarray(im, dtype=np.float32) / 255.0
    return ((a - 0.5) / 0.5).transpose(2, 0, 1)


def preprocess(im, size: int):
    """Short side to ``size / 0.875`` (bicubic), centre crop ``size x size`` (a PIL image)."""
    from PIL import Image

    w, h = im.size
    short = int(round(size / 0.875))
    scale = short / min(w, h)
    im = im.resize((max(short, int(round(w * scale))), max(short, int(round(h * scale)))),
                   Image.Resampling.BICUBIC)
    w, h = im.size
    x0, y0 = (w - size) // 2, (h - size) // 2
    return im.crop((x0, y0, x0 + size, y0 + size))


def random_resized_crop(im, size: int, rng: np.random.Generator):
    """A crop of ``CROP_AREA`` of the photo's area at an aspect in ``CROP_ASPECT`` (log-uniform),
    resized to ``size x size`` (bicubic); the whole photo's centre square if no draw fits."""
    from PIL import Image

    w, h = im.size
    for _ in range(20):
        area = w * h * rng.uniform(*CROP_AREA)
        aspect = float(np.exp(rng.uniform(np.log(CROP_ASPECT[0]), np.log(CROP_ASPECT[1]))))
        cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return im.crop((x0, y0, x0 + cw, y0 + ch)).resize((size, size), Image.Resampling.BICUBIC)
    side = min(w, h)
    x0, y0 = (w - side) // 2, (h - side) // 2
    return im.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BICUBIC)


def augmented(im, size: int, rng: np.random.Generator) -> list:
    """The two augmentations of one photo: a random-resized crop, and a flipped random-resized crop."""
    from PIL import Image

    first = random_resized_crop(im, size, rng)
    second = random_resized_crop(im, size, rng).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return [first, second]


def build(variant: str = "lite1", augment: bool = False, cache: Path = real_zoo.CACHE, folder: Path = PHOTOS,
          force: bool = False) -> ImagenetData:
    """Build (or reuse) the ``.npz`` of the photos for ``variant`` (``lite1``/``lite2``); with
    ``augment``, the 2,100-sample version (each photo and two augmentations, grouped by photo)."""
    from PIL import Image

    size = SIZES[variant]
    name = f"imagenet-{variant}{'-x3' if augment else ''}"
    path, manifest = cache / f"{name}.npz", cache / f"{name}.json"
    if not force and path.is_file() and manifest.is_file():
        doc = json.loads(manifest.read_text())
        return ImagenetData(**{**doc, "path": Path(doc["path"])})
    photos = load_photos(folder)
    per = 3 if augment else 1
    n = len(photos) * per
    x = np.empty((n, 3, size, size), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    groups = np.empty(n, dtype=np.int64)
    rng = np.random.default_rng(SEED + size)
    for i, (file, cls) in enumerate(photos):
        with Image.open(folder / file) as raw:
            im = raw.convert("RGB")
        views = [preprocess(im, size)] + (augmented(im, size, rng) if augment else [])
        for k, v in enumerate(views):
            x[i * per + k] = _to_array(v)
            labels[i * per + k] = cls
            groups[i * per + k] = i
    real_zoo._save_npz(path, {"input": x, "labels": labels, "groups": groups})
    what = ("each photo's centre crop + a random-resized crop + a flipped random-resized crop (seeded), "
            "grouped by photo" if augment else "centre crops, one per photo")
    data = ImagenetData(variant=variant, path=path, n_samples=n, n_photos=len(photos), size=size,
                        augmented=augment,
                        note=f"{n} samples of {len(photos)} labelled ImageNet photos at {size} px: {what}")
    real_zoo._atomic(manifest, lambda tmp: tmp.write_text(json.dumps(data.to_dict(), indent=2) + "\n"))
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(SIZES), action="append")
    ap.add_argument("--augmented", action="store_true", help="also the 2,100-sample version")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    for variant in args.only or sorted(SIZES):
        for aug in (False, True) if args.augmented else (False,):
            print(json.dumps(build(variant, aug, force=args.force).to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
