"""Fixtures for the TUI tests: small, fast settings injected into the app, and helpers to wait for
its workers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from advisor.measure import MeasureSettings
from advisor.tui import AdvisorApp, TuiConfig

FAST = MeasureSettings(threads=1, seconds=0.05, memory=False)


FIGURES = Path(__file__).parent / "data" / "test-box.json"


class RecordedProfile:
    """A device profile as the TUI uses one (key figures, timing settings, a name), with the key
    figures recorded once from a real quick profile of the build machine. Tests need no seconds
    of profiling, snapshots show fixed figures, and a change of the profile file schema does not
    break them; ``test_device_screen_profiles_saves_loads_and_compares`` runs the real profiler."""

    def __init__(self, name: str = "test-box") -> None:
        self.name = name
        self._figures = {**json.loads(FIGURES.read_text(encoding="utf-8")), "profile": name}

    def key_figures(self) -> dict:
        return dict(self._figures)

    def measure_settings(self) -> MeasureSettings:
        return MeasureSettings(
            threads=self._figures["suggested_threads"], spinning=self._figures["suggested_spinning"]
        )

    def renamed(self, name: str) -> RecordedProfile:
        return RecordedProfile(name)


@pytest.fixture(scope="session")
def this_device():
    """A real profile of this machine, measured once per session in quick mode (~3 s): the
    advice needs a profile of the device it runs on (another device's profile makes it predict
    latencies instead of measuring them)."""
    from advisor.profiling import profile_device

    return profile_device("test-box", quick=True)


@pytest.fixture
def config(tmp_path: Path, this_device) -> TuiConfig:
    return TuiConfig(
        out=tmp_path / "out",
        profiles_dir=tmp_path / "profiles",
        measure=FAST,
        strategies=("FIQ", "F16"),
        trials=2,
        profile=this_device,
    )


async def settle(app: AdvisorApp, pilot, timeout: float = 120.0) -> None:
    """Wait until no worker runs and the messages they posted have been handled."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        if not app.busy():
            return
        if loop.time() > end:
            raise TimeoutError("workers still running")


async def wait_for(pilot, predicate, timeout: float = 120.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.1)
