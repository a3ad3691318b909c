"""Typed values between the stages: TrialRecord in a real SQLite study (also one written in the
format before the type existed), Evaluation's strategy vs its display label, JobSpec's checks."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from advisor.budget import Budget
from advisor.errors import InputError
from advisor.jobs.worker import join_study
from advisor.problem import Evaluation
from advisor.search import (
    JobSpec,
    TrialRecord,
    evaluation_of,
    evaluations_from_study,
    open_study,
    study_name_for,
)
from advisor.search._record import write_record
from advisor.search.storage import SPEC_KEY
from advisor.types import LatencyStats, Measurement

# ask/tell on a storage with heartbeats (as the search opens it) warns; the search uses optimize
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


def _measurement() -> Measurement:
    return Measurement("accuracy", 0.9375, 12_345, 6_789, LatencyStats(0.125, 0.25, 200, 1, False), 1_000, 1.5,
                       extra={"latency_ratio": 0.5})


def _study(tmp_path) -> optuna.Study:
    return open_study(f"sqlite:///{tmp_path / 'study.db'}", "s")


def _stored(tmp_path, number: int = 0) -> optuna.trial.FrozenTrial:
    """The trial as a new process reads it from the SQLite file."""
    return open_study(f"sqlite:///{tmp_path / 'study.db'}", "s", create=False).trials[number]


def test_trial_record_round_trips_through_a_sqlite_study(tmp_path):
    study = _study(tmp_path)
    trial = study.ask({"strategy": optuna.distributions.CategoricalDistribution(["KD+FIQ"]),
                       "KD.width": optuna.distributions.CategoricalDistribution([0.25, 0.5, 1.0])})
    rec = TrialRecord(number=trial.number, strategy="KD+FIQ", params={"KD.width": trial.params["KD.width"]})
    rec = write_record(trial, rec, strategy="KD+FIQ", host="box", pid=42, candidate_key='{"strategy": "KD+FIQ"}')
    rec = write_record(trial, rec, predicted_compress_seconds=12.5, constraints={"accuracy": -0.5, "size": 0.25},
                       feasible=False, train_scale=2.0, measurement=_measurement(), notes={"train_steps": 40},
                       model_file=str(tmp_path / "trial-00000.onnx"), model_sha256="ab" * 32)
    study.tell(trial, [1.0, 0.25, 12.0])

    back = TrialRecord.from_trial(_stored(tmp_path))
    assert back.state == TrialState.COMPLETE and back.fail_reason is None
    assert back == TrialRecord(**{**rec.__dict__, "state": TrialState.COMPLETE})
    assert back.measurement == _measurement() and back.strategy == "KD+FIQ"
    assert back.model_path == tmp_path / "trial-00000.onnx"
    assert not back.not_run and back.holds_candidate


def test_a_trial_written_in_the_old_attribute_format_still_reads(tmp_path):
    """The user attributes exactly as studies were written before TrialRecord: resuming them works."""
    study = _study(tmp_path)
    study.enqueue_trial({"strategy": "FIQ", "FIQ.calibration_size": 100})
    trial = study.ask({"strategy": optuna.distributions.CategoricalDistribution(["FIQ", "F16"]),
                       "FIQ.calibration_size": optuna.distributions.IntDistribution(50, 400)})
    old = {"strategy": "FIQ", "host": "box", "pid": 7, "candidate": "k", "constraints": {"accuracy": -1.0},
           "feasible": True, "train_scale": 1.0, "measurement": _measurement().to_dict(),
           "notes": {"calibration_samples": 100}, "model_file": "/gone/trial-00000.onnx", "model_sha256": "00"}
    for k, v in old.items():
        trial.set_user_attr(k, v)
    study.tell(trial, [0.0, 0.25, 12.0])
    failed = study.ask()
    for k, v in {"strategy": "F16", "candidate": "k2", "interrupted": True}.items():
        failed.set_user_attr(k, v)
    study.tell(failed, state=TrialState.FAIL)

    rec = TrialRecord.from_trial(_stored(tmp_path))
    assert (rec.strategy, rec.params, rec.feasible, rec.host, rec.pid) == ("FIQ", {"FIQ.calibration_size": 100},
                                                                          True, "box", 7)
    assert rec.measurement == _measurement() and rec.notes == {"calibration_samples": 100}
    assert rec.to_user_attrs() == old  # written back, the same attributes
    cut = TrialRecord.from_trial(_stored(tmp_path, 1))
    assert cut.interrupted and not cut.holds_candidate and cut.strategy == "F16"

    (done,) = evaluations_from_study(study)  # the interrupted one runs again: left out
    assert (done.strategy, done.trial, done.label) == ("FIQ", 0, "FIQ(calibration_size=100) #0")
    assert done.model_path is None  # the file is gone
    assert [e.label for e in evaluations_from_study(study, include_interrupted=True)][1] == "F16 #1"


def test_evaluation_carries_the_strategy_and_shows_a_label():
    rec = TrialRecord(number=3, state=TrialState.COMPLETE, strategy="KD+FIQ",
                      params={"KD.width": 0.25, "FIQ.calibration_size": 200}, train_scale=2.0,
                      measurement=_measurement(), notes={"train_steps": 40})
    e = evaluation_of(rec)
    assert (e.strategy, e.params, e.trial, e.train_scale) == ("KD+FIQ", rec.params, 3, 2.0)
    assert e.variant == "KD+FIQ(width=0.25)" and e.label == "KD+FIQ(width=0.25) #3"
    assert e.notes == {"train_steps": 40}  # the technique's notes only
    failed = evaluation_of(TrialRecord(number=4, state=TrialState.FAIL, strategy="PRN", error="no conv layers"))
    assert (failed.strategy, failed.label, failed.error, failed.ok) == ("PRN", "PRN #4", "no conv layers", False)
    plain = Evaluation("NQ", {}, _measurement())
    assert plain.label == plain.variant == "NQ"


def _spec(**kw) -> JobSpec:
    return JobSpec(**{"model": "/data/models/net.onnx", "data": "/data/sets/d.npz", "budget": Budget.preset("mid"),
                      "split": "post-training", "input_shape": (1, 8), "threads": 2, **kw})


def test_job_spec_keeps_the_stored_format_and_the_study_names():
    spec = _spec()
    stored = {"model": "/data/models/net.onnx", "data": "/data/sets/d.npz", "train_data": None, "metric": None,
              "split": "post-training", "weights": None, "input_shape": [1, 8],
              "budget": Budget.preset("mid").to_dict(), "threads": 2, "spinning": False}
    assert spec.to_dict() == stored and JobSpec.from_dict(stored) == spec
    # the budget holds its confidence since the decision rule judged intervals (issue 19): a study measured
    # under the old point rule gets a new name, so its trials (no paired figures) are not mixed in
    assert study_name_for(spec) == "advise-net-09347828f2"
    other = JobSpec.from_dict(dict(stored, train_data="/data/t.npz", metric="fidelity", split="train-data",
                                   model="builtin:digits-cnn", input_shape=None))
    assert study_name_for(other) == "advise-digits-cnn-399cfe4a79"
    kept = spec.stored(["FIQ", "F16"], 20)
    assert kept.to_dict() == {**stored, "strategies": ["FIQ", "F16"], "trials": 20}
    assert JobSpec.from_dict(kept.to_dict()) == kept


@pytest.mark.parametrize(("change", "field"), [
    ({"threads": 0}, "'threads'"),
    ({"threads": True}, "'threads'"),
    ({"model": ""}, "'model'"),
    ({"split": "everything"}, "'split'"),
    ({"input_shape": (1, -3)}, "'input_shape'"),
    ({"spinning": "yes"}, "'spinning'"),
    ({"strategies": "FIQ"}, "'strategies'"),
    ({"trials": 0}, "'trials'"),
    ({"metric": 3}, "'metric'"),
])
def test_job_spec_bad_values_are_one_line_input_errors(change, field):
    with pytest.raises(InputError) as err:
        _spec(**change)
    assert field in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("stored", "words"), [
    ({"model": "m", "data": "d", "budget": {}, "version": 2}, "unknown field(s) version"),
    ({"model": "m", "data": "d"}, "missing field(s) budget"),
    ({"model": "m", "data": "d", "budget": {"max_size_ratio": "half"}}, "'budget'"),
    (["model"], "must be a mapping"),
])
def test_job_spec_from_a_bad_mapping_says_what_is_wrong(stored, words):
    with pytest.raises(InputError, match="job description") as err:
        JobSpec.from_dict(stored)
    assert words in str(err.value)


def test_worker_refuses_a_study_with_a_bad_job_description(tmp_path):
    study = _study(tmp_path)
    study.set_user_attr(SPEC_KEY, {**_spec().to_dict(), "threads": -1})
    with pytest.raises(InputError, match="study 's': job description field 'threads'"):
        join_study(f"sqlite:///{tmp_path / 'study.db'}", "s", tmp_path / "out")
