"""The one place techniques are registered: each technique module applies :func:`register`."""

from __future__ import annotations

from advisor.errors import InputError
from advisor.techniques._base import Technique

__all__ = ["register", "get_technique", "technique_names", "all_techniques"]

_REGISTRY: dict[str, Technique] = {}


def register(cls: type[Technique]) -> type[Technique]:
    """Class decorator: instantiate and register a technique under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"technique {cls.name} registered twice")
    cls.Config.technique = cls.name
    _REGISTRY[cls.name] = cls()
    return cls


def get_technique(name: str) -> Technique:
    try:
        return _REGISTRY[name.upper()]
    except KeyError:
        raise InputError(f"unknown technique '{name}'; known: {', '.join(technique_names())}") from None


def technique_names() -> list[str]:
    return list(_REGISTRY)


def all_techniques() -> list[Technique]:
    return list(_REGISTRY.values())
