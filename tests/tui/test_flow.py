"""Pilot tests: the whole flow on the built-in model with a tiny search, validation that blocks Next,
Stop/quit that keep finished trials, and resume."""

from __future__ import annotations

import json
from dataclasses import replace

import optuna
import pytest
from optuna.trial import TrialState

from advisor.search import default_storage_url
from advisor.tui import AdvisorApp
from advisor.tui.screens import (
    AdviceScreen,
    HelpScreen,
    MarkdownScreen,
    ModelScreen,
    QuestionnaireScreen,
    RankingScreen,
    SearchScreen,
)
from advisor.tui.views import kb
from tests.tui.conftest import settle, wait_for

SIZE = (100, 36)


async def walk_to_ranking(app: AdvisorApp, pilot) -> None:
    """Device -> model (load, then Next) -> questionnaire (defaults: mid tier) -> ranking."""
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, ModelScreen)
    await pilot.press("ctrl+n")  # Next without a loaded model starts loading it
    await settle(app, pilot)
    assert app.session.problem is not None
    assert isinstance(app.screen, ModelScreen)  # stays to show what was detected
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, QuestionnaireScreen)
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, RankingScreen)
    await settle(app, pilot)
    assert app.session.ranking is not None


def study_trials(config, study: str):
    s = optuna.load_study(study_name=study, storage=default_storage_url(config.out))
    return s.get_trials(deepcopy=False)


@pytest.mark.slow
async def test_whole_flow_writes_advice_that_matches_the_screen(config):
    app = AdvisorApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_ranking(app, pilot)
        model = app.get_screen("model")
        detected = dict(model.query_one("#detected").texts())
        assert detected["inputs"] == "input Nx1x32x32 float32"
        assert detected["metric"] == "accuracy over 10 classes"
        assert "602.6 k" in detected["parameters"] and "FLOPs" in detected
        ranked = [r[1] for r in app.screen.query_one("#ranking").texts()]
        assert set(ranked) == {"FIQ", "F16", "NQ"}

        await pilot.press("s")  # search
        assert isinstance(app.screen, SearchScreen)
        await settle(app, pilot)
        assert isinstance(app.screen, AdviceScreen), app.screen.query_one("#search-status").render()

        out = config.out
        doc = json.loads((out / "advice.json").read_text())
        for name in (doc["model"]["file"], "advice.md", "advice.json", "pareto.png"):
            assert (out / name).is_file(), name
        assert doc["trials"]["count"] == 2

        screen = app.screen
        advice = app.session.advice
        headline = str(screen.query_one("#headline").render())
        assert doc["strategy"] in headline and headline.startswith(advice.headline()[:40])
        assert doc["headline"] == advice.headline()  # the file and the screen render the same typed advice
        rows = {r[0]: r for r in screen.query_one("#compare").texts()}
        assert list(rows) == [r[0] for r in advice.comparison()]
        b, c = doc["baseline"], doc["compressed"]
        assert rows["size KB"][1:3] == (kb(b["size_bytes"]), kb(c["size_bytes"]))
        tag = advice.shown.measurement.latency.label()  # where the latency comes from, in the row's label
        assert rows[f"p90 ms ({tag})"][2] == f"{c['latency_ms_p90']:.3f}"
        if c.get("baseline_latency"):  # the original as timed in the pick's own run
            assert rows[f"p90 ms ({tag})"][1] == f"{c['baseline_latency']['p90_ms']:.3f}"
            assert rows["speed-up p50 (same run)"][2].startswith(f"{c['speedup_p50']:.2f}x")
        cands = screen.query_one("#candidates").texts()
        assert [r[0] for r in cands] == [r.label for r in advice.rows()]
        files = str(screen.query_one("#files").render())
        assert str((out / doc["model"]["file"]).resolve()) in files
        reasons = str(screen.query_one("#advice-reasons").render())
        assert doc["reasons"][0]["text"] in reasons and doc["reasons"][0]["source"] in reasons

        search = app.get_screen("search")
        trial_rows = search.query_one("#trials").texts()
        assert len(trial_rows) == doc["trials"]["count"]
        assert {r[1] for r in trial_rows} == {
            x["strategy"].split(" #")[0] for x in doc["candidates"]
        }

        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MarkdownScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, AdviceScreen)

        await pilot.press("escape")  # back through the steps
        assert isinstance(app.screen, SearchScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RankingScreen)


