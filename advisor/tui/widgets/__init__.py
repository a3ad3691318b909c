"""Reusable parts of the TUI's screens."""

from advisor.tui.widgets.jobstatus import JobStatus
from advisor.tui.widgets.pareto import ParetoPlot
from advisor.tui.widgets.stepbar import STEPS, StepBar
from advisor.tui.widgets.tables import FigureTable, RowsTable

__all__ = ["JobStatus", "ParetoPlot", "StepBar", "STEPS", "FigureTable", "RowsTable"]
