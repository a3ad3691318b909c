"""Shared fixtures: the real built-in model and data, and tiny real models made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

os.environ.setdefault("PYTHONWARNINGS", "ignore")
torch.set_num_threads(2)

from advisor.measure import MeasureSettings  # noqa: E402
from advisor.problem import open_problem  # noqa: E402

FAST = MeasureSettings(threads=1, seconds=0.05, memory=False)


@pytest.fixture(autouse=True)
def _private_knowledge_base(tmp_path, monkeypatch):
    """Every test appends to its own knowledge base, never the user's."""
    monkeypatch.setenv("ADVISOR_KB", str(tmp_path / "kb.sqlite"))


@pytest.fixture(scope="session")
def digits_problem():
    """The built-in teacher on builtin:digits, measured once for the whole session."""
    with open_problem("builtin:digits-cnn", "builtin:digits", settings=FAST) as p:
        yield p


class TinyCNN(nn.Module):
    """A real (untrained but deterministic) small CNN for 1x16x16 inputs, 4 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(x.mean((2, 3)))


def tiny_cnn() -> nn.Module:
    return TinyCNN()


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """A tiny CNN classifier exported to ONNX (input 'input' [N,1,16,16] -> 'logits' [N,4])."""
    from advisor.models import export_onnx
    from advisor.types import TensorSpec

    return export_onnx(TinyCNN(), (TensorSpec("input", (None, 1, 16, 16), "float32"),), ("logits",),
                       tmp_path / "tiny.onnx")


@pytest.fixture
def tiny_npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 16, 16), dtype=np.float32)
    y = rng.integers(0, 4, 40)
    path = tmp_path / "tiny.npz"
    np.savez(path, input=x, labels=y)
    return path


def make_two_input_onnx(path: Path) -> Path:
    """ONNX with inputs 'image' [N,3] and 'meta' [N,2] and a non-class output 'embedding' [N,4,2]."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((5, 8)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 4, 2], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Concat", ["image", "meta"], ["cat"], axis=1),
        helper.make_node("MatMul", ["cat", "w"], ["mm"]),
        helper.make_node("Tanh", ["mm"], ["act"]),
        helper.make_node("Reshape", ["act", "shape"], ["embedding"]),
    ]
    g = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("meta", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 4, 2])],
        [w, shape],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def two_input_onnx(tmp_path: Path) -> Path:
    return make_two_input_onnx(tmp_path / "two.onnx")


@pytest.fixture(scope="session")
def quick_profile(tmp_path_factory):
    """A real (quick) profile of this machine, saved once per session: ``(profiles_dir, name)``."""
    from advisor.profiling import profile_device, save_profile

    d = tmp_path_factory.mktemp("profiles")
    save_profile(profile_device("test-device", quick=True), d)
    return d, "test-device"


from tests.pg import postgres_url  # noqa: E402,F401 - the session's PostgreSQL server, for any test