@pytest.mark.slow
async def test_accept_top_prediction_compresses_once_and_advises(config):
    app = AdvisorApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_ranking(app, pilot)
        top = app.session.ranking.order()[0]
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, AdviceScreen)
        doc = json.loads((config.out / "advice.json").read_text())
        assert doc["trials"]["count"] == 1
        assert [c["strategy"].split(" #")[0] for c in doc["candidates"]] == [top]
        assert doc["compressed"] is not None  # it was measured, not just predicted


async def test_invalid_budget_shows_messages_and_blocks_next(config):
    app = AdvisorApp(config, start="questionnaire")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, QuestionnaireScreen)
        assert not screen.query_one("#next").disabled  # the mid-tier preset alone is a valid budget

        screen.query_one("#max-latency").focus()
        await pilot.press("minus", "3")
        errors = str(screen.query_one("#errors").render())
        assert "max latency p90 (ms) must be greater than 0, got -3" in errors
        assert screen.query_one("#max-latency").has_class("-invalid")
        assert screen.query_one("#next").disabled
        await pilot.press("ctrl+n")
        assert app.screen is screen

        await pilot.press("backspace", "backspace", "a", "b")
        assert "must be a number, got 'ab'" in str(screen.query_one("#errors").render())

        await pilot.press("backspace", "backspace")
        screen.query_one("#max-accuracy-drop").focus()
        await pilot.press("1", "5", "0")
        assert "must be between 0 and 100, got 150" in str(screen.query_one("#errors").render())
        await pilot.press("backspace", "backspace", "backspace", "1")
        assert str(screen.query_one("#errors").render()).strip() == ""
        assert not screen.query_one("#next").disabled

        # Custom limits with no limit at all is not a budget.
        screen.query_one("#max-accuracy-drop").value = ""
        screen.query_one("#tier").focus()
        await pilot.press("right", "right", "right", "enter")
        await pilot.pause()
        assert screen.tier() is None
        assert "give at least one limit" in str(screen.query_one("#errors").render())
        assert screen.query_one("#next").disabled

        screen.query_one("#max-size").focus()
        await pilot.press("5", "0", "0")
        budget, why = screen.budget()
        assert why is None and budget.max_size_kb == 500.0 and budget.tier is None


async def test_model_screen_rejects_missing_files_without_loading(config, tmp_path):
    app = AdvisorApp(config, start="model")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#model-kind").focus()
        await pilot.press("right", "enter")  # ONNX file
        await pilot.pause()
        screen.query_one("#onnx-path").value = str(tmp_path / "missing.onnx")
        await pilot.press("l")  # focus is on the radio set, so l is the Load binding
        await pilot.pause()
        assert "no such file" in str(screen.query_one("#form-error").render())
        assert not app.busy() and app.session.problem is None
        await pilot.press("ctrl+n")
        assert app.screen is screen


