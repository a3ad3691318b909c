"""Opening a study storage: SQLite by default, a journal file for processes on one host, or any RDB
URL (PostgreSQL) for a fleet. Heartbeats let a crashed worker's in-flight trial be failed and
retried instead of blocking the study. Light (Optuna only): a measuring target imports it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

from advisor.errors import InputError

__all__ = ["open_storage", "HEARTBEAT_S", "GRACE_S"]

#: What SQLAlchemy says when another process created the schema a moment before (SQLite, PostgreSQL).
_SCHEMA_RACE = ("already exists", "alembic_version", "database is locked", "duplicate key value")

HEARTBEAT_S = 10
GRACE_S = 30


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
        for attempt in range(3):
            try:
                return RDBStorage(
                    url,
                    engine_kwargs=kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
            except Exception as e:  # noqa: BLE001 - SQLAlchemy's OperationalError/ProgrammingError
                # Two processes opening a new database at once both create the schema; the slower
                # one finds a table "already exists" or the schema version already stamped. The
                # schema is there now: open it again.
                if not any(m in str(e) for m in _SCHEMA_RACE) or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot open study storage {url}: {first[:240]}") from None
