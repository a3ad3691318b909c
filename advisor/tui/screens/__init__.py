"""One screen per step of the flow, plus help and the Markdown viewer."""

from advisor.tui.screens.advice import AdviceScreen, MarkdownScreen
from advisor.tui.screens.device import DeviceScreen
from advisor.tui.screens.help import HelpScreen
from advisor.tui.screens.model import ModelScreen
from advisor.tui.screens.questionnaire import QuestionnaireScreen
from advisor.tui.screens.ranking import RankingScreen
from advisor.tui.screens.search import SearchScreen

__all__ = [
    "DeviceScreen",
    "ModelScreen",
    "QuestionnaireScreen",
    "RankingScreen",
    "SearchScreen",
    "AdviceScreen",
    "HelpScreen",
    "MarkdownScreen",
]