async def test_model_screen_loads_a_factory_from_the_current_folder(config, tmp_path, monkeypatch):
    """The model step resolves ``module:factory`` as --model does: the current folder first (issue 22)."""
    import sys

    import numpy as np
    import torch

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "tui_model.py").write_text("import torch\n\n\ndef build():\n    torch.manual_seed(0)\n"
                                       "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))\n")
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).state_dict(), proj / "w.pt")
    np.savez(proj / "d.npz", input=np.random.default_rng(0).random((24, 1, 4, 4), dtype=np.float32))
    monkeypatch.chdir(proj)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "tui_model", raising=False)
    app = AdvisorApp(config, start="model")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#model-kind").focus()
        await pilot.press("right", "right", "enter")  # PyTorch factory + weights
        await pilot.pause()
        screen.query_one("#factory").value = "models/missing.py:build"
        screen.query_one("#weights").value = "w.pt"
        screen.query_one("#data-kind").focus()
        await pilot.press("right", "enter")  # .npz file
        screen.query_one("#data-path").value = "d.npz"
        await pilot.press("l")
        await pilot.pause()
        assert "factory: no such file: models/missing.py" in str(screen.query_one("#form-error").render())
        assert app.session.problem is None
        screen.query_one("#factory").value = "tui_model:build"
        await pilot.press("l")
        await settle(app, pilot)
        assert app.session.problem is not None and app.session.problem.model.module[1].out_features == 3
    sys.modules.pop("tui_model", None)


@pytest.mark.slow
async def test_stop_keeps_finished_trials_and_resume_continues(config):
    config = replace(config, trials=3)
    app = AdvisorApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_ranking(app, pilot)
        await pilot.press("s")
        search = app.screen
        assert isinstance(search, SearchScreen)
        await wait_for(pilot, lambda: search.measured >= 1, what="a finished trial")
        await pilot.press("x")
        await settle(app, pilot)
        assert app.screen is search and not search.running
        status = str(search.query_one("#search-status").render())
        assert "Stopped:" in status

        study = app.session.study
        complete = [t for t in study_trials(config, study) if t.state == TrialState.COMPLETE]
        assert len(complete) >= 1
        assert len(complete) == search.measured
        assert not (config.out / "advice.json").exists()  # stopping is not advising

        await pilot.press("r")  # resume the same study up to 3 measured trials
        await settle(app, pilot)
        complete_after = [t for t in study_trials(config, study) if t.state == TrialState.COMPLETE]
        assert len(complete_after) >= 3
        assert {t.number for t in complete} <= {t.number for t in complete_after}
        assert isinstance(app.screen, AdviceScreen)


@pytest.mark.slow
async def test_advice_from_what_was_measured_after_stop(config):
    config = replace(config, trials=4)
    app = AdvisorApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_ranking(app, pilot)
        await pilot.press("s")
        search = app.screen
        await wait_for(pilot, lambda: search.measured >= 1, what="a finished trial")
        await pilot.press("x")
        await settle(app, pilot)
        kept = search.measured
        await pilot.press("ctrl+n")  # Advice from the finished trials; nothing new is measured
        await settle(app, pilot)
        assert isinstance(app.screen, AdviceScreen)
        doc = json.loads((config.out / "advice.json").read_text())
        measured = [c for c in doc["candidates"] if "error" not in c]
        assert len(measured) == kept


@pytest.mark.slow
async def test_quit_during_search_waits_and_keeps_finished_trials(config):
    config = replace(config, trials=4)
    app = AdvisorApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_ranking(app, pilot)
        await pilot.press("s")
        search = app.screen
        await wait_for(pilot, lambda: search.measured >= 1, what="a finished trial")
        await pilot.press("ctrl+c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        measured = search.measured
        study = app.session.study
    assert app.return_code == 0
    trials = study_trials(config, study)
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == measured >= 1
    assert not any(t.state == TrialState.RUNNING for t in trials)


async def test_help_lists_keys_and_closes(config):
    app = AdvisorApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#keys")
        keys = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"F1, ?", "ctrl+n", "Escape", "q, ctrl+c"} <= keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize(
    "start", ["device", "model", "questionnaire", "ranking", "search", "advice"]
)
async def test_every_step_opens_at_80x24_without_state(config, start):
    """A screen shown before its inputs exist says what to do instead of failing."""
    app = AdvisorApp(replace(config, profile=None), start=start)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert start == app.screen.STEP
        await pilot.press("ctrl+n")
        await pilot.pause()
        await settle(app, pilot)


