"""Compression techniques: one module each, discovered and registered in one place.

Every public module of this package (and every module an installed package names under the
``advisor.techniques`` entry point) is imported once, and registers its technique with
:func:`register`. A technique declares its capabilities (see :class:`Technique`); the candidate
list, the search space, the ranking rules and ``why_not`` read them.

Example:
    >>> get_technique("FIQ").config({"calibration_size": 300}).calibration_size
    300
    >>> get_technique("FIQ").config({"calibration_size": -1})
    Traceback (most recent call last):
    ...
    advisor.errors.InputError: The 'calibration_size' parameter of FIQ must be an integer in [1, 5000]. Got -1.
    >>> get_technique("BLQ").precision, get_technique("KD").then
    ('int8-dynamic', ('FIQ', 'F16', 'PRN'))
"""

from advisor.techniques._base import (
    CHANGES,
    PRECISIONS,
    ApplyContext,
    Technique,
    TechniqueConfig,
    param,
)
from advisor.techniques._registry import (
    all_techniques,
    discover,
    get_technique,
    register,
    technique_names,
    unregister,
)

__all__ = [
    "ApplyContext",
    "Technique",
    "TechniqueConfig",
    "param",
    "PRECISIONS",
    "CHANGES",
    "register",
    "unregister",
    "get_technique",
    "technique_names",
    "all_techniques",
]

discover(__name__, __path__)
