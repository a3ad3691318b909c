"""Where studies live: SQLite by default, a journal file for processes on one host, or any RDB
URL (PostgreSQL) for a fleet. Heartbeats let a crashed worker's in-flight trial be failed and
retried instead of blocking the study.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

from advisor.errors import InputError
from advisor.search.jobspec import JobSpec

__all__ = ["open_storage", "default_storage_url", "study_name_for", "SPEC_KEY"]

SPEC_KEY = "advisor_problem"
HEARTBEAT_S = 10
GRACE_S = 30
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


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: ``sqlite:///...``, ``postgresql://...`` (any SQLAlchemy
    URL), or ``journal:///path/to/file.log`` (processes on one host, file lock).

    Raises:
        InputError: the URL cannot be opened (missing driver, server down, bad path).
    """
    try:
        if url.startswith("journal://"):
            path = url.removeprefix("journal://")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
        if "://" not in url:
            raise InputError(f"--storage must be a URL such as sqlite:///runs/study.db, got {url!r}")
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs = {"connect_args": {"timeout": 30}}
        return RDBStorage(
            url,
            engine_kwargs=kwargs,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot open study storage {url}: {first[:240]}") from None
