"""Compress here, measure on the board: the measuring target (advisor.measure.remote, `advisor worker
--measure-only`, `advisor advise --measure-on`)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from advisor.artifacts import sha256_of
from advisor.errors import InputError
from advisor.measure.remote import Request, Target, TargetGone, pack_data, queue_name, serve
from advisor.storage import open_storage
from advisor.types import LatencyStats, Measurement, Provenance
from tests.measure.tinymodels import dense_onnx

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("torch", "sklearn", "textual", "scipy")


def test_the_measuring_path_imports_without_torch_sklearn_textual_or_scipy():
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import advisor.measure.remote, advisor.profiling
from advisor.profiling import profile_device
from advisor.cli import main
try:
    main(['worker', '--help'])
except SystemExit as e:
    sys.exit(e.code)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "--measure-only" in r.stdout


@pytest.fixture
def board(tmp_path):
    """A measuring target serving in a thread of this process, on a SQLite storage."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    open_storage(url)  # the schema first: two first-time openers of one SQLite file race on it
    stop = threading.Event()
    t = threading.Thread(target=serve, args=(url, "bench-board"), kwargs={"stop": stop, "profile": lambda: {"p": 1}},
                         daemon=True)
    t.start()
    deadline = time.time() + 30
    while True:
        try:
            target = Target.connect(url, "bench-board", wait=10)
            break
        except InputError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    yield target
    stop.set()
    t.join(timeout=10)


def _request(board: Target, tmp_path: Path, label: str = "c") -> Request:
    orig = dense_onnx(tmp_path / "orig.onnx", "logits", 6)
    cand = dense_onnx(tmp_path / "cand.onnx", "logits", 6, noise=0.3)
    from advisor.data import Dataset

    rng = np.random.default_rng(0)
    splits = {s: Dataset({"x": rng.standard_normal((40, 8)).astype(np.float32)}) for s in ("validation", "test")}
    data = board.send(pack_data(tmp_path / "eval.npz", splits))
    return Request("measure", (board.send(orig), board.send(cand)), data, ("validation",), (("logits", "agreement"),),
                   (("x", (None, 8), "float32"),), 1, False, 0.05, label)


