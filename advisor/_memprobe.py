"""Peak memory of one inference session, measured in a fresh process (so nothing else counts).

    python -m advisor._memprobe MODEL.onnx THREADS

Prints one JSON object: ``{"peak_memory_bytes": N}``: the peak resident set while creating the
session and running it three times at batch 1, minus the resident set just before. On Linux the
peak counter is reset first (``/proc/self/clear_refs``), so import-time peaks do not count.
Imports only onnxruntime, numpy and psutil (not torch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import psutil

from advisor.runtime import make_session

_STATUS = Path("/proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_bytes(resettable: bool) -> int:
    if resettable:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource  # POSIX only: imported where the /proc counter is missing (macOS)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(argv: list[str]) -> int:
    path, threads = argv[0], int(argv[1])
    before = psutil.Process().memory_info().rss
    resettable = _reset_peak()
    sess = make_session(path, threads, False)
    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(double)": np.float64, "tensor(uint8)": np.uint8,
             "tensor(int8)": np.int8, "tensor(bool)": np.bool_}
    feed = {
        i.name: np.zeros([d if isinstance(d, int) and d > 0 else 1 for d in i.shape],
                         dtype=types.get(i.type, np.float32))
        for i in sess.get_inputs()
    }
    for _ in range(3):
        sess.run(None, feed)
    print(json.dumps({"peak_memory_bytes": max(0, _peak_bytes(resettable) - before)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
