"""Profile names: safe as file names everywhere (no path separators, no ``..``, short).

Example:
    >>> sanitize_name("Lab Pi #3 (rev/b)")
    'Lab-Pi-3-rev-b'
    >>> check_name("../etc/passwd")
    Traceback (most recent call last):
    ...
    advisor.errors.ProfileError: profile name '../etc/passwd' may only use letters, digits, '.', '_' and '-' (no path separators or '..'), up to 64 characters
"""  # noqa: E501 -- a doctest's expected exception message must stay on one line

from __future__ import annotations

import re

from advisor.errors import ProfileError

__all__ = ["sanitize_name", "check_name", "MAX_NAME"]

MAX_NAME = 64
_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


def check_name(name: str) -> str:
    """``name`` itself if it is a valid profile name, else :class:`ProfileError`."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_NAME
        or not _OK.match(name)
        or ".." in name
        or name.lower().endswith((".yaml", ".yml"))
    ):
        shown = name if isinstance(name, str) and len(name) <= 80 else str(name)[:77] + "..."
        raise ProfileError(
            f"profile name '{shown}' may only use letters, digits, '.', '_' and '-' (no path separators "
            f"or '..'), up to {MAX_NAME} characters"
        )
    return name


def sanitize_name(text: str, fallback: str = "device") -> str:
    """A valid profile name made from any text (e.g. a host name): other characters become
    ``-``, runs collapse, leading dots and dashes go, and it is cut to the length limit."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text))
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"-{2,}", "-", s).strip("-.")
    s = s[:MAX_NAME].rstrip("-.")
    if s.lower().endswith((".yaml", ".yml")):
        s = s.rsplit(".", 1)[0]
    try:
        return check_name(s)
    except ProfileError:
        return fallback
