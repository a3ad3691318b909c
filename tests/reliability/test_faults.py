"""Faults: failing techniques, kill -9, Ctrl-C, a full disk, many workers. Real processes and
signals, bounded in time; nothing is mocked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from optuna.trial import TrialState

from advisor.budget import Budget
from advisor.jobs import spec_of
from advisor.problem import open_problem
from advisor.search import FINISHED, SearchSettings, open_study, search
from advisor.techniques import Technique, TechniqueConfig, param
from advisor.techniques._registry import _REGISTRY, register
from tests.conftest import FAST

ADVISOR = [sys.executable, "-m", "advisor"]


def advise_cmd(tiny_onnx, tiny_npz, quick_profile, out, *extra):
    d, name = quick_profile
    return [*ADVISOR, "advise", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--tier", "mid",
            "--profile", name, "--profiles-dir", str(d), "--strategies", "FIQ,F16,BLQ", "--out", str(out),
            "--study", "s", *extra]


def wait_for_trials(db: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if db.exists():
            try:
                study = open_study(f"sqlite:///{db}", "s", create=False)
                if len(study.get_trials(states=(TrialState.COMPLETE,))) >= n:
                    return
            except Exception:  # noqa: BLE001 - the study may not exist yet
                pass
        time.sleep(0.3)
    raise AssertionError(f"fewer than {n} trials finished in {timeout} s")


@pytest.mark.slow
def test_kill_9_mid_search_then_resume_loses_at_most_the_inflight_trial(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    out = tmp_path / "out"
    cmd = advise_cmd(tiny_onnx, tiny_npz, quick_profile, out, "--trials", "7")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_trials(out / "study.db", 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    study = open_study(f"sqlite:///{out / 'study.db'}", "s", create=False)
    kept = {t.number: t.params for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert len(kept) >= 2
    assert not (out / "advice.json").exists()  # advice comes only at the end, atomically
    assert not list(out.rglob("*.tmp"))  # no half-written files
    for f in (out / "trials").rglob("*.onnx"):
        onnx.checker.check_model(onnx.load(str(f)))  # every kept model file is whole
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    study = open_study(f"sqlite:///{out / 'study.db'}", "s", create=False)
    after = {t.number: t.params for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert all(after.get(n) == p for n, p in kept.items())  # finished trials survived, unchanged
    lost = [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.FAIL)]
    assert len(lost) <= 1  # at most the in-flight trial
    assert len(study.get_trials(states=FINISHED)) >= 7
    doc = json.loads((out / "advice.json").read_text())
    assert doc["trials"]["count"] >= 7


@pytest.mark.slow
def test_ctrl_c_exits_130_and_prints_the_resume_command(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    out = tmp_path / "out"
    proc = subprocess.Popen(advise_cmd(tiny_onnx, tiny_npz, quick_profile, out, "--trials", "50"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:  # progress lines: interrupt right after the first finished trial
        seen.append(line)
        if "1/50 trials finished" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Resume with:" in err and "--study s" in err
    study = open_study(f"sqlite:///{out / 'study.db'}", "s", create=False)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) >= 1


def test_full_disk_is_a_clean_error_and_writes_nothing(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    """A file-size limit makes every write beyond 1 KB fail as on a full disk (EFBIG)."""
    out = tmp_path / "out"

    def limit():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    r = subprocess.run(advise_cmd(tiny_onnx, tiny_npz, quick_profile, out, "--trials", "2"),
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "not writable" in errors[0] and "Traceback" not in r.stderr
    assert not any(p.is_file() and p.stat().st_size > 0 for p in out.rglob("*")) if out.exists() else True


def test_unwritable_output_folder(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    r = subprocess.run(advise_cmd(tiny_onnx, tiny_npz, quick_profile, Path("/proc/advisor-out")),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error: output folder /proc/advisor-out is not writable" in r.stderr


def test_refuses_to_overwrite_the_input_model(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_onnx.read_bytes())
    before = model.read_bytes()
    r = subprocess.run(advise_cmd(model, tiny_npz, quick_profile, tmp_path), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "would overwrite your input" in r.stderr
    assert model.read_bytes() == before


@pytest.mark.slow
def test_four_workers_on_one_journal_study_lose_and_duplicate_nothing(tmp_path, tiny_onnx, tiny_npz):
    storage = f"journal://{tmp_path / 'study.log'}"
    with open_problem(str(tiny_onnx), str(tiny_npz), settings=FAST) as p:
        budget = Budget(max_accuracy_drop=50)
        search(p, budget, tmp_path, spec=spec_of(p, budget), strategies=["FIQ", "F16", "BLQ"], enqueue=[],
               settings=SearchSettings(trials=1, study="s4", storage=storage))
    procs = [subprocess.Popen([*ADVISOR, "worker", "--storage", storage, "--study", "s4", "--trials", "16",
                               "--out", str(tmp_path / f"w{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    for pr in procs:
        _, err = pr.communicate(timeout=300)
        assert pr.returncode == 0, err
    study = open_study(storage, "s4", create=False)
    # a trial pruned as a duplicate of an earlier trial's candidate measured nothing (search/dedupe.py)
    finished = [t for t in study.get_trials(states=FINISHED) if "duplicate_of" not in t.user_attrs]
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    assert 16 <= len(finished) <= 16 + 4  # each worker may start one last trial as the target is reached
    assert all(t.state == TrialState.COMPLETE for t in finished)
    keys = [t.user_attrs["candidate"] for t in finished]
    assert len(keys) == len(set(keys))  # and no candidate was measured twice
    assert len({t.user_attrs["pid"] for t in finished if "pid" in t.user_attrs}) >= 3


# -- techniques that fail on purpose: the search records the trial as failed and goes on ----------

@dataclass(frozen=True)
class _NoConfig(TechniqueConfig):
    level: int = param(1, valid=(0, 9), choices=(1,))


class _Raises(Technique):
    name, title, source, Config = "XRAISE", "raises", "test", _NoConfig

    def apply(self, model, data, config, ctx):
        raise RuntimeError("boom inside the technique")


class _NaN(Technique):
    name, title, source, Config = "XNAN", "produces NaN weights", "test", _NoConfig

    def apply(self, model, data, config, ctx):
        m = onnx.load(str(model.onnx_path))
        for t in m.graph.initializer:
            arr = numpy_helper.to_array(t)
            if arr.dtype == np.float32 and arr.size > 1:
                t.CopyFrom(numpy_helper.from_array(np.full_like(arr, np.nan), t.name))
        p = ctx.workdir / "nan.onnx"
        onnx.save(m, str(p))
        return model.derive(p, None)


class _OOM(Technique):
    name, title, source, Config = "XOOM", "exceeds memory", "test", _NoConfig

    def apply(self, model, data, config, ctx):
        raise MemoryError


@pytest.fixture
def faulty_techniques():
    for cls in (_Raises, _NaN, _OOM):
        register(cls)
    yield
    for name in ("XRAISE", "XNAN", "XOOM"):
        _REGISTRY.pop(name, None)


def test_failing_techniques_are_recorded_and_the_search_goes_on(faulty_techniques, tmp_path, tiny_onnx, tiny_npz):
    with open_problem(str(tiny_onnx), str(tiny_npz), settings=FAST) as p:
        budget = Budget(max_accuracy_drop=50)
        names = ["XRAISE", "XNAN", "XOOM", "F16"]
        outcome = search(p, budget, tmp_path, spec=spec_of(p, budget), strategies=names,
                         enqueue=[(n, {}) for n in names], settings=SearchSettings(trials=4, study="f", patience=99))
    by = {e.strategy: e for e in outcome.evaluations}
    assert "boom inside the technique" in by["XRAISE"].error
    assert "NaN" in by["XNAN"].error
    assert "out of memory" in by["XOOM"].error
    assert by["F16"].ok  # the search went on