def test_a_board_measures_a_request_once_and_labels_it_with_its_name(board, tmp_path):
    req = _request(board, tmp_path)
    res = board.measure(req)
    orig, cand = res.latencies
    assert cand.where.device == "bench-board" and cand.run == orig.run and len(cand.blocks_p50) == 10
    assert "bench-board" in cand.label()
    scores = res.scores["validation"]
    assert len(scores["candidate"]["logits"]) == 40 and set(scores["original"]["logits"]) == {1.0}
    again = board.measure(Request(**{**req.__dict__, "label": "the same, another label"}))
    assert again.to_dict() == res.to_dict()  # the same measurement: found, not measured twice
    done = [t for t in board.study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    assert len(done) == 1
    assert board.profile() == {"p": 1}


def test_no_target_listening_is_said_within_seconds_with_how_to_start_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    t0 = time.monotonic()
    with pytest.raises(InputError, match="no measuring target named 'pi5' has ever connected .* advisor worker "
                                         "--measure-only --storage .* --device pi5"):
        Target.connect(url, "pi5")
    study = optuna.create_study(storage=url, study_name=queue_name("pi5"))
    study.set_user_attr("alive", time.time() - 600)
    with pytest.raises(InputError, match=r"'pi5' is not listening .* \(last heard 600 s ago\)"):
        Target.connect(url, "pi5")
    assert time.monotonic() - t0 < 10
    with pytest.raises(InputError, match="cannot open study storage"):
        Target.connect("postgresql+psycopg2://nobody@127.0.0.1:1/none", "pi5")


def test_a_silent_board_stops_the_workstation_cleanly_and_keeps_the_request(tmp_path):
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    study = optuna.create_study(storage=url, study_name=queue_name("gone"))
    study.set_user_attr("alive", time.time())
    target = Target.connect(url, "gone", wait=1.0)
    req = _request(target, tmp_path, "FIQ #3")
    with pytest.raises(TargetGone, match="silent .* while measuring FIQ #3; the request stays queued"):
        target.measure(req)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["request_key"] == req.key


def test_figures_from_another_onnxruntime_are_measured_and_labelled():
    from advisor.decide import speed

    where = Provenance("board-host", "pi5", "Cortex-A76", 4, "1.0.0", 1)
    lat = LatencyStats(1.0, 1.1, 100, 1, False, where=where)
    assert lat.label() == "measured on pi5, same run"
    base = Measurement("accuracy", 0.9, 10, 5, LatencyStats(2.0, 2.2, 100, 1, False, where=where), 1, 0.0)
    m = Measurement("accuracy", 0.9, 10, 5, lat, 1, 0.0)
    assert speed(base, m).value == 0.5
    here = LatencyStats(1.0, 1.1, 100, 1, False, where=Provenance("x", "vm", "Xeon", 2, "1.31.1", 1))
    with pytest.raises(ValueError, match="not compared directly"):
        from advisor.measure.latency import ratio_figure

        ratio_figure(here, lat)


# -- a board in its own virtual environment, without torch, serving a workstation over PostgreSQL ------------


def _target_venv() -> Path:
    """A virtual environment with only the [target] install (no torch, no scikit-learn, no Textual),
    cached between runs by the hash of pyproject.toml."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"advisor-target-venv-{digest}"
    py = venv / "bin" / "python"
    if not (venv / ".ready").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}[target]"], check=True, timeout=900)
        (venv / ".ready").write_text("ok")
    r = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('torch','sklearn','textual') "
                                       "if u.find_spec(m)])"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", f"the target venv holds {r.stdout}"
    return venv


def _start_board(venv: Path, url: str, name: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(venv / "bin" / "advisor"), "worker", "--measure-only", "--storage", url,
                             "--device", name], stdout=log.open("a"), stderr=subprocess.STDOUT,
                            cwd=log.parent, start_new_session=True)


def _wait_alive(url: str, name: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            Target.connect(url, name)
            return
        except InputError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_board_without_torch_serves_a_workstation_survives_a_restart_and_measures_nothing_twice(
        tmp_path, postgres_url):
    venv = _target_venv()
    name = f"board-{os.getpid()}"
    log = tmp_path / "board.log"
    board = _start_board(venv, postgres_url, name, log)
    try:
        _wait_alive(postgres_url, name)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "advisor", "advise", "--model", "builtin:digits-cnn", "--tier", "mid",
               "--out", str(out), "--storage", postgres_url, "--study", f"t{os.getpid()}", "--measure-on", name,
               "--trials", "3", "--strategies", "FIQ,F16,BLQ", "--target-wait", "8"]
        ws = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        queue = optuna.load_study(study_name=queue_name(name), storage=postgres_url)
        deadline = time.time() + 300
        while len(queue.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:  # the original, a candidate
            assert time.time() < deadline and ws.poll() is None, (ws.poll(), log.read_text()[-2000:])
            time.sleep(0.3)
        os.killpg(board.pid, signal.SIGKILL)  # the board goes away mid-study
        _, err = ws.communicate(timeout=300)
        assert ws.returncode == 4, err
        assert "silent" in err and "restart" in err
        board = _start_board(venv, postgres_url, name, log)  # restarted: it picks up where it stopped
        _wait_alive(postgres_url, name)
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert r.returncode in (0, 1, 3), r.stderr[-3000:]
    finally:
        os.killpg(board.pid, signal.SIGKILL)
    doc = json.loads((out / "advice.json").read_text())
    assert doc["trials"]["count"] == 3
    for side in ("baseline", "compressed"):
        where = doc[side]["latency"]["where"]
        assert where["device"] == name and name in doc[side]["latency_source"]
    done = [t for t in queue.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    keys = [t.user_attrs["request_key"] for t in done]
    assert len(keys) == len(set(keys)), "a measurement was made twice"
    assert not queue.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))  # none lost
    shipped = out / doc["model"]["file"]
    assert doc["shipped"]["sha256"] == sha256_of(shipped)
