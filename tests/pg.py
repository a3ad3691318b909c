"""A throw-away PostgreSQL server on loopback for the tests that need one (fleet studies, measuring
targets); skips with the reason when none can start, fails instead when ADVISOR_REQUIRE_PG is set (CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(PG_BIN.glob("*/bin/pg_ctl")) if PG_BIN.is_dir() else []
    return found[-1].parent if found else None


def _unavailable(reason: str):
    if os.environ.get("ADVISOR_REQUIRE_PG"):
        pytest.fail(f"PostgreSQL required (ADVISOR_REQUIRE_PG is set) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1 for this test session (skips if none can start)."""
    if os.environ.get("ADVISOR_PG_URL"):
        yield os.environ["ADVISOR_PG_URL"]
        return
    bindir = _pg_bin()
    if bindir is None:
        _unavailable("PostgreSQL server binaries are not installed (apt-get install postgresql; .ci/run does it)")
    base = Path(tempfile.mkdtemp(prefix="advisor-pg-"))
    port = _free_port()
    as_postgres = os.geteuid() == 0
    def run_as(cmd):
        return ["su", "postgres", "-s", "/bin/bash", "-c", " ".join(cmd)] if as_postgres else cmd
    if as_postgres:
        shutil.chown(base, "postgres")
    data = base / "data"
    try:
        subprocess.run(run_as([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                       check=True, capture_output=True, timeout=120)
        subprocess.run(run_as([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                               f"'-p {port} -k {base} -c listen_addresses=127.0.0.1'", "start"]),
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as e:
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"a PostgreSQL server cannot start: {e}")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    deadline = time.time() + 30
    import sqlalchemy

    while True:
        try:
            sqlalchemy.create_engine(url).connect().close()
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield url
    finally:
        subprocess.run(run_as([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
