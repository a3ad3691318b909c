"""The contract every registered technique keeps, checked for each one on a tiny real model.

The loop is over ``all_techniques()``: a technique added later is covered without touching
this file (it only needs a docs page, as the docs check below demands).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advisor.compress import compress
from advisor.errors import Cancelled, InputError
from advisor.progress import RunContext
from advisor.runtime import make_session
from advisor.strategies import Strategy
from advisor.techniques import CHANGES, PRECISIONS, all_techniques, get_technique, technique_names

NAMES = technique_names()
TRAINING = [t.name for t in all_techniques() if t.trains]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "techniques"
# Small budgets for any technique that has these parameters (others keep their defaults).
FAST_VALUES = {"epochs": 1.0, "calibration_size": 16}


def fast_params(name: str, **override) -> dict:
    names = {p["name"] for p in get_technique(name).Config.params()}
    values = {k: v for k, v in FAST_VALUES.items() if k in names}
    values.update({k: v for k, v in override.items() if k in names})
    return values


def bad_values(p: dict) -> list:
    """Values that must be refused for parameter ``p``."""
    if p["type"] == "bool":
        return ["maybe", 3]
    if p["choices"] is not None:
        return ["not-a-choice"]
    out: list = ["abc"] if p["type"] in ("int", "float") else []
    if p["valid"] is not None:
        lo, hi = p["valid"]
        out += [hi + abs(hi) + 1, lo - abs(lo) - 1]
    if p["type"] == "int":
        out.append(1.5)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_declares_itself(name):
    tech = get_technique(name)
    d = tech.describe()
    for flag in ("needs_torch", "needs_labels", "needs_calibration", "trains"):
        assert isinstance(d[flag], bool)
    assert isinstance(tech.keeps_torch, bool)
    assert tech.title and tech.source
    assert d["precision"] in PRECISIONS and d["changes"] in CHANGES and d["outputs"] in ("any", "class scores")
    for nxt in tech.then:  # each declared chain is a strategy the step-order rules allow
        Strategy.of((name, nxt))
    if tech.precision != "fp32":  # a technique that changes precision leaves an ONNX graph only
        assert not tech.keeps_torch
    cfg = tech.config()  # defaults are valid
    assert cfg.to_dict() == tech.Config.from_dict(cfg.to_dict()).to_dict()
    for p in d["params"]:
        assert p["help"], f"{name}.{p['name']} has no help text"
        if p["valid"] is not None and p["search"] is not None and p["choices"] is None:
            assert p["valid"][0] <= p["search"][0] <= p["search"][1] <= p["valid"][1], p
        if p["choices"] is not None and p["search"] is not None:
            assert set(p["search"]) <= set(p["choices"]), p


@pytest.mark.parametrize("name", NAMES)
def test_has_a_docs_page(name):
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"docs/techniques/{name}.md is missing"
    text = page.read_text()
    for p in get_technique(name).Config.params():
        assert f"`{p['name']}`" in text, f"docs/techniques/{name}.md does not document '{p['name']}'"
    assert f"({name}.md)" in (DOCS / "README.md").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_values_name_the_parameter(name, torch_problem):
    tech = get_technique(name)
    params = tech.Config.params()
    for p in params:
        for bad in bad_values(p):
            with pytest.raises(InputError, match=f"'{p['name']}'"):
                tech.config({p["name"]: bad})
    with pytest.raises(InputError, match="no parameter 'no_such_param'"):
        tech.config({"no_such_param": 1})
    checkable = [p for p in params if bad_values(p)]
    if checkable:  # the same check through the public path, before any work is done
        p = checkable[0]
        with pytest.raises(InputError, match=f"'{p['name']}'"):
            torch_problem.evaluate(name, {p["name"]: bad_values(p)[0]})


@pytest.mark.parametrize("name", NAMES)
def test_runs_loads_and_is_measured(name, torch_problem):
    tech = get_technique(name)
    original = {k: v.clone() for k, v in torch_problem.model.module.state_dict().items()}
    events = []
    result, m = torch_problem.evaluate(name, fast_params(name), ctx=RunContext(progress=events.append))

    x = torch_problem.data.test.inputs["input"]
    out = make_session(result.model.onnx_path).run(None, {"input": x})[0]
    assert out.shape == (len(x), 4) and np.all(np.isfinite(out))
    assert m.metric == "accuracy" and 0.0 <= m.quality <= 1.0
    assert m.size_bytes > 0 and m.size_compressed_bytes > 0
    assert m.latency.p50_ms > 0 and m.latency.p90_ms >= m.latency.p50_ms
    assert m.compress_seconds > 0
    assert result.model.has_torch == tech.keeps_torch
    assert result.params and all(k.startswith(f"{name}.") for k in result.params)
    if tech.trains:
        assert any(e.stage == name for e in events), "training must report progress under its own name"
    after = torch_problem.model.module.state_dict()
    assert all(torch.equal(original[k], after[k]) for k in original), f"{name} changed the caller's module"


@pytest.mark.parametrize("name", TRAINING)
def test_training_honours_cancellation(name, torch_problem, tmp_path):
    ctx = RunContext()
    seen = []

    def progress(event):
        seen.append(event)
        if event.stage == name:
            ctx.cancel.set()

    ctx.progress = progress
    with pytest.raises(Cancelled):
        compress(torch_problem.model, torch_problem.data, Strategy.parse(name), fast_params(name, epochs=50.0),
                 workdir=tmp_path, ctx=ctx)
    assert sum(e.stage == name for e in seen) <= 2, "work went on after the cancel"


@pytest.mark.parametrize("name", TRAINING)
def test_training_scales_with_train_scale(name, torch_problem, tmp_path):
    steps = []
    for scale in (1.0, 2.0):
        r = compress(torch_problem.model, torch_problem.data, Strategy.parse(name), fast_params(name, epochs=2.0),
                     workdir=tmp_path / str(scale), train_scale=scale)
        steps.append(r.notes[f"{name}.train_steps"])
    assert steps[1] >= 2 * steps[0] - 1 and steps[1] > steps[0]


@pytest.mark.parametrize("name", NAMES)
def test_onnx_only_model(name, onnx_problem):
    tech = get_technique(name)
    reason = tech.why_not(onnx_problem.model, onnx_problem.data)
    if tech.needs_torch:
        assert reason and "PyTorch" in reason
        with pytest.raises(Exception, match="PyTorch"):
            onnx_problem.evaluate(name, fast_params(name))
    else:
        assert reason is None
        result, m = onnx_problem.evaluate(name, fast_params(name))
        assert m.size_bytes > 0 and result.model.onnx_path.is_file()
