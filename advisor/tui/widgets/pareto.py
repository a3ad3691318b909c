"""The live Pareto plot: p90 over the original's in the same run vs model size of every measured candidate
(textual-plotext)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot

__all__ = ["ParetoPlot", "PlotPoint", "LEGEND"]

LEGEND = "O original  @ fits, Pareto front  + fits  x breaks budget  | limits"


@dataclass(frozen=True)
class PlotPoint:
    name: str
    latency_ms: float  # the x axis: p90 relative to the original's p90 timed in the same run
    size_kb: float
    quality: float  # higher is better (minus the paired drop)
    fits: bool


def _front(points: list[PlotPoint]) -> list[PlotPoint]:
    def dominated(p: PlotPoint) -> bool:
        return any(
            o is not p
            and o.quality >= p.quality
            and o.latency_ms <= p.latency_ms
            and o.size_kb <= p.size_kb
            and (o.quality, o.latency_ms, o.size_kb) != (p.quality, p.latency_ms, p.size_kb)
            for o in points
        )

    return [p for p in points if not dominated(p)]


class ParetoPlot(PlotextPlot):
    """Scatter of candidates: original, fitting, not fitting, the Pareto front; budget limits as lines."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points: list[PlotPoint] = []
        self.baseline: PlotPoint | None = None
        self.max_latency_ms: float | None = None
        self.max_size_kb: float | None = None
        self.latency_label = "measured here"  # or "predicted for PROFILE": what the x axis shows

    def on_mount(self) -> None:
        super().on_mount()
        self.redraw()

    def set_budget(
        self, baseline: PlotPoint | None, max_latency_ms: float | None, max_size_kb: float | None
    ) -> None:
        self.baseline, self.max_latency_ms, self.max_size_kb = baseline, max_latency_ms, max_size_kb
        self.redraw()

    def set_points(self, points: list[PlotPoint]) -> None:
        self.points = list(points)
        self.redraw()

    def add_point(self, point: PlotPoint) -> None:
        self.points.append(point)
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(f"size vs p90 / original ({self.latency_label})")
        plt.xlabel("p90 / original, same run")
        plt.ylabel("KB")
        everything = self.points + ([self.baseline] if self.baseline else [])
        if not everything:
            self.refresh()
            return
        front = {id(p) for p in _front(everything)}

        def scatter(pts: list[PlotPoint], marker: str, color: str, label: str) -> None:
            # No plotext legend: it hides points in a small plot; LEGEND is shown next to the plot.
            if pts:
                plt.scatter(
                    [p.latency_ms for p in pts],
                    [p.size_kb for p in pts],
                    marker=marker,
                    color=color,
                )

        if self.baseline is not None:
            scatter([self.baseline], "O", "blue", "original")
        scatter([p for p in self.points if p.fits and id(p) in front], "@", "green", "fits, Pareto")
        scatter([p for p in self.points if p.fits and id(p) not in front], "+", "green", "fits")
        scatter([p for p in self.points if not p.fits], "x", "red", "breaks budget")
        xs = [p.latency_ms for p in everything] + (
            [self.max_latency_ms] if self.max_latency_ms else []
        )
        ys = [p.size_kb for p in everything] + ([self.max_size_kb] if self.max_size_kb else [])
        if self.max_latency_ms:
            plt.vline(self.max_latency_ms, "red")
        if self.max_size_kb:
            plt.hline(self.max_size_kb, "orange")
        lo_x, hi_x = min(xs), max(xs)
        lo_y, hi_y = min(ys), max(ys)
        pad_x = (hi_x - lo_x) * 0.1 or max(hi_x * 0.1, 1e-3)
        pad_y = (hi_y - lo_y) * 0.1 or max(hi_y * 0.1, 1.0)
        plt.xlim(max(0.0, lo_x - pad_x), hi_x + pad_x)
        plt.ylim(max(0.0, lo_y - pad_y), hi_y + pad_y)
        if not all(math.isfinite(v) for v in xs + ys):
            plt.clear_data()
        self.refresh()
