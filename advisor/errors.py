"""The advisor's error types. Only the CLI and the TUI turn them into messages and exit codes."""

from __future__ import annotations

__all__ = [
    "AdvisorError",
    "InputError",
    "BudgetError",
    "ProfileError",
    "TechniqueError",
    "NotApplicable",
    "OverTime",
    "Cancelled",
    "OutputError",
]


class AdvisorError(Exception):
    """Base class: every error the advisor raises on purpose. ``str(err)`` is one line for users."""

    exit_code = 2

    def __str__(self) -> str:
        # The one-line promise holds even when a message quotes user text with line breaks in it.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class InputError(AdvisorError):
    """A model, data set or option given by the user cannot be used (exit 2, nothing written)."""


class BudgetError(InputError):
    """A budget that is malformed or contradictory."""


class ProfileError(InputError):
    """A device profile that is missing, malformed or of an unknown schema version."""


class OutputError(AdvisorError):
    """The output folder cannot be written (permissions, full disk, path outside ``--out``)."""


class TechniqueError(AdvisorError):
    """A technique failed on this model (the trial is recorded as failed; the search goes on)."""


class NotApplicable(TechniqueError):
    """A technique cannot apply to this model or data; ``str(err)`` says why, for the advice."""


class OverTime(TechniqueError):
    """A compression stopped at (or was predicted to run past) its time limit; the search records
    the trial as pruned with this message."""


class Cancelled(AdvisorError):
    """The user stopped the work (Ctrl-C in the CLI, Stop in the TUI)."""

    exit_code = 130
