"""Fixtures for the technique tests: a tiny trained residual CNN with and without its PyTorch module."""

from __future__ import annotations

import pytest
import torch

from advisor.models import export_onnx
from advisor.problem import open_problem
from advisor.types import TensorSpec
from tests.conftest import FAST
from tests.techniques import nets

FACTORY = "tests.techniques.nets:tiny_res_cnn"


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-res")
    data = nets.make_data(d / "data.npz")
    weights = nets.trained_weights(d / "weights.pt", data)
    unlabelled = nets.make_data(d / "unlabelled.npz", labels=False)
    return {"data": data, "weights": weights, "unlabelled": unlabelled, "dir": d}


@pytest.fixture(scope="session")
def torch_problem(tiny_files):
    """The tiny residual CNN as a PyTorch factory model (every technique applies)."""
    with open_problem(FACTORY, str(tiny_files["data"]), weights=str(tiny_files["weights"]), settings=FAST) as p:
        yield p


@pytest.fixture(scope="session")
def onnx_problem(tiny_files, torch_problem):
    """The same trained model as an ONNX file only (no PyTorch module)."""
    path = export_onnx(torch_problem.model.module, (TensorSpec("input", (None, *nets.SHAPE), "float32"),),
                       ("logits",), tiny_files["dir"] / "tiny_res.onnx")
    # trains=True: KD from an ONNX teacher is tested with a training share of its own (by default
    # an ONNX-only problem holds no sample for training; see docs/measurement.md "Splits").
    with open_problem(str(path), str(tiny_files["data"]), settings=FAST, trains=True) as p:
        yield p


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models train fastest on one thread, and a busy 2-core host makes two threads crawl."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
