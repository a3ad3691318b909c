"""Training-based techniques on models of every shape (issue 12): a KD student derived from the
teacher keeps its block structure; embedding, two-output and two-input models train; compression
time is a budget; QAT exports the ranges it learned; a named student must match the teacher."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import onnx
import optuna
import pytest
import torch
from onnx import numpy_helper

from advisor.budget import Budget
from advisor.cli import main
from advisor.compress import compress, predict_seconds
from advisor.data import Dataset, split
from advisor.errors import OverTime
from advisor.measure.quality import run_outputs
from advisor.models import Model, export_onnx, onnx_specs
from advisor.progress import RunContext
from advisor.search._objective import Objective
from advisor.strategies import Strategy
from advisor.techniques import get_technique
from advisor.training import DENSE, LOGITS, fit, output_kinds
from advisor.types import TensorSpec
from tests.techniques import nets

IMAGE = TensorSpec("input", (None, *nets.SHAPE), "float32")


def make_model(tmp_path, module, inputs=(IMAGE,), outputs=("out",)) -> Model:
    module.eval()
    path = export_onnx(module, inputs, outputs, tmp_path / "teacher.onnx")
    ins, outs = onnx_specs(path)
    return Model(f"test:{type(module).__name__}", path, ins, outs, module)


def make_data(n=48, labels=True, state=False):
    rng = np.random.default_rng(0)
    arrays = {"input": rng.random((n, *nets.SHAPE), dtype=np.float32)}
    if state:
        arrays["h"] = rng.standard_normal((n, 16)).astype(np.float32)
    y = rng.integers(0, nets.CLASSES, n) if labels else None
    return split("test", Dataset(arrays, y), num_classes=nets.CLASSES if labels else None)


def graph(path):
    g = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    convs = [(n, inits[n.input[1]]) for n in g.node if n.op_type == "Conv"]
    groups = [next((a.i for a in n.attribute if a.name == "group"), 1) for n, _ in convs]
    return {
        "ops": Counter(n.op_type for n in g.node if n.op_type != "Identity"),  # export artefacts
        "depthwise": [w.shape[0] for (_, w), gr in zip(convs, groups, strict=True) if gr > 1 and gr == w.shape[0]],
        "channels": [w.shape[0] for _, w in convs],
    }


# --- KD: the student is the teacher made smaller -----------------------------------------------

@pytest.mark.parametrize("depth", [pytest.param(1.0, marks=pytest.mark.slow), 0.5])
def test_kd_student_keeps_the_teachers_block_structure(tmp_path, depth):
    model = make_model(tmp_path, nets.res_dw())
    r = compress(model, make_data(), Strategy.parse("KD"), {"width": 0.5, "depth": depth, "epochs": 0.5},
                 workdir=tmp_path / "kd")
    t, s = graph(model.onnx_path), graph(r.model.onnx_path)
    dropped = r.notes["KD.blocks_dropped"]
    assert set(s["ops"]) == set(t["ops"])  # same op types: residual Adds, Clip (ReLU6), Conv, Gemm
    assert s["ops"]["Add"] == t["ops"]["Add"] - dropped  # every kept residual block keeps its add
    assert len(s["depthwise"]) == len(t["depthwise"]) - dropped  # and its depthwise convolution
    assert max(s["channels"]) < max(t["channels"]) and max(s["depthwise"]) < max(t["depthwise"])
    if depth == 1.0:
        assert dropped == 0
    else:
        assert 0 < dropped < t["ops"]["Add"]  # repeated residual blocks dropped, not all
    assert r.notes["KD.student_params"] < sum(p.numel() for p in model.module.parameters())


@pytest.mark.slow
def test_kd_student_starts_from_the_teachers_weights(tmp_path):
    """Before any training, a student at full width and depth 0.75 still mostly agrees with the
    teacher (a randomly initialised student would agree ~1/4 of the time)."""
    teacher = nets.res_dw()
    model = make_model(tmp_path, teacher)
    data = make_data(n=120)
    with torch.no_grad():  # a trained-looking teacher: strong residual branches are not needed
        for m in teacher.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.mul_(0.3)
    model = make_model(tmp_path, teacher)
    r = compress(model, data, Strategy.parse("KD"), {"width": 1.0, "depth": 0.75, "epochs": 0.05},
                 workdir=tmp_path / "kd", train_scale=0.0)
    a = run_outputs(model.onnx_path, data.test)[0].argmax(1)
    b = run_outputs(r.model.onnx_path, data.test)[0].argmax(1)
    assert np.mean(a == b) >= 0.6


def test_kd_on_an_onnx_only_teacher_says_why(tmp_path):
    model = make_model(tmp_path, nets.res_dw())
    onnx_only = model.derive(model.onnx_path, None)
    reason = get_technique("KD").why_not(onnx_only, make_data())
    assert "PyTorch" in reason and "KD.student" in reason and "CA" in reason


def test_kd_named_student_distils_an_onnx_only_teacher(tmp_path):
    model = make_model(tmp_path, nets.res_dw())
    onnx_only = model.derive(model.onnx_path, None)
    r = compress(onnx_only, make_data(), Strategy.parse("KD"),
                 {"student": "tests.techniques.nets:small_student", "epochs": 1.0}, workdir=tmp_path / "kd")
    assert r.notes["KD.student"] == "tests.techniques.nets:small_student" and r.model.has_torch


def test_kd_named_student_with_other_outputs_is_one_error_line(tiny_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compress", "--model", "tests.techniques.nets:tiny_res_cnn", "--weights",
                 str(tiny_files["weights"]), "--data", str(tiny_files["data"]), "--strategy", "KD",
                 "--param", "KD.student=tests.techniques.nets:wrong_student", "--out", str(out)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "KD.student" in lines[0] and "Traceback" not in err, err
    assert not out.exists()


# --- any output, any number of inputs ----------------------------------------------------------

def test_output_kinds():
    class Spec:
        def __init__(self, shape, dtype="float32"):
            self.shape, self.dtype = shape, dtype

    assert output_kinds([Spec((None, 4))], classifier=True) == [LOGITS]
    assert output_kinds([Spec((None, 4)), Spec((None, 8))], classifier=False, num_classes=4) == [LOGITS, DENSE]
    assert output_kinds([Spec((None, 4, 8))], classifier=False) == [DENSE]
    assert output_kinds([Spec((None,), "int64"), Spec((None, 2))], classifier=False) == ["skip", DENSE]


SHAPED = {
    "embedding": (nets.EmbedNet, ("emb",), False),
    "two-outputs": (nets.TwoOutNet, ("logits", "emb"), True),
}


@pytest.mark.parametrize("kind", sorted(SHAPED))
@pytest.mark.parametrize("name", ["PRN", "SPR", "QAT", "LR", "KD"])
def test_shaped_models_train(tmp_path, kind, name):
    cls, outs, labelled = SHAPED[kind]
    model = make_model(tmp_path, cls(), outputs=outs)
    data = make_data(labels=labelled)
    assert get_technique(name).why_not(model, data) is None
    params = {"epochs": 1.0}
    params.update({"LR": {"rank_ratio": 0.25}, "QAT": {"calibration_size": 8}}.get(name, {}))
    r = compress(model, data, Strategy.parse(name), params, workdir=tmp_path / name)
    got = run_outputs(r.model.onnx_path, data.test)
    want = run_outputs(model.onnx_path, data.test)
    assert [g.shape for g in got] == [w.shape for w in want]
    assert all(np.all(np.isfinite(g)) for g in got)
    assert r.notes.get(f"{name}.train_steps", 0) > 0


@pytest.mark.parametrize("name", ["SPR", "KD"])
def test_two_input_model(tmp_path, name):
    inputs = (IMAGE, TensorSpec("h", (None, 16), "float32"))
    model = make_model(tmp_path, nets.TwoInNet(), inputs=inputs, outputs=("score", "h_next"))
    data = make_data(labels=False, state=True)
    assert get_technique(name).why_not(model, data) is None
    r = compress(model, data, Strategy.parse(name), {"epochs": 2.0}, workdir=tmp_path / name)
    assert [i.name for i in r.model.inputs] == ["input", "h"]
    got = run_outputs(r.model.onnx_path, data.test)
    assert [g.shape for g in got] == [(len(data.test), 1), (len(data.test), 16)]


@pytest.mark.slow
def test_distillation_moves_every_output_towards_the_teacher(tmp_path):
    """Two outputs, one loss each: a perturbed copy gets closer to the teacher on both."""
    teacher = nets.TwoOutNet().eval()
    model = make_model(tmp_path, teacher, outputs=("logits", "emb"))
    data = make_data(n=96)
    student = nets.TwoOutNet()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.2 * torch.randn_like(p))
    t_out = run_outputs(model.onnx_path, data.train)

    def gaps():
        with torch.no_grad():
            s = student.eval()(torch.from_numpy(data.train.inputs["input"]))
        return [float(np.mean((a.numpy() - b) ** 2)) for a, b in zip(s, t_out, strict=True)]

    before = gaps()
    fit(student, data.train, epochs=15, lr=3e-3, ctx=RunContext(), stage="t", teacher=t_out,
        kinds=[LOGITS, DENSE], augment_pixels=0)
    after = gaps()
    assert after[0] < before[0] and after[1] < before[1]


# --- compression time is a budget ---------------------------------------------------------------

def test_trial_predicted_past_max_compress_time_is_skipped_with_the_figure(torch_problem, tmp_path):
    budget = Budget(max_compress_seconds=0.01)
    objective = Objective(torch_problem, budget, ["SPR"], tmp_path / "trials", ctx=RunContext(),
                          space={"SPR.epochs": [50.0]})
    study = optuna.create_study(directions=["minimize"] * 3)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    predicted = trial.user_attrs["predicted_compress_seconds"]
    assert predicted > 0.01
    assert f"predicted {predicted:.0f} s" in trial.user_attrs["skipped"] and "timed on this device" in \
        trial.user_attrs["skipped"]


def test_predicted_time_grows_with_epochs(torch_problem):
    cache = {}
    short, _ = predict_seconds(torch_problem.model, torch_problem.data, Strategy.parse("SPR"), {"epochs": 1.0},
                               cache=cache)
    long, how = predict_seconds(torch_problem.model, torch_problem.data, Strategy.parse("SPR"), {"epochs": 4.0},
                                cache=cache)
    assert long == pytest.approx(4 * short) and "SPR 4 epochs" in how
    assert predict_seconds(torch_problem.model, torch_problem.data, Strategy.parse("FIQ"))[0] == 0.0


@pytest.mark.slow
def test_training_stops_at_the_deadline(torch_problem):
    """Steps that slow down after the timed ones (so the early prediction passes) still stop at
    the deadline: within a step of it."""
    module = nets.tiny_res_cnn()

    def slow(step, _total):
        if step > 4:
            time.sleep(0.5)

    deadline = time.monotonic() + 3.0
    with pytest.raises(OverTime, match="stopped at the compression-time limit"):
        fit(module, torch_problem.data.train, epochs=100, lr=1e-3, ctx=RunContext(), stage="t",
            on_step=slow, deadline=deadline, max_steps=30)
    assert time.monotonic() - deadline < 3.0


def test_trial_forced_past_its_limit_is_stopped_and_pruned(torch_problem, tmp_path, monkeypatch):
    """The prediction before the trial is forced to say it fits; the training loop's own
    prediction (or the deadline) stops it, and the trial is recorded as pruned with the reason."""
    import advisor.search._objective as objective_module

    monkeypatch.setattr(objective_module, "predict_seconds", lambda *a, **k: (0.0, "forced"))
    objective = Objective(torch_problem, Budget(max_compress_seconds=2.0), ["KD"], tmp_path / "trials",
                          ctx=RunContext(), space={"KD.epochs": [500.0]})
    study = optuna.create_study(directions=["minimize"] * 3)
    t0 = time.monotonic()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert "KD" in trial.user_attrs["stopped"] and "limit" in trial.user_attrs["stopped"]
    assert time.monotonic() - t0 < 2.0 + 30.0  # the trial ended near its limit, not after 500 epochs


# --- QAT keeps what it learned ------------------------------------------------------------------

def test_qat_exports_its_learned_ranges(torch_problem):
    result, _ = torch_problem.evaluate("QAT", {"epochs": 1.0, "calibration_size": 16})
    learned = json.loads((result.model.onnx_path.parent / "learned_ranges.json").read_text())
    assert len(learned) == result.notes["QAT.learned_ranges_used"] >= 3  # stem, down, res, fc inputs
    g = onnx.load(str(result.model.onnx_path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    qparams = {n.input[0]: (float(inits[n.input[1]]), int(inits[n.input[2]]))
               for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] in learned}
    assert set(qparams) == set(learned)
    for name, (scale, zp) in qparams.items():
        assert scale == pytest.approx(learned[name]["scale"], rel=1e-6) and zp == learned[name]["zero_point"]


# --- batch-norms during fine-tuning -------------------------------------------------------------

def test_fine_tuning_keeps_norm_statistics_and_recalibration_renews_them(torch_problem):
    from advisor.training import recalibrate_norms

    module = nets.tiny_res_cnn()
    bn = module.stem[1]
    before = bn.running_mean.clone()
    fit(module, torch_problem.data.train, epochs=1, lr=1e-3, ctx=RunContext(), stage="t", freeze_norms=True)
    assert torch.equal(bn.running_mean, before)  # frozen: trained under the statistics it deploys with
    bn.running_mean.fill_(100.0)
    assert recalibrate_norms(module, torch_problem.data.train) == 3
    x = torch.from_numpy(torch_problem.data.train.inputs["input"])
    with torch.no_grad():
        want = module.stem[0](x).mean((0, 2, 3))
    torch.testing.assert_close(bn.running_mean, want, atol=2e-3, rtol=0)  # mean of batch means
