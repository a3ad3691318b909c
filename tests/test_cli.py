"""The command line: one-line errors with exit 2 and nothing written; real runs on real models."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from advisor.cli import build_parser, main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code, err, out_dir: Path, needle: str):
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_missing_model_file(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["compress", "--model", str(tmp_path / "nope.onnx"), "--data", "builtin:digits",
                        "--strategy", "FIQ", "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "model not found")


def test_truncated_onnx(tmp_path, capsys, tiny_onnx, tiny_npz):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(tiny_onnx.read_bytes()[:200])
    out = tmp_path / "out"
    code, _, err = run(["advise", "--model", str(bad), "--data", str(tiny_npz), "--tier", "mid", "--out", str(out)],
                       capsys)
    assert_clean_error(code, err, out, "not a valid ONNX file")


def test_npz_missing_input(tmp_path, capsys, two_input_onnx):
    np.savez(tmp_path / "d.npz", image=np.zeros((5, 3), np.float32))
    out = tmp_path / "out"
    code, _, err = run(["advise", "--model", str(two_input_onnx), "--data", str(tmp_path / "d.npz"), "--tier", "mid",
                        "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "no array for model input 'meta'")


def test_wrong_input_shape(tmp_path, capsys, tiny_onnx):
    np.savez(tmp_path / "d.npz", input=np.zeros((5, 1, 8, 8), np.float32))
    out = tmp_path / "out"
    code, _, err = run(["advise", "--model", str(tiny_onnx), "--data", str(tmp_path / "d.npz"), "--tier", "mid",
                        "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "model expects [N, 1, 16, 16]")


def test_empty_data_set(tmp_path, capsys, tiny_onnx):
    np.savez(tmp_path / "d.npz", input=np.zeros((0, 1, 16, 16), np.float32))
    out = tmp_path / "out"
    code, _, err = run(["advise", "--model", str(tiny_onnx), "--data", str(tmp_path / "d.npz"), "--tier", "mid",
                        "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "empty")


def test_negative_budget(tmp_path, capsys, tiny_onnx, tiny_npz):
    out = tmp_path / "out"
    code, _, err = run(["advise", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--max-latency", "-3",
                        "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "--max-latency must be > 0, got -3")


def test_bad_technique_parameter_names_it(tmp_path, capsys, tiny_onnx, tiny_npz):
    out = tmp_path / "out"
    code, _, err = run(["compress", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--strategy", "FIQ",
                        "--param", "calibration_size=-5", "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "'calibration_size' parameter of FIQ")


def test_usage_error_is_one_line(capsys):
    code, _, err = run(["advise", "--model"], capsys)
    assert code == 2 and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_compress_json_record(tmp_path, capsys, tiny_onnx, tiny_npz):
    out = tmp_path / "out"
    empty = tmp_path / "no-profiles"  # no saved profile of this device: timing falls back to 1 thread
    code, stdout, _ = run(["compress", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--strategy", "F16",
                           "--out", str(out), "--json", "--profiles-dir", str(empty)], capsys)
    assert code == 0
    rec = json.loads(stdout)
    for k in ("accuracy", "size_bytes", "size_compressed_bytes", "latency_ms_p50", "latency_ms_p90",
              "peak_memory_bytes", "compress_seconds"):
        assert k in rec
    assert rec["latency_ms_p50"] <= rec["latency_ms_p90"]
    assert rec["latency"]["threads"] == 1
    assert (out / "model.onnx").is_file()
    assert tiny_onnx.read_bytes() == tiny_onnx.read_bytes()  # the input is untouched (never opened for writing)


@pytest.mark.slow
def test_compress_times_with_saved_profile_of_this_device(tmp_path, capsys, tiny_onnx, tiny_npz, quick_profile):
    from advisor.profiling import ProfileStore

    profiles_dir, name = quick_profile
    suggested = ProfileStore(profiles_dir).load(name).measure_settings()
    base = ["compress", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--strategy", "F16", "--json",
            "--profiles-dir", str(profiles_dir)]
    code, stdout, _ = run(base + ["--out", str(tmp_path / "a")], capsys)
    assert code == 0
    lat = json.loads(stdout)["latency"]
    assert (lat["threads"], lat["spinning"]) == (suggested.threads, suggested.spinning)
    code, stdout, _ = run(base + ["--out", str(tmp_path / "b"), "--threads", "2"], capsys)
    assert code == 0 and json.loads(stdout)["latency"]["threads"] == 2  # --threads overrides the profile


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("advisor")
    r = subprocess.run([str(exe), "techniques", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = {t["name"] for t in json.loads(r.stdout)["techniques"]}
    assert {"BLQ", "FIQ", "F16"} <= names


@pytest.mark.parametrize("cmd", ["compress", "advise", "demo", "techniques"])
def test_every_command_has_an_example(cmd, capsys):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    assert "example:" in capsys.readouterr().out


def test_compress_json_says_where_latency_comes_from(tmp_path, capsys, tiny_onnx, tiny_npz):
    """The record's speed-up is against the original timed in the same run; its baseline is the
    earlier one-off timing, labelled so."""
    code, stdout, _ = run(["compress", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--strategy", "F16",
                           "--out", str(tmp_path / "o"), "--json", "--profiles-dir", str(tmp_path / "np")], capsys)
    assert code == 0
    rec = json.loads(stdout)
    assert rec["latency"]["source"] == "same-run" and rec["latency"]["spread"] is not None
    assert rec["baseline"]["latency"]["source"] == "earlier-run"
    assert rec["baseline_latency"]["source"] == "same-run"
    assert rec["speedup_p50"] == pytest.approx(rec["baseline_latency"]["p50_ms"] / rec["latency"]["p50_ms"], rel=1e-3)
    assert "same run" in rec["speedup_against"]


def test_threads_minus_one_is_one_error_line(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["compress", "--model", "builtin:digits-cnn", "--strategy", "FIQ", "--out", str(out),
                        "--threads", "-1"], capsys)
    assert err.strip() == "error: --threads must be >= 1 (or 0 for all cores), got -1"
    assert_clean_error(code, err, out, "--threads")


def test_threads_beyond_the_cores_of_this_device_are_refused_at_once(tmp_path, capsys):
    """``--threads 100000`` used to hang at loading: it is refused before anything loads, naming the limit."""
    import psutil

    cores = psutil.cpu_count(logical=True)
    out = tmp_path / "out"
    t0 = time.monotonic()
    code, _, err = run(["advise", "--model", "builtin:digits-cnn", "--tier", "mid", "--out", str(out),
                        "--threads", "100000"], capsys)
    assert err.strip() == (f"error: --threads must be at most {cores} (this device has {cores} logical cores; "
                           "0 = all of them), got 100000")
    assert_clean_error(code, err, out, "--threads")
    assert time.monotonic() - t0 < 30  # refused at parse time, not after loading


# -- every option of every command, with a value it must refuse ------------------------------------

# The smallest command line each (sub)command accepts, before the option under test is added.
BASE_ARGS = {
    ("compress",): ["--model", "builtin:digits-cnn", "--strategy", "FIQ", "--out", "{out}"],
    ("advise",): ["--model", "builtin:digits-cnn", "--tier", "mid", "--out", "{out}"],
    ("demo",): ["--out", "{out}"],
    ("rank",): ["--model", "builtin:digits-cnn", "--tier", "mid"],
    ("worker",): ["--storage", "sqlite:///{tmp}/s.db", "--study", "s", "--out", "{out}"],
    ("profile",): ["--profiles-dir", "{tmp}/profiles"],
    ("profiles", "list"): [],
    ("profiles", "show"): ["{tmp}/p.yaml"],
    ("profiles", "compare"): ["{tmp}/p.yaml", "{tmp}/p.yaml"],
    ("predict",): ["--model", "{onnx}", "--profile", "{tmp}/p.yaml"],
    ("techniques",): [],
    ("kb", "show"): [],
    ("kb", "export"): [],
    ("kb", "clear"): ["--yes"],
    ("tui",): ["--out", "{out}"],
}
# A malformed or out-of-range value per option (by its destination name); positionals too.
BAD = {
    "model": "{tmp}/missing.onnx", "weights": "{tmp}/missing.pt", "input_shape": "1xAx3", "data": "{tmp}/missing.npz",
    "threads": "-1", "profile": "ghost", "profiles_dir": "{tmp}/afile", "kb": "{tmp}", "strategy": "ZIP",
    "param": "novalue", "out": "{tmp}/afile/sub", "json": None, "tier": "ultra", "max_accuracy_drop": "150",
    "max_size": "0", "max_latency": "-1", "max_compress_time": "nan", "objective": "speed",
    "budget": "{tmp}/missing.yaml", "effort": "extreme", "trials": "0", "time_budget": "-5", "storage": "bogus",
    "study": "../x", "strategies": "ZIP", "name": "../x", "quick": None, "quick_profile": None,
    "a": "ghost", "b": "ghost", "train_data": "{tmp}/missing.npz", "metric": "f1", "confidence": "1.5",
    "artifacts": "{tmp}/afile/sub", "keep_all": None, "measure_on": "../x", "target_wait": "-1",
    "measure_only": None, "device": "../x", "seed": None, "yes": None,
}


def _options(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif path and not isinstance(action, argparse._HelpAction):
            yield path, action


def _argv(path, action, fill):
    base = [fill(x) for x in BASE_ARGS[path]]
    bad = fill(BAD[action.dest])
    if not action.option_strings:  # a positional: replace its slot in the base command line
        pos = [a for a in _parser_of(path)._actions if not a.option_strings and not isinstance(a, argparse._HelpAction)]
        k = pos.index(next(a for a in pos if a.dest == action.dest))
        base[k] = bad
        return [*path, *base]
    opt = action.option_strings[-1]
    if opt in base:  # replace the base value
        i = base.index(opt)
        base = base[:i] + base[i + 2:]
    return [*path, *base, opt, bad]


def _parser_of(path):
    p = build_parser()
    for name in path:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = sub.choices[name]
    return p


def test_every_option_of_every_command_is_covered():
    missing = sorted({a.dest for _, a in _options(build_parser())} - set(BAD))
    assert not missing, f"give these options a bad value in BAD: {missing}"
    assert {p for p, _ in _options(build_parser())} <= set(BASE_ARGS)


CASES = [(p, a.dest) for p, a in _options(build_parser()) if BAD.get(a.dest) is not None]


@pytest.mark.parametrize(("path", "dest"), CASES, ids=[f"{' '.join(p)} {d}" for p, d in CASES])
def test_every_option_refuses_a_bad_value_in_one_line(path, dest, tmp_path, capsys, monkeypatch, tiny_onnx):
    """Each option with an out-of-range or malformed value: exit 2, one ``error:`` line naming the
    option (or the bad value), no traceback, nothing written (the run starts in an empty folder)."""
    from advisor.profiling import save_profile
    from tests.profiling.synthetic import make_profile

    work = tmp_path / "w"
    work.mkdir()
    (work / "afile").write_text("x")
    save_profile(make_profile("p"), work)
    monkeypatch.chdir(work)
    action = next(a for p, a in _options(build_parser()) if p == path and a.dest == dest)
    fill = lambda s: s.format(tmp=work, out=work / "out", onnx=tiny_onnx)  # noqa: E731
    argv = _argv(path, action, fill)
    before = sorted(work.rglob("*"))
    code, out, err = run(argv, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (argv, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    named = [*action.option_strings, Path(fill(BAD[dest])).name, action.dest]
    assert any(n in lines[0] for n in named), lines[0]
    assert sorted(work.rglob("*")) == before, "nothing may be written"


@pytest.mark.slow
def test_real_advise_run_passes_the_advice_checker(tmp_path, capsys, tiny_onnx, tiny_npz, quick_profile):
    from tests.test_advise import check_advice

    profiles_dir, name = quick_profile
    out = tmp_path / "out"
    code, stdout, _ = run(["advise", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--max-accuracy-drop", "50",
                           "--trials", "1", "--strategies", "F16", "--profiles-dir", str(profiles_dir),
                           "--profile", name, "--out", str(out)], capsys)
    assert code in (0, 1)
    check_advice(out)
    flat = " ".join(stdout.split())
    assert "latency measured here" in flat and "speed-up" in flat
    doc = json.loads((out / "advice.json").read_text())
    assert doc["latency_source"].startswith("measured here")


@pytest.mark.parametrize(("kwargs", "field"), [({"threads": -1}, "threads"), ({"threads": 0}, "threads"),
                                               ({"all_threads": 0}, "all_threads"), ({"seconds": 0}, "seconds"),
                                               ({"seconds": float("nan")}, "seconds")])
def test_measure_settings_raise_the_projects_error_naming_the_field(kwargs, field):
    from advisor.errors import InputError
    from advisor.measure import MeasureSettings

    with pytest.raises(InputError, match=f"'{field}'"):
        MeasureSettings(**kwargs)
