"""Names, the profiles folder, and resolving a profile by name or by path."""

from __future__ import annotations

import pytest

from advisor.errors import ProfileError
from advisor.profiling import ProfileStore, check_name, sanitize_name, save_profile
from tests.profiling.synthetic import make_profile


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("build-vm", "build-vm"),
        ("Lab Pi #3 (rev/b)", "Lab-Pi-3-rev-b"),
        ("../../etc/passwd", "etc-passwd"),
        ("..hidden", "hidden"),
        ("a..b", "a.b"),
        ("host.local", "host.local"),
        ("C:\\Users\\me", "C-Users-me"),
        ("x" * 100, "x" * 64),
        ("profile.yaml", "profile"),
        ("ünïcødé-box", "n-c-d-box"),
        ("///", "device"),
        ("", "device"),
    ],
)
def test_sanitize_name(raw, clean):
    assert sanitize_name(raw) == clean
    assert check_name(sanitize_name(raw)) == clean


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "../x", "x..y", "-lead", ".hidden", "a b", "x" * 65,
                                 "p.yaml", "nul\x00", "semi;colon"])
def test_check_name_refuses_unsafe_names(bad):
    with pytest.raises(ProfileError, match="profile name"):
        check_name(bad)


def test_store_lists_loads_and_flags_invalid_files(profiles_dir):
    (profiles_dir / "broken.yaml").write_text("schema_version: 2\nname: broken\n")
    (profiles_dir / "notes.txt").write_text("ignored")
    store = ProfileStore(profiles_dir)
    entries = {e.name: e for e in store.entries()}
    assert set(entries) == {"synthetic", "fast-box", "broken"}
    assert entries["synthetic"].profile is not None and entries["synthetic"].error is None
    assert entries["broken"].profile is None and "missing" in entries["broken"].error
    assert store.load("fast-box").name == "fast-box"


def test_unknown_name_lists_the_known_ones(profiles_dir):
    with pytest.raises(ProfileError, match="no profile named 'nope'.*fast-box, synthetic"):
        ProfileStore(profiles_dir).load("nope")


def test_resolve_by_name_or_by_path(profiles_dir, tmp_path):
    store = ProfileStore(profiles_dir)
    assert store.resolve("synthetic").name == "synthetic"
    elsewhere = save_profile(make_profile("elsewhere"), tmp_path / "other")
    assert store.resolve(str(elsewhere)).name == "elsewhere"
    with pytest.raises(ProfileError, match="not found"):
        store.resolve(str(tmp_path / "missing.yaml"))
    with pytest.raises(ProfileError, match="profile name"):
        store.load("../profiles/synthetic")


def test_empty_or_missing_folder(tmp_path):
    assert ProfileStore(tmp_path / "none").entries() == []


def test_save_refuses_an_unwritable_folder(tmp_path, profile):
    from advisor.errors import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        save_profile(profile, blocker / "sub")