@pytest.mark.slow
async def test_device_screen_profiles_saves_loads_and_compares(config):
    """The one test that runs the real profiler (quick mode, a few seconds)."""
    from advisor.profiling import load_profile

    app = AdvisorApp(replace(config, profile=None, quick_profile=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("p")
        await settle(app, pilot)
        assert "measured" in str(screen.query_one("#status #msg").render())
        profile = app.session.profile
        assert profile is not None
        figures = dict(screen.query_one("#figures").texts())
        assert figures["INT8 / FP32 speed"] == f"{profile.key_figures()['int8_speedup']:.3g}"
        facts = str(screen.query_one("#facts").render())
        assert "INT8" in facts and "FP16" in facts

        name = screen.query_one("#name")
        name.value = ""
        name.focus()
        await pilot.press(*"my box!")
        assert "will be saved as 'my-box'" in str(screen.query_one("#name-error").render())
        screen.query_one("#save").press()
        await pilot.pause()
        path = config.profiles_dir / "my-box.yaml"
        assert path.is_file() and load_profile(path).name == "my-box"
        assert app.session.profile.name == "my-box"

        # A second saved profile to load and compare.
        screen.query_one("#name").value = "other-box"
        screen.query_one("#save").press()
        await pilot.pause()
        screen.query_one("#saved").value = "my-box"
        screen.query_one("#compare").press()
        await pilot.pause()
        rows = {r[0]: r for r in screen.query_one("#comparison").texts()}
        assert rows["profile name"][1:3] == ("other-box", "my-box")
        assert rows["INT8 / FP32 speed"][3] == "1.00x"
        screen.query_one("#load").press()
        await pilot.pause()
        assert app.session.profile.name == "my-box"

        name.value = "../"
        await pilot.pause()
        assert "needs letters or digits" in str(screen.query_one("#name-error").render())


def test_progress_messages_of_one_job_collapse():
    from advisor.tui.messages import JobProgress

    newer = JobProgress("search", "KD", 0.6, "step 60/100")
    assert newer.can_replace(JobProgress("search", "KD", 0.5, "step 50/100"))
    assert not newer.can_replace(JobProgress("load", "load", 0.5, ""))


@pytest.mark.slow
async def test_the_device_step_can_measure_on_a_device_of_the_fleet(config, tmp_path):
    """Device step, "a device in the fleet": the board's own profile becomes the current one, and the
    model step measures the original on the board (every figure labelled with its name)."""
    import threading

    from advisor.measure.remote import serve
    from advisor.profiling import profile_device
    from advisor.storage import open_storage

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    open_storage(url)
    stop = threading.Event()
    profile = profile_device("tui-board", quick=True).to_dict()
    board = threading.Thread(target=serve, args=(url, "tui-board"), kwargs={"stop": stop, "profile": lambda: profile},
                             daemon=True)
    board.start()
    app = AdvisorApp(config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: _listening(url), what="the board")
            app.screen.query_one("#fleet-storage").value = url
            app.screen.query_one("#fleet-device").value = "tui-board"
            app.screen.query_one("#fleet").press()
            await wait_for(pilot, lambda: app.session.measure_on is not None, what="the fleet device")
            assert app.session.profile.name == "tui-board" and app.session.storage == url
            assert "measuring on tui-board" in str(app.screen.query_one("#fleet-status").render())
            await pilot.press("ctrl+n")
            assert isinstance(app.screen, ModelScreen)
            await pilot.press("ctrl+n")
            await settle(app, pilot)
            problem = app.session.problem
            assert problem is not None and problem.board is not None
            assert problem.baseline.latency.where.device == "tui-board"
    finally:
        stop.set()


def _listening(url: str) -> bool:
    from advisor.errors import InputError
    from advisor.measure.remote import Target

    try:
        Target.connect(url, "tui-board")
        return True
    except InputError:
        return False
