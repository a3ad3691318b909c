"""The knowledge base: every measured trial as a record, in a local SQLite file, plus the seed
records that ship with the project (``data/seed_kb.jsonl``, made by ``benchmarks/seed_kb.py``).

A record: where and when it was measured (machine, versions), model features, device features,
strategy and parameters, and the outcomes as ratios to the original measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import os
import platform
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import onnxruntime
import torch

from advisor import __version__
from advisor.errors import InputError

__all__ = ["KnowledgeBase", "default_kb_path", "seed_records", "make_record", "SEED_PATH", "OUTCOMES"]

SEED_PATH = Path(__file__).parent / "data" / "seed_kb.jsonl.gz"
OUTCOMES = ("acc_drop_pts", "log_size_ratio", "log_latency_ratio", "log_compress_s")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created TEXT NOT NULL,
  family TEXT,
  model TEXT,
  strategy TEXT NOT NULL,
  record TEXT NOT NULL
)
"""


def default_kb_path() -> Path:
    """``$ADVISOR_KB``, else ``$XDG_DATA_HOME/compression-advisor/knowledge.db``."""
    env = os.environ.get("ADVISOR_KB")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "compression-advisor" / "knowledge.db"


def versions() -> dict[str, str]:
    return {"advisor": __version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__.split("+")[0],
            "python": platform.python_version()}


def make_record(
    *,
    model: str,
    family: str | None,
    data: str,
    strategy: str,
    params: dict[str, Any],
    train_scale: float,
    threads: int,
    model_features: dict[str, float],
    device_features: dict[str, float],
    baseline: dict[str, float],
    measured: dict[str, float],
    machine: str,
) -> dict[str, Any]:
    """One knowledge-base record; outcomes are ratios to the original (latency: same run)."""
    lat_ratio = measured.get("latency_ratio") or measured["latency_ms_p50"] / baseline["latency_ms_p50"]
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "host": platform.node(),
        "versions": versions(),
        "model": model,
        "family": family,
        "data": data,
        "strategy": strategy,
        "params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))},
        "train_scale": float(train_scale),
        "threads": int(threads),
        "model_features": model_features,
        "device_features": device_features,
        "baseline": baseline,
        "measured": measured,
        "outcomes": {
            "acc_drop_pts": (baseline["quality"] - measured["quality"]) * 100.0,
            "log_size_ratio": math.log(measured["size_bytes"] / baseline["size_bytes"]),
            "log_latency_ratio": math.log(max(1e-9, lat_ratio)),
            "log_compress_s": math.log(measured["compress_seconds"] + 0.1),
        },
    }


def seed_records(path: Path = SEED_PATH) -> list[dict[str, Any]]:
    """The records that ship with the project (empty if the seed file is absent)."""
    if not path.is_file():
        return []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class KnowledgeBase:
    """Records measured here, in SQLite at ``path``, on top of the shipped seed records."""

    def __init__(self, path: Path | str | None = None, *, include_seed: bool = True) -> None:
        self.path = Path(path) if path is not None else default_kb_path()
        self.include_seed = include_seed

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
            con.execute(_SCHEMA)
            return con
        except (sqlite3.Error, OSError) as e:
            raise InputError(f"knowledge base {self.path} cannot be opened: {e}") from None

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        rows = [(r["created"], r.get("family"), r.get("model"), r["strategy"], json.dumps(r, sort_keys=True))
                for r in records]
        if not rows:
            return 0
        con = self._connect()
        try:
            with con:
                con.executemany("INSERT INTO records (created, family, model, strategy, record) "
                                "VALUES (?,?,?,?,?)", rows)
        finally:
            con.close()
        return len(rows)

    def local_records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        con = self._connect()
        try:
            out = []
            for (text,) in con.execute("SELECT record FROM records ORDER BY id"):
                try:
                    out.append(json.loads(text))
                except ValueError:
                    continue  # a damaged row never stops the ranker
            return out
        except sqlite3.Error as e:
            raise InputError(f"knowledge base {self.path} cannot be read: {e}") from None
        finally:
            con.close()

    def records(self) -> list[dict[str, Any]]:
        return (seed_records() if self.include_seed else []) + self.local_records()

    def clear(self) -> int:
        """Delete every record measured here (the shipped seed stays); returns how many."""
        if not self.path.exists():
            return 0
        con = self._connect()
        try:
            with con:
                n = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                con.execute("DELETE FROM records")
            return int(n)
        except sqlite3.Error as e:
            raise InputError(f"knowledge base {self.path} cannot be cleared: {e}") from None
        finally:
            con.close()

    def summary(self, cpu: str | None = None) -> dict[str, Any]:
        """What the knowledge base holds: its path, record counts (measured here, seed, of this
        device -- same CPU as ``cpu``), and the local records per model, strategy and machine."""
        local = self.local_records()
        seed = seed_records() if self.include_seed else []

        def count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for r in rows:
                k = str(r.get(key) or "?")
                out[k] = out.get(k, 0) + 1
            return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

        return {
            "path": str(self.path), "local_records": len(local), "seed_records": len(seed),
            "device_records": {"local": sum(1 for r in local if cpu and r.get("machine") == cpu),
                               "seed": sum(1 for r in seed if cpu and r.get("machine") == cpu)},
            "cpu": cpu, "by_model": count(local, "model"), "by_strategy": count(local, "strategy"),
            "by_machine": count(local, "machine"),
            "first": local[0].get("created") if local else None, "last": local[-1].get("created") if local else None,
        }
