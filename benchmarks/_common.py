"""Helpers every benchmark uses: machine description and writing JSON + Markdown results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
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


def wait_quiet(max_seconds: float) -> dict:
    """Wait (up to ``max_seconds``) until other processes use < 0.15 core for 3 s in a row."""
    import psutil

    t0 = time.perf_counter()
    calm = 0
    busy = 0.0
    while time.perf_counter() - t0 < max_seconds:
        busy = sum(psutil.cpu_percent(interval=1.0, percpu=True)) / 100.0
        calm = calm + 1 if busy < 0.15 else 0
        if calm >= 3:
            return {"waited_seconds": round(time.perf_counter() - t0, 1), "quiet": True, "busy_cores": busy}
    return {"waited_seconds": round(time.perf_counter() - t0, 1), "quiet": False, "busy_cores": busy}


def advisor_env(root: Path, kb: Path) -> dict[str, str]:
    """The environment of a ``python -m advisor`` run of this checkout (``root`` first on the
    import path) with its own knowledge base ``kb``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env["ADVISOR_KB"] = str(kb)
    return env


def run_advisor(args: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
                timeout: float) -> tuple[int, float, bool]:
    """``python -m advisor ARGS`` in its own process group, output to files, timed end to end:
    ``(exit code, wall seconds, timed out)``. Past ``timeout`` the group gets SIGTERM, then SIGKILL."""
    t0 = time.perf_counter()
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "advisor", *args], cwd=cwd, env=env, stdout=out, stderr=err,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout), time.perf_counter() - t0, False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
            return rc, time.perf_counter() - t0, True
