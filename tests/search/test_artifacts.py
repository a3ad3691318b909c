"""Every trial's model is an artifact: the advice ships exactly the file that was measured."""

from __future__ import annotations

import json
import shutil

import pytest

from advisor import training
from advisor.artifacts import ArtifactRef, download, open_store, sha256_of
from advisor.budget import Budget
from advisor.choice import choose
from advisor.errors import InputError
from advisor.jobs import advise, materialize
from advisor.search import SearchSettings, evaluations_from_study, open_study
from advisor.search._record import TrialRecord


def _no_training(*a, **k):
    raise AssertionError("training ran after the search")


@pytest.mark.slow
def test_a_trained_pick_ships_the_byte_identical_measured_file_and_nothing_trains_after(digits_problem, tmp_path,
                                                                                       monkeypatch):
    budget = Budget(max_accuracy_drop=5, max_size_ratio=0.5)
    out = tmp_path / "run"
    first = advise(digits_problem, budget, out, settings=SearchSettings(trials=1, study="kd"), strategies=["KD"],
                   enqueue=[("KD", {})])
    pick = first.shown
    assert pick.strategy == "KD" and pick.artifact is not None
    # the trial files are gone (a fleet worker measured them elsewhere): the advice comes from the artifacts,
    # and no training may run to rebuild anything
    shutil.rmtree(out / "trials")
    monkeypatch.setattr(training, "fit", _no_training)
    again = advise(digits_problem, budget, tmp_path / "again", settings=SearchSettings(
        trials=1, study="kd", storage=f"sqlite:///{out / 'study.db'}"), strategies=["KD"])
    doc = json.loads((tmp_path / "again" / "advice.json").read_text())
    shipped = tmp_path / "again" / again.model_file
    ref = doc["shipped"]["artifact"]
    assert doc["shipped"]["sha256"] == sha256_of(shipped) == ref["sha256"] == pick.artifact.sha256
    assert ref["artifact_id"] == pick.artifact.artifact_id


@pytest.mark.slow
def test_dominated_artifacts_are_removed_and_keep_all_keeps_them(digits_problem, tmp_path):
    budget = Budget(max_accuracy_drop=5, max_size_ratio=0.5)

    def run(out, keep_all):
        advise(digits_problem, budget, out, settings=SearchSettings(trials=2, study="ptq", keep_all=keep_all),
               strategies=["FIQ", "F16"], enqueue=[("FIQ", {}), ("F16", {})])
        study = open_study(f"sqlite:///{out / 'study.db'}", "ptq", create=False)
        removed = set(study.user_attrs.get("artifacts_removed", []))
        return {r.strategy: (r, r.number in removed) for r in map(TrialRecord.from_trial, study.get_trials(
            deepcopy=False)) if r.artifact is not None}

    pruned = run(tmp_path / "a", keep_all=False)
    assert not pruned["FIQ"][1]  # the pick, on the Pareto front
    assert pruned["F16"][1]  # FIQ is smaller, faster and as accurate: F16 is dominated
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'study.db'}")
    with pytest.raises(InputError, match="is not in the artifact store"):
        download(store, ArtifactRef.from_dict(pruned["F16"][0].artifact), tmp_path / "x.onnx")
    kept = run(tmp_path / "b", keep_all=True)
    assert not any(gone for _, gone in kept.values())


@pytest.mark.slow
def test_a_resumed_study_keeps_its_artifacts(digits_problem, tmp_path):
    budget = Budget(max_accuracy_drop=5, max_size_ratio=0.5)
    settings = SearchSettings(trials=1, study="resume")
    advise(digits_problem, budget, tmp_path, settings=settings, strategies=["FIQ", "F16"], enqueue=[("FIQ", {})])
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", "resume", create=False)
    first = TrialRecord.from_trial(study.get_trials(deepcopy=False)[0])
    advise(digits_problem, budget, tmp_path, settings=SearchSettings(trials=2, study="resume"),
           strategies=["FIQ", "F16"], enqueue=[("F16", {})])
    store = open_store(f"sqlite:///{tmp_path / 'study.db'}")
    ref = ArtifactRef.from_dict(first.artifact)
    assert sha256_of(download(store, ref, tmp_path / "back.onnx")) == ref.sha256


@pytest.mark.slow
def test_an_artifact_whose_bytes_differ_is_refused_and_named(digits_problem, tmp_path):
    budget = Budget(max_accuracy_drop=5, max_size_ratio=0.5)
    advise(digits_problem, budget, tmp_path, settings=SearchSettings(trials=1, study="t", keep_all=True),
           strategies=["FIQ"], enqueue=[("FIQ", {})])
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", "t", create=False)
    (e,) = evaluations_from_study(study)
    folder = tmp_path / "study.db.artifacts"
    (folder / e.artifact.artifact_id).write_bytes(b"not the model that was measured")
    shutil.rmtree(tmp_path / "trials")
    store = open_store(f"sqlite:///{tmp_path / 'study.db'}")
    e = e.__class__(**{**e.__dict__, "model_path": None})
    with pytest.raises(InputError, match=f"artifact {e.artifact.artifact_id}: sha256 .* does not match"):
        materialize(digits_problem, e, store)
    choice = choose(digits_problem, budget, [e], materialize=lambda x: materialize(digits_problem, x, store))
    assert choice.pick is None or choice.pick.strategy != "FIQ"
    assert any("FIQ" in label and "does not match" in why for label, why in choice.unavailable)
