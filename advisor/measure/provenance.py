"""Where a figure is measured: this host, its device profile's name, and what the figure depends on.

Kept free of heavy imports (a measuring target imports it without torch).

Example:
    >>> p = this_device("bench-box", threads=1)
    >>> p.threads, p.device
    (1, 'bench-box')
"""

from __future__ import annotations

import functools
import platform
import socket
from pathlib import Path

import onnxruntime as ort
import psutil

from advisor.types import Provenance

__all__ = ["this_device", "cpu_name"]


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``, ARM's ``Hardware``/``Model``, else
    what :mod:`platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, val = line.partition(":")
            if key.strip().lower() in ("model name", "hardware", "model", "cpu model") and val.strip():
                return " ".join(val.split())[:200]
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def this_device(device: str | None, threads: int) -> Provenance:
    """This host as the measuring device of a figure timed at ``threads`` intra-op threads."""
    return Provenance(socket.gethostname(), device, cpu_name(), int(psutil.cpu_count(logical=True) or 1),
                      ort.__version__, int(threads))
