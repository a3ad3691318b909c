"""One snapshot per screen at 80x24, from fixed data (tests/tui/data), so nothing timed or dated
appears. Update after an intended change with ``pytest tests/tui --snapshot-update`` and review
the SVGs (docs/tui.md links them)."""

from __future__ import annotations

import pytest

from advisor.tui import AdvisorApp, TuiConfig
from advisor.tui.messages import TrialFinished
from advisor.tui.screens import MarkdownScreen
from tests.tui import fixtures as fx
from tests.tui.conftest import FAST, RecordedProfile

SIZE = (80, 24)


@pytest.fixture
def snap_config(tmp_path):
    return TuiConfig(
        out=fx.OUT, profiles_dir=tmp_path / "profiles", measure=FAST, profile=RecordedProfile()
    )


@pytest.fixture
def doc():
    return fx.advice_doc()


def make_app(config, start: str, doc=None, **session) -> AdvisorApp:
    app = AdvisorApp(config, start=start)
    s = app.session
    if doc is not None:
        s.problem, s.budget = fx.stub_problem(doc), fx.budget(doc)
    for k, v in session.items():
        setattr(s, k, v)
    return app


def test_device_screen(snap_compare, snap_config):
    assert snap_compare(make_app(snap_config, "device"), terminal_size=SIZE)


def test_model_screen(snap_compare, snap_config, doc):
    app = make_app(snap_config, "model")

    async def loaded(pilot):
        screen = app.screen
        screen.query_one("#status").display = False
        screen.show_summary(fx.model_summary(doc))
        screen.note("Loaded. Check what was detected, then Next")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_questionnaire_screen_with_a_validation_message(snap_compare, snap_config):
    app = make_app(snap_config, "questionnaire")

    async def typed(pilot):
        app.screen.query_one("#max-size").focus()
        await pilot.press("minus", "5")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=typed)


def test_ranking_screen(snap_compare, snap_config, doc):
    app = make_app(snap_config, "ranking", doc, ranking=fx.ranking(doc))
    assert snap_compare(app, terminal_size=SIZE)


def test_search_screen(snap_compare, snap_config, doc):
    app = make_app(snap_config, "search", doc, study="snapshot")

    async def finished(pilot):
        screen = app.screen
        screen.reset_view()
        for e in fx.evaluations(doc):
            screen.on_trial_finished(TrialFinished(e))
        screen.stopped_text = (
            "Done: 3 trial(s); 3 trials finished (limit 3). Pick: FIQ #0 (confirmed)."
        )
        screen.query_one("#status").finish("done")
        screen.query_one("#study").update("study snapshot")
        screen._buttons()
        screen.tick()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=finished)


def test_advice_screen(snap_compare, snap_config, doc):
    app = make_app(snap_config, "advice", doc, advice=fx.advice(doc))
    assert snap_compare(app, terminal_size=SIZE)


def test_advice_markdown_screen(snap_compare, snap_config, doc):
    app = make_app(snap_config, "advice", doc, advice=fx.advice(doc))

    async def opened(pilot):
        app.push_screen(MarkdownScreen(fx.DATA / "advice.md", title="/runs/tui/advice.md"))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=opened)


def test_help_screen(snap_compare, snap_config):
    assert snap_compare(make_app(snap_config, "device"), terminal_size=SIZE, press=["f1"])
