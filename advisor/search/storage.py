"""Where studies live: SQLite by default, a journal file for processes on one host, or any RDB
URL (PostgreSQL) for a fleet. Heartbeats let a crashed worker's in-flight trial be failed and
retried instead of blocking the study.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from advisor.errors import InputError
from advisor.search.jobspec import JobSpec
from advisor.storage import open_storage

__all__ = ["open_storage", "default_storage_url", "study_name_for", "SPEC_KEY"]

SPEC_KEY = "advisor_problem"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_storage_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def study_name_for(spec: JobSpec) -> str:
    """A stable name from the model, data and budget, so the same command resumes the same study
    (search settings such as the number of trials do not change it)."""
    d = spec.to_dict()
    key = {k: d.get(k) for k in ("model", "data", "weights", "input_shape", "budget")}
    key.update({k: d[k] for k in ("train_data", "metric") if d.get(k)})  # only when given
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9]+", "-", Path(spec.model).stem.split(":")[-1]).strip("-")
    return f"advise-{stem[:40] or 'model'}-{digest}"


def check_study_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(f"--study must be 1-100 characters of letters, digits, '.', '_' or '-', got {name!r}")
    return name
