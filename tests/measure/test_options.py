"""``--metric`` and ``--train-data`` on the command line: bad input is one error line, exit 2,
nothing written; a good choice reaches the measurement."""

from __future__ import annotations

import json

import numpy as np

from advisor.cli import main
from tests.measure.tinymodels import dense_onnx


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(code, err, out_dir, *needles):
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out_dir.exists()


def _data(tmp_path, name="d.npz", n=30, width=8):
    np.savez(tmp_path / name, x=np.random.default_rng(0).standard_normal((n, width)).astype(np.float32))
    return str(tmp_path / name)


def test_metric_accuracy_without_labels_is_one_error_line(tmp_path, capsys):
    model = dense_onnx(tmp_path / "m.onnx", "output", 6)
    out = tmp_path / "out"
    for cmd in (["compress", "--strategy", "BLQ"], ["advise", "--tier", "mid"]):
        code, _, err = _run([*cmd, "--model", str(model), "--data", _data(tmp_path), "--metric", "accuracy",
                             "--out", str(out)], capsys)
        _one_error(code, err, out, "--metric accuracy needs labels", "agreement, cosine, rel-l2")


def test_metric_that_does_not_fit_the_outputs_names_the_choices(tmp_path, capsys):
    model = dense_onnx(tmp_path / "m.onnx", "prob", 1, head="sigmoid")
    out = tmp_path / "out"
    code, _, err = _run(["compress", "--strategy", "BLQ", "--model", str(model), "--data", _data(tmp_path),
                         "--metric", "cosine", "--out", str(out)], capsys)
    _one_error(code, err, out, "--metric cosine does not fit output 'prob'", "choices that fit these outputs: rel-l2")
    code, _, err = _run(["compress", "--strategy", "BLQ", "--model", str(model), "--data", _data(tmp_path),
                         "--metric", "bogus", "--out", str(out)], capsys)
    _one_error(code, err, out, "--metric", "agreement")


def test_train_data_that_does_not_match_the_model_is_one_error_line(tmp_path, capsys):
    model = dense_onnx(tmp_path / "m.onnx", "output", 6)
    out = tmp_path / "out"
    code, _, err = _run(["compress", "--strategy", "BLQ", "--model", str(model), "--data", _data(tmp_path),
                         "--train-data", _data(tmp_path, "t.npz", width=5), "--out", str(out)], capsys)
    _one_error(code, err, out, "--train-data", "model expects [N, 8]")


def test_metric_override_reaches_the_measurement(tmp_path, capsys):
    model = dense_onnx(tmp_path / "m.onnx", "output", 6)
    code, out, _ = _run(["compress", "--strategy", "BLQ", "--model", str(model), "--data", _data(tmp_path),
                         "--metric", "cosine", "--out", str(tmp_path / "out"), "--json"], capsys)
    assert code == 0
    rec = json.loads(out)
    assert rec["reported"]["metric"] == "cosine" and rec["selection"]["split"] == "validation"
    assert rec["extra"]["quality_detail"]["output"]["rule"] == "--metric"
