"""Is this machine busy? Other processes' CPU use and hypervisor steal over an interval, and
whether this process itself got the CPU it asked for.

One home for load detection: the latency timing (:mod:`advisor.measure.latency`) re-times the
blocks a busy machine disturbed, and the device profiler records the background load of its run.

Example:
    >>> meter = LoadMeter()
    >>> other_cores, steal_percent = meter.read()
    >>> other_cores >= 0 and steal_percent >= 0
    True
"""

from __future__ import annotations

import time

import psutil

__all__ = ["LoadMeter", "CpuShare"]


def _busy(t) -> float:
    idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
    return sum(t) - idle


class LoadMeter:
    """CPU time other processes used while we measured (in cores), and hypervisor steal (%).

    System-wide busy time minus this process's own CPU time, over the wall time: on an idle host
    it is ~0; another process holding a core shows as ~1.0. The kernel counts in ticks (10 ms), so
    intervals shorter than ~0.2 s read coarsely; :class:`CpuShare` is the precise per-block check.
    With ``children``, this process's finished (waited-for) children count as its own: a
    benchmark that runs a command in a subprocess then sees only the others' load.
    """

    def __init__(self, *, children: bool = False) -> None:
        self._proc = psutil.Process()
        self._children = children
        self._t0 = time.perf_counter()
        self._sys0 = psutil.cpu_times()
        self._own0 = self._own()

    def _own(self) -> float:
        t = self._proc.cpu_times()
        kids = getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0) if self._children else 0.0
        return t.user + t.system + kids

    def read(self) -> tuple[float, float]:
        """``(other processes' load in cores, steal in percent)`` since the meter was made."""
        sys1 = psutil.cpu_times()
        own = self._own() - self._own0
        wall = max(1e-6, time.perf_counter() - self._t0)
        busy = _busy(sys1) - _busy(self._sys0)
        total = sum(sys1) - sum(self._sys0)
        steal = (getattr(sys1, "steal", 0.0) - getattr(self._sys0, "steal", 0.0)) / total if total > 0 else 0.0
        return max(0.0, (busy - own) / wall), max(0.0, 100.0 * steal)


class CpuShare:
    """This process's CPU time over wall time since :meth:`start` (nanosecond clocks).

    While a model runs on the calling thread (and its intra-op threads), the process holds at least
    one core the whole time: a share well below 1 means the scheduler took the CPU away (another
    process, a hypervisor) and the timings of that interval are disturbed.

    >>> share = CpuShare().start()
    >>> _ = sum(range(100_000))
    >>> share.read() > 0
    True
    """

    def start(self) -> CpuShare:
        self._wall0 = time.perf_counter_ns()
        self._cpu0 = time.process_time_ns()
        return self

    def read(self) -> float:
        wall = max(1, time.perf_counter_ns() - self._wall0)
        return (time.process_time_ns() - self._cpu0) / wall
