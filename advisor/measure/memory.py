"""Peak memory of an inference session, from a fresh subprocess (see ``advisor._memprobe``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["peak_memory_bytes"]


def peak_memory_bytes(path: Path | str, threads: int = 1, timeout: float = 120.0) -> int:
    """Resident memory an onnxruntime session of ``path`` adds at its peak (bytes); -1 if unknown."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "advisor._memprobe", str(path), str(threads)],
            capture_output=True, text=True, timeout=timeout, check=True,
        )
        return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_memory_bytes"])
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError, OSError):
        return -1
