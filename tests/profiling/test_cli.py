"""``advisor profile``, ``advisor profiles ...`` and ``advisor predict``: exit codes and output."""

from __future__ import annotations

import json

import onnx
import pytest
import yaml

from advisor.cli import main
from advisor.profiling._graphs import conv_chain


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_profile_measures_saves_and_prints(capsys, tmp_path):
    d = tmp_path / "profiles"
    code, out, err = run(capsys, "profile", "--name", "cli-box", "--profiles-dir", str(d), "--quick", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["name"] == "cli-box" and doc["path"] == str(d / "cli-box.yaml")
    assert yaml.safe_load((d / "cli-box.yaml").read_text())["schema_version"] == 3
    code, out, _ = run(capsys, "profiles", "show", "cli-box", "--profiles-dir", str(d))
    assert code == 0 and "cli-box" in out and "FP32 conv" in out


def test_profile_default_name_is_the_host_name(capsys, tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "my host/../x")
    code, out, err = run(capsys, "profile", "--profiles-dir", str(tmp_path), "--quick", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == "my-host-.-x"
    assert (tmp_path / "my-host-.-x.yaml").is_file()


def test_profile_refuses_a_path_as_name(capsys, tmp_path):
    code, _, err = run(capsys, "profile", "--name", "../evil", "--profiles-dir", str(tmp_path), "--quick")
    assert code == 2 and err.startswith("error: profile name '../evil'")
    assert list(tmp_path.iterdir()) == []


def test_list_show_compare(capsys, profiles_dir):
    code, out, _ = run(capsys, "profiles", "list", "--profiles-dir", str(profiles_dir))
    assert code == 0 and "synthetic" in out and "fast-box" in out
    code, out, _ = run(capsys, "profiles", "list", "--profiles-dir", str(profiles_dir), "--json")
    names = {p["name"] for p in json.loads(out)["profiles"]}
    assert names == {"synthetic", "fast-box"}
    code, out, _ = run(capsys, "profiles", "show", "synthetic", "--profiles-dir", str(profiles_dir), "--json")
    assert code == 0 and json.loads(out)["derived"]["int8_speedup"] > 0
    code, out, _ = run(capsys, "profiles", "compare", "synthetic", "fast-box", "--profiles-dir", str(profiles_dir),
                       "--json")
    rows = {r["figure"]: r for r in json.loads(out)["figures"]}
    assert rows["conv.fp32_gflops_1t"]["ratio_b_over_a"] == pytest.approx(2.0, rel=0.2)
    code, out, _ = run(capsys, "profiles", "compare", "synthetic", "fast-box", "--profiles-dir", str(profiles_dir))
    assert code == 0 and "B/A" in out


def test_show_by_path_and_errors(capsys, profiles_dir, tmp_path):
    code, out, _ = run(capsys, "profiles", "show", str(profiles_dir / "synthetic.yaml"), "--json")
    assert code == 0 and json.loads(out)["name"] == "synthetic"
    code, _, err = run(capsys, "profiles", "show", "nope", "--profiles-dir", str(profiles_dir))
    assert code == 2 and "no profile named 'nope'" in err
    bad = tmp_path / "bad.yaml"
    doc = yaml.safe_load((profiles_dir / "synthetic.yaml").read_text())
    doc["figures"]["gemm"]["fp32_gflops_1t"] = "fast"
    bad.write_text(yaml.safe_dump(doc))
    code, _, err = run(capsys, "profiles", "show", str(bad))
    assert code == 2
    assert "profile field 'figures.gemm.fp32_gflops_1t' must be a positive number" in err
    assert err.count("\n") == 1


def test_predict(capsys, profiles_dir, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save(conv_chain(16, 16, 3).model, str(model))
    code, out, err = run(capsys, "predict", "--model", str(model), "--profile", "synthetic", "--profiles-dir",
                         str(profiles_dir), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["p50_ms"] > doc["roofline_floor_ms"] > 0 and doc["threads"] >= 1
    lo, hi = doc["interval_ms"]
    assert lo < doc["p50_ms"] < hi
    code, out, _ = run(capsys, "predict", "--model", str(model), "--profile", str(profiles_dir / "fast-box.yaml"),
                       "--threads", "1")
    assert code == 0 and "predicted p50" in out and "roofline floor" in out and "95% interval" in out
    code, _, err = run(capsys, "predict", "--model", str(tmp_path / "none.onnx"), "--profile", "synthetic",
                       "--profiles-dir", str(profiles_dir))
    assert code == 2 and err.startswith("error: model not found")
    code, _, err = run(capsys, "predict", "--model", str(model), "--profile", "synthetic", "--threads", "0",
                       "--profiles-dir", str(profiles_dir))
    assert code == 2 and "--threads" in err


@pytest.mark.parametrize("argv", [["profile"], ["profiles"], ["profiles", "list"], ["profiles", "show"],
                                  ["profiles", "compare"], ["predict"]])
def test_every_command_has_an_example(argv, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    assert "example:" in capsys.readouterr().out


def test_profile_command_starts_without_the_heavy_stack():
    """`advisor profile` must take <= 10 s start-up included: it loads neither torch, scipy,
    scikit-learn nor Optuna (~4 s of imports on the build VM), nor onnx (~1 s: its graphs are
    written as protobuf bytes)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom advisor.cli import main\ntry:\n    main(['profile', '--help'])\nexcept SystemExit:\n"
            "    pass\nimport advisor.profiling._profiler\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'scipy', 'sklearn', 'optuna', 'onnx', "
            "'sympy', 'textual'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_deadline_counts_the_start_up(monkeypatch):
    """`advisor profile` ends its profile COMMAND_SECONDS after its process started, so a slow
    start-up leaves the profile less time; a long-running process gets the profile's default."""
    import time

    import psutil

    from advisor.cli import _profile as cli_profile
    from advisor.profiling._profiler import DEFAULT_DEADLINE, QUICK_DEADLINE

    now = time.time()
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: now - 3.0)
    left = cli_profile._deadline(False) - time.perf_counter()
    assert cli_profile.COMMAND_SECONDS - 3.0 - 0.5 < left <= min(DEFAULT_DEADLINE, cli_profile.COMMAND_SECONDS - 3.0)
    assert cli_profile._deadline(True) - time.perf_counter() <= QUICK_DEADLINE
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: now - 3600.0)
    assert cli_profile._deadline(False) - time.perf_counter() == pytest.approx(DEFAULT_DEADLINE, abs=0.5)
