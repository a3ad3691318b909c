"""Every kind of bad input gets one `error: ...` line naming the problem, exit 2, nothing written.

Each case builds its own hostile input from the real tiny model and data, runs the real CLI, and
checks the three promises. docs/reliability.md lists the cases.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from advisor.cli import main
from tests.conftest import TinyCNN, make_two_input_onnx

FACTORY = "tests.conftest:tiny_cnn"


class Ctx:
    """The files a case can start from: a tiny ONNX model, its data, and a folder for hostile files."""

    def __init__(self, root: Path, tiny_onnx: Path, tiny_npz: Path, profiles: Path) -> None:
        self.root, self.onnx, self.npz, self.profiles = root, tiny_onnx, tiny_npz, profiles
        self.out = root / "out"

    def file(self, name: str, data: bytes | str) -> str:
        p = self.root / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(p)

    def npz_file(self, name: str, **arrays) -> str:
        p = self.root / name
        np.savez(p, **arrays)
        return str(p)

    def weights(self, name: str = "w.pt", sd=None) -> str:
        from tests.conftest import TinyCNN

        p = self.root / name
        torch.save(TinyCNN().state_dict() if sd is None else sd, p)
        return str(p)


def advise(c: Ctx, *extra: str, model: str | None = None, data: str | None = None) -> list[str]:
    args = ["advise", "--model", model or str(c.onnx), "--data", data or str(c.npz), "--out", str(c.out),
            "--profiles-dir", str(c.profiles), *(extra or ("--tier", "mid"))]
    return args if "--profile" in extra else [*args, "--profile", "test-device"]


def x(n=8, shape=(1, 16, 16), dtype=np.float32):
    return np.random.default_rng(0).random((n, *shape)).astype(dtype)


def _nan_onnx(c: Ctx) -> str:
    m = onnx.load(str(c.onnx))
    t = m.graph.initializer[0]
    arr = numpy_helper.to_array(t).copy()
    arr.flat[0] = np.nan
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    p = c.root / "nan.onnx"
    onnx.save(m, str(p))
    return str(p)


def _nan_output_onnx(c: Ctx) -> str:
    """Finite weights, but the graph divides by zero: every output is NaN or Inf."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Sub", ["input", "input"], ["z"]), helper.make_node("Div", ["z", "z"], ["nan"]),
         helper.make_node("ReduceMean", ["nan"], ["logits"], axes=[2, 3], keepdims=0)],
        "nan_out", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    p = c.root / "nan_out.onnx"
    onnx.save(m, str(p))
    return str(p)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/advisor-pwned",))


