"""Compression techniques: one module each, registered in one place.

Example:
    >>> get_technique("FIQ").config({"calibration_size": 300}).calibration_size
    300
    >>> get_technique("FIQ").config({"calibration_size": -1})
    Traceback (most recent call last):
    ...
    advisor.errors.InputError: The 'calibration_size' parameter of FIQ must be an integer in [1, 5000]. Got -1.
"""

from advisor.techniques import blq, ca, f16, fiq, kd, lr, mpq, prn, qat, spr  # noqa: F401  (each module registers itself)
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import all_techniques, get_technique, register, technique_names

__all__ = [
    "ApplyContext",
    "Technique",
    "TechniqueConfig",
    "param",
    "register",
    "get_technique",
    "technique_names",
    "all_techniques",
]
