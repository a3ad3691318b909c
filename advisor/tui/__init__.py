"""The Textual front end (``advisor tui``). The core library never imports this package.

Example:
    >>> from advisor.tui import AdvisorApp, TuiConfig
    >>> AdvisorApp(TuiConfig()).run()  # doctest: +SKIP
"""

from advisor.tui.app import AdvisorApp
from advisor.tui.state import TuiConfig

__all__ = ["AdvisorApp", "TuiConfig"]
