"""Model size on disk, raw and compressed (gzip level 9, as a deployment would ship it)."""

from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["file_sizes"]


def file_sizes(path: Path | str) -> tuple[int, int]:
    """``(raw bytes, gzip-compressed bytes)`` of the file at ``path``.

    The compressed figure is where unstructured pruning's gain shows: zeros compress, but a
    dense ONNX file stores them at full width.
    """
    data = Path(path).read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=9, mtime=0))
