"""The command line: one-line errors with exit 2 and nothing written; real runs on real models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advisor.cli import main


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
    code, _, err = run(["advise", "--model", str(bad), "--data", str(tiny_npz), "--tier", "mid", "--out", str(out)], capsys)
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
    assert_clean_error(code, err, out, "max_latency_ms")


def test_bad_technique_parameter_names_it(tmp_path, capsys, tiny_onnx, tiny_npz):
    out = tmp_path / "out"
    code, _, err = run(["compress", "--model", str(tiny_onnx), "--data", str(tiny_npz), "--strategy", "FIQ",
                        "--param", "calibration_size=-5", "--out", str(out)], capsys)
    assert_clean_error(code, err, out, "'calibration_size' parameter of FIQ")


def test_usage_error_is_one_line(capsys):
    code, _, err = run(["advise", "--model"], capsys)
    assert code == 2 and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


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
