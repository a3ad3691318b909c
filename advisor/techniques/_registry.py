"""The one place techniques are registered: each technique module applies :func:`register`.

Technique modules are discovered, not listed: :func:`discover` imports every public module of
this package and every module named by an ``advisor.techniques`` entry point (so a technique can
live in another package), and each registers itself on import.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from advisor.errors import InputError
from advisor.techniques._base import Technique

__all__ = ["register", "unregister", "get_technique", "technique_names", "all_techniques", "discover",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "advisor.techniques"

_REGISTRY: dict[str, Technique] = {}


def register(cls: type[Technique]) -> type[Technique]:
    """Class decorator: instantiate and register a technique under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"technique {cls.name} registered twice")
    for nxt in cls.then:
        if nxt == cls.name:
            raise RuntimeError(f"technique {cls.name} cannot follow itself")
    cls.Config.technique = cls.name
    _REGISTRY[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a registered technique (a technique registered by a test, or a plug-in's)."""
    _REGISTRY.pop(name.upper(), None)


def get_technique(name: str) -> Technique:
    try:
        return _REGISTRY[name.upper()]
    except KeyError:
        raise InputError(f"unknown technique '{name}'; known: {', '.join(technique_names())}") from None


def technique_names() -> list[str]:
    return list(_REGISTRY)


def all_techniques() -> list[Technique]:
    return list(_REGISTRY.values())


def discover(package: str, path: list[str]) -> None:
    """Import every public module of ``package`` (at ``path``) in name order, then every
    ``advisor.techniques`` entry point; each module registers its technique on import."""
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()
