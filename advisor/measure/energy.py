"""Energy per inference from a RAPL sensor where one exists (Linux ``/sys/class/powercap``).

Qin et al. (2018) report energy next to latency; most VMs and many boards expose no sensor, and
then every figure says so instead of guessing.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["energy_sensor", "read_energy_uj"]

_POWERCAP = Path("/sys/class/powercap")


def energy_sensor() -> str:
    """The name of a readable package-energy sensor, or ``"none"``."""
    path = _zone()
    return f"rapl:{path.parent.name}" if path else "none"


def _zone() -> Path | None:
    if not _POWERCAP.is_dir():
        return None
    for zone in sorted(_POWERCAP.glob("intel-rapl:*")):
        f = zone / "energy_uj"
        try:
            int(f.read_text().strip())
            return f
        except (OSError, ValueError):
            continue
    return None


def read_energy_uj() -> int | None:
    """Current cumulative package energy in microjoules, or ``None`` without a sensor."""
    path = _zone()
    if path is None:
        return None
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
