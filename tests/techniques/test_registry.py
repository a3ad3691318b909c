"""Adding a technique is one module: a technique registered here, in a test, is listed, ranked,
judged by the rules from its declared capabilities, searched and advised on, with no other file
touched."""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass

import pytest

import advisor.techniques as techniques_pkg
from advisor.budget import Budget
from advisor.jobs import advise
from advisor.problem import open_problem
from advisor.profiling import DeviceFacts
from advisor.ranking import KnowledgeBase, rank
from advisor.ranking.rules import RuleContext, fire_rules
from advisor.search import SearchSettings
from advisor.strategies import Strategy, applicable_strategies, search_strategies
from advisor.techniques import (
    TechniqueConfig,
    all_techniques,
    get_technique,
    param,
    register,
    technique_names,
    unregister,
)
from advisor.techniques.f16 import F16
from tests.conftest import FAST


@dataclass(frozen=True)
class ToyConfig(TechniqueConfig):
    keep_io_types: bool = param(True, choices=(True,), help="keep FP32 inputs/outputs")


class Toy(F16):
    """A throw-away technique (FP16 by F16's converter, under another name) that also declares a
    chain into dynamic INT8."""

    name = "TOY"
    title = "throw-away FP16 for the registry test"
    source = "tests/techniques/test_registry.py"
    Config = ToyConfig
    then = ("BLQ",)


@pytest.fixture
def toy():
    register(Toy)
    try:
        yield get_technique("TOY")
    finally:
        unregister("TOY")
    assert "TOY" not in technique_names()


def test_every_public_technique_module_is_discovered_and_registered():
    modules = {m.name for m in pkgutil.iter_modules(techniques_pkg.__path__) if not m.name.startswith("_")}
    registered = {type(t).__module__.rsplit(".", 1)[-1] for t in all_techniques()}
    assert modules == registered


def test_declared_chains_are_valid_strategies_and_in_the_candidates():
    names = search_strategies()
    assert len(names) == len(set(names))
    for t in all_techniques():
        for nxt in t.then:
            assert Strategy.of((t.name, nxt)).name in names
    assert "PRQ" in names and "PRN+BLQ" not in names  # the paper's name is the canonical one


def test_a_bad_capability_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match="precision must be one of"):
        type("Bad", (Toy,), {"precision": "int4"})


def test_a_registered_technique_is_listed_ranked_and_judged_by_its_capabilities(toy, tiny_onnx, tiny_npz,
                                                                               tmp_path):
    assert {"TOY", "TOY+BLQ"} <= set(search_strategies())
    with open_problem(str(tiny_onnx), str(tiny_npz), settings=FAST) as problem:
        ok, excluded = applicable_strategies(problem.model, problem.data)
        assert {"TOY", "TOY+BLQ"} <= set(ok), excluded
        r = rank(problem, Budget(objective="latency"), kb=KnowledgeBase(tmp_path / "kb.sqlite"),
                 facts=DeviceFacts(fp16_speedup=0.6))
        row = next(x for x in r.items if x.strategy == "TOY")
        assert row.excluded is None and row.rank is not None and row.predicted
        # the FP16 rule never names F16: it finds TOY by its declared precision
        fp16 = [f for f in fire_rules(RuleContext(model={}, budget=Budget(objective="latency"),
                                                  facts=DeviceFacts(fp16_speedup=0.6), baseline=problem.baseline,
                                                  labelled=True), [Strategy.parse("TOY")])
                if f.rule == "fp16_no_speedup"]
        assert fp16 and fp16[0].strategies == ("TOY",)


def test_a_registered_technique_is_searched_and_advised_on(toy, tiny_onnx, tiny_npz, tmp_path):
    with open_problem(str(tiny_onnx), str(tiny_npz), settings=FAST) as problem:
        advice = advise(problem, Budget(max_accuracy_drop=50), tmp_path / "out", strategies=["TOY", "FIQ"],
                        settings=SearchSettings(trials=2, patience=100), kb=KnowledgeBase(tmp_path / "kb.sqlite"))
    measured = {e.strategy for e in advice.evaluations if e.ok}
    assert measured == {"TOY", "FIQ"}
    assert (tmp_path / "out" / "advice.md").read_text().count("TOY") >= 2
