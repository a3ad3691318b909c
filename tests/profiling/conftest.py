"""Profiles for tests: synthetic ones (instant, figures chosen by the test) and one real quick one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from advisor.profiling import DeviceProfile
from tests.profiling.synthetic import make_profile


@pytest.fixture
def profile() -> DeviceProfile:
    return make_profile()


@pytest.fixture
def profile_doc(profile) -> dict:
    return copy.deepcopy(profile.to_dict())


@pytest.fixture(scope="session")
def real_profile():
    """One real profile of this machine on the quick budget (a few seconds), for the session."""
    from advisor.profiling import profile_device

    return profile_device("test-host", quick=True)


@pytest.fixture
def profiles_dir(tmp_path: Path, profile) -> Path:
    from advisor.profiling import save_profile

    d = tmp_path / "profiles"
    save_profile(profile, d)
    save_profile(make_profile("fast-box", fp32_gmacs=100.0, int8_gmacs=400.0), d)
    return d
