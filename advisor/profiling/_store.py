"""Saving and loading profiles: YAML text, files, and a folder of named profiles.

Loading is defensive: ``yaml.safe_load`` only (no Python tags), no anchors or aliases (a
"billion laughs" document expands from a few lines), a size limit, then field-by-field
validation. Saving is atomic (temp file + rename), so a crash never leaves half a profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from advisor.errors import OutputError, ProfileError
from advisor.fileio import atomic_write_text
from advisor.profiling._names import check_name
from advisor.profiling._profile import DeviceProfile

__all__ = ["dump_profile", "parse_profile", "load_profile", "save_profile", "ProfileStore", "ProfileEntry",
           "DEFAULT_PROFILES_DIR", "MAX_PROFILE_BYTES"]

DEFAULT_PROFILES_DIR = Path("profiles")
MAX_PROFILE_BYTES = 256 * 1024
_HEADER = "# Compression Advisor device profile (schema_version {}); fields and units: docs/profiles.md\n"


def dump_profile(profile: DeviceProfile) -> str:
    """The profile as YAML text (``yaml.safe_dump``; plain types only), in its own schema version
    (a loaded schema-2 profile is written back as schema 2)."""
    doc = yaml.safe_dump(profile.to_dict(), sort_keys=False, default_flow_style=False, width=100)
    return _HEADER.format(profile.schema_version) + doc


def parse_profile(text: str, source: str = "profile") -> DeviceProfile:
    """Parse and validate YAML ``text``.

    Raises:
        ProfileError: too large, not YAML, Python tags, anchors/aliases, or a bad field.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{source} is larger than {MAX_PROFILE_BYTES // 1024} KB: not a profile")
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                raise ProfileError(f"{source} uses YAML anchors or aliases ('&'/'*'), which profiles never "
                                   f"contain (line {token.start_mark.line + 1})")
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())[:200] or "invalid YAML"
        raise ProfileError(f"{source} is not a valid profile YAML: {first}") from None
    return DeviceProfile.from_dict(doc)


def load_profile(path: Path | str) -> DeviceProfile:
    """Load and validate the profile file at ``path``.

    Raises:
        ProfileError: missing, unreadable, too large, or invalid (the message names the field).
    """
    p = Path(path)
    if not p.is_file():
        raise ProfileError(f"profile file not found: {p}")
    try:
        if p.stat().st_size > MAX_PROFILE_BYTES:
            raise ProfileError(f"profile file {p} is larger than {MAX_PROFILE_BYTES // 1024} KB: not a profile")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"profile file {p} cannot be read: {e}") from None
    try:
        return parse_profile(text, f"profile file {p}")
    except ProfileError as e:
        msg = str(e)
        raise ProfileError(msg if str(p) in msg else f"{p}: {msg}") from None


def save_profile(profile: DeviceProfile, directory: Path | str = DEFAULT_PROFILES_DIR) -> Path:
    """Write ``directory/NAME.yaml`` atomically; returns the path.

    Raises:
        OutputError: the folder cannot be created or written.
    """
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the profiles folder {d}: {e.strerror or e}") from None
    path = d / f"{check_name(profile.name)}.yaml"
    atomic_write_text(path, dump_profile(profile))
    return path


@dataclass(frozen=True)
class ProfileEntry:
    """One file of a profiles folder: its name and path, and the profile or why it is unusable."""

    name: str
    path: Path
    profile: DeviceProfile | None
    error: str | None = None


class ProfileStore:
    """A folder of named profiles (``NAME.yaml``).

    Example:
        >>> store = ProfileStore("profiles")  # doctest: +SKIP
        >>> [e.name for e in store.entries()]  # doctest: +SKIP
        ['build-vm']
    """

    def __init__(self, directory: Path | str = DEFAULT_PROFILES_DIR) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.yaml"

    def save(self, profile: DeviceProfile) -> Path:
        return save_profile(profile, self.directory)

    def load(self, name: str) -> DeviceProfile:
        p = self.path(name)
        if not p.is_file():
            known = ", ".join(self.names()) or "none"
            raise ProfileError(f"no profile named '{name}' in {self.directory} (profiles there: {known})")
        return load_profile(p)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.yaml") if p.is_file())

    def entries(self) -> list[ProfileEntry]:
        """Every ``*.yaml`` in the folder, loaded; an invalid one is listed with its error."""
        out = []
        for name in self.names():
            p = self.directory / f"{name}.yaml"
            try:
                out.append(ProfileEntry(name, p, load_profile(p)))
            except ProfileError as e:
                out.append(ProfileEntry(name, p, None, str(e)))
        return out

    def resolve(self, ref: str) -> DeviceProfile:
        """A profile by name (in this folder) or by path to a YAML file."""
        looks_like_path = (
            os.sep in ref or "/" in ref or ref.lower().endswith((".yaml", ".yml")) or Path(ref).is_file()
        )
        if looks_like_path:
            return load_profile(Path(ref))
        return self.load(ref)


def writable_check(directory: Path) -> None:
    """Fail before measuring if the profiles folder cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the profiles folder {directory}: {e.strerror or e}") from None
    if not os.access(directory, os.W_OK):
        raise OutputError(f"the profiles folder {directory} is not writable")
