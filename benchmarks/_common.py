"""Helpers every benchmark uses: machine description and writing JSON + Markdown results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import onnxruntime
    import psutil
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or platform.machine()
    return {
        "cpu": cpu,
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def command() -> str:
    return " ".join([".venv/bin/python", *sys.argv])


def write(name: str, doc: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    j, m = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    j.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    m.write_text(markdown.rstrip() + "\n")
    return j, m


def md_machine(info: dict[str, Any]) -> str:
    return (f"Machine: {info['cpu']}, {info['cores_logical']} logical cores, {info['memory_gb']} GB, "
            f"{info['os']}; onnxruntime {info['onnxruntime']}, torch {info['torch']}; "
            f"load average at start {info['load_avg_1m']:.2f}; {info['date']}.")