CASES = {
    # -- models
    "missing model file": (lambda c: advise(c, model=str(c.root / "nope.onnx")), "model not found"),
    "truncated ONNX": (lambda c: advise(c, model=c.file("t.onnx", c.onnx.read_bytes()[:150])), "not a valid ONNX"),
    "random bytes as ONNX": (lambda c: advise(c, model=c.file("r.onnx", os.urandom(4000))), "not a valid ONNX"),
    "empty ONNX file": (lambda c: advise(c, model=c.file("e.onnx", b"")), "not a valid ONNX"),
    "NaN weights in ONNX": (lambda c: advise(c, model=_nan_onnx(c)), "contains NaN or Inf"),
    "model whose outputs are NaN": (lambda c: advise(c, model=_nan_output_onnx(c), data=c.npz_file("d.npz", input=x())),
                                    "NaN or Inf"),
    "unknown built-in model": (lambda c: advise(c, model="builtin:nope"), "unknown built-in model"),
    "factory that does not import": (lambda c: advise(c, "--weights", c.weights(), "--tier", "mid",
                                                      model="no_such_pkg.mod:make"), "cannot import module"),
    "factory name missing": (lambda c: advise(c, "--weights", c.weights(), "--tier", "mid",
                                              model="tests.conftest:nope"),
                             "has no callable"),
    "factory file missing": (lambda c: advise(c, "--weights", c.weights(), "--tier", "mid",
                                              model=str(c.root / "models" / "net.py") + ":build"),
                             "no such file"),
    "factory without weights": (lambda c: advise(c, model=FACTORY), "needs --weights"),
    "weights file missing": (lambda c: advise(c, "--weights", str(c.root / "no.pt"), "--tier", "mid", model=FACTORY),
                             "--weights must be an existing file"),
    "weights pickle with code": (lambda c: advise(c, "--weights", c.file("evil.pt", pickle.dumps(Evil())),
                                                  "--tier", "mid", model=FACTORY), "weights_only"),
    "weights of another model": (lambda c: advise(c, "--weights", c.weights(sd={"x": torch.zeros(2)}), "--tier", "mid",
                                                  model=FACTORY), "do not fit model"),
    "NaN in weights": (lambda c: advise(c, "--weights", c.weights(sd={k: v * float("nan") for k, v in
                                                                      TinyCNN().state_dict().items()}),
                                        "--tier", "mid", model=FACTORY), "NaN or Inf"),
    "malformed --input-shape": (lambda c: advise(c, "--weights", c.weights(), "--input-shape", "1xAx3", "--tier", "mid",
                                                 model=FACTORY), "--input-shape"),
    # -- data
    "missing data": (lambda c: advise(c, data=str(c.root / "none.npz")), "data not found"),
    "unsupported data file": (lambda c: advise(c, data=c.file("d.csv", "1,2,3")), "expected builtin:digits"),
    "corrupt .npz": (lambda c: advise(c, data=c.file("bad.npz", b"PK\x03\x04garbage")), "cannot read data file"),
    "npz missing an input name": (lambda c: advise(c, model=str(make_two_input_onnx(c.root / "two.onnx")),
                                                   data=c.npz_file("d.npz", image=np.zeros((4, 3), np.float32))),
                                  "no array for model input 'meta'"),
    "wrong input shape": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(shape=(1, 8, 8)))), "model expects"),
    "wrong input dtype": (lambda c: advise(c, data=c.npz_file("d.npz", input=np.full((4, 1, 16, 16), "a"))),
                          "has type"),
    "NaN in data": (lambda c: advise(c, data=c.npz_file("d.npz", input=x() * np.nan)), "NaN or Inf"),
    "empty data set": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(n=0))), "empty"),
    "empty image folder": (lambda c: (c.root.joinpath("imgs").mkdir(), advise(c, data=str(c.root / "imgs")))[1],
                           "empty"),
    "image that does not decode": (lambda c: (c.root.joinpath("im", "a").mkdir(parents=True),
                                              c.file("im/a/x.png", b"nope"), advise(c, data=str(c.root / "im")))[2],
                                   "does not decode"),
    "labels out of range": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(), labels=np.arange(8))),
                            "labels go up to"),
    "negative labels": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(), labels=-np.ones(8, int))), ">= 0"),
    "fractional labels": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(), labels=np.full(8, 0.5))),
                          "integer class"),
    "labels of the wrong length": (lambda c: advise(c, data=c.npz_file("d.npz", input=x(), labels=np.zeros(3, int))),
                                   "one per sample"),
    "unknown built-in data": (lambda c: advise(c, data="builtin:imagenet"), "unknown built-in data set"),
    # -- budgets
    "negative latency budget": (lambda c: advise(c, "--max-latency", "-3"), "--max-latency must be > 0"),
    "zero size budget": (lambda c: advise(c, "--max-size", "0"), "--max-size must be > 0"),
    "accuracy drop over 100": (lambda c: advise(c, "--max-accuracy-drop", "150"),
                               "--max-accuracy-drop must be in [0, 100]"),
    "no budget at all": (lambda c: advise(c, "--trials", "2"), "give a budget"),
    "budget YAML with a python tag": (lambda c: advise(c, "--budget", c.file(
                                          "b.yaml", "max_size_kb: !!python/object/apply:os.system ['echo x']\n")),
                                      "not valid YAML"),
    "budget YAML with unknown key": (lambda c: advise(c, "--budget", c.file("b.yaml", "max_sise_kb: 10\n")),
                                     "unknown budget field"),
    "budget YAML with wrong type": (lambda c: advise(c, "--budget", c.file("b.yaml", "max_size_kb: big\n")),
                                    "must be a number"),
    "budget YAML with a huge number": (lambda c: advise(c, "--budget", c.file("b.yaml", "max_latency_ms: 1.0e+999\n")),
                                       "finite"),
    "budget YAML not a mapping": (lambda c: advise(c, "--budget", c.file("b.yaml", "- 1\n- 2\n")),
                                  "must hold a mapping"),
    "contradictory tier": (lambda c: advise(c, "--budget", c.file("b.yaml", "tier: low\n"), "--tier", "mid"),
                           "contradictory"),
    # -- profiles, search, output
    "profile not found": (lambda c: advise(c, "--tier", "mid", "--profile", "ghost"), "no profile named"),
    "profile name with ../": (lambda c: advise(c, "--tier", "mid", "--profile", "../etc/passwd"), "profile"),
    "malformed profile YAML": (lambda c: advise(c, "--tier", "mid", "--profile",
                                                c.file("p.yaml", "schema_version: 99\n")),
                               "schema_version"),
    "study name with a path": (lambda c: advise(c, "--tier", "mid", "--study", "../x"), "--study"),
    "zero trials": (lambda c: advise(c, "--tier", "mid", "--trials", "0"), "--trials"),
    "unknown strategy": (lambda c: ["compress", "--model", str(c.onnx), "--data", str(c.npz), "--strategy", "ZIP",
                                    "--out", str(c.out)], "unknown strategy step"),
    "unknown technique parameter": (lambda c: ["compress", "--model", str(c.onnx), "--data", str(c.npz), "--strategy",
                                               "FIQ", "--param", "colour=red", "--out", str(c.out)],
                                    "no parameter 'colour'"),
    "out of range technique parameter": (lambda c: ["compress", "--model", str(c.onnx), "--data", str(c.npz),
                                                    "--strategy", "FIQ", "--param", "calibration_size=0",
                                                    "--out", str(c.out)],
                                         "calibration_size"),
}


@pytest.fixture
def case_ctx(tmp_path, tiny_onnx, tiny_npz, quick_profile):
    return Ctx(tmp_path, tiny_onnx, tiny_npz, quick_profile[0])


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clean_line_exit_2_nothing_written(name, case_ctx, capsys):
    argv_of, needle = CASES[name]
    argv = argv_of(case_ctx)
    before = {p for p in case_ctx.root.rglob("*")}
    code = main(argv)
    out, err = capsys.readouterr()
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2, (name, err)
    assert len(errors) == 1 and "Traceback" not in err, err
    assert needle in errors[0], errors[0]
    assert not case_ctx.out.exists(), "the output folder must not be created"
    assert {p for p in case_ctx.root.rglob("*")} == before, "nothing else written either"
    assert not Path("/tmp/advisor-pwned").exists()
