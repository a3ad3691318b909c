"""The real-model benchmark reads what it claims: duplicate trials from a real Optuna storage,
the advice's reported interval (or a labelled fallback), and data in the models' own layouts."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from benchmarks import real_models, real_zoo


def _study(tmp_path, trials):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["minimize"])
    states = {"ok": optuna.trial.TrialState.COMPLETE, "fail": optuna.trial.TrialState.FAIL,
              "skipped": optuna.trial.TrialState.PRUNED}
    choices = sorted({s for s, _, _ in trials})
    for strategy, params, state in trials:
        dists = {"strategy": optuna.distributions.CategoricalDistribution(choices),
                 **{k: optuna.distributions.CategoricalDistribution(["minmax", "entropy"])
                    for k in params}}
        attrs = {"strategy": strategy, **({"skipped": "no time"} if state == "skipped" else {})}
        study.add_trial(optuna.trial.create_trial(
            params={"strategy": strategy, **params}, distributions=dists, user_attrs=attrs,
            state=states[state], values=[1.0] if state == "ok" else None))
    return url


def test_duplicate_pairs_counts_equal_strategy_and_params(tmp_path):
    url = _study(tmp_path, [
        ("F16", {}, "ok"), ("F16", {}, "ok"), ("F16", {}, "ok"),       # 3 pairs
        ("FIQ", {"FIQ.method": "minmax"}, "ok"),
        ("FIQ", {"FIQ.method": "entropy"}, "ok"),                     # differs: no pair
        ("BLQ", {}, "ok"), ("BLQ", {}, "fail"),                       # a pair among finished only
        ("KD", {}, "skipped"), ("KD", {}, "ok"),                      # skipped trials do not count
    ])
    d = real_models.duplicate_pairs(url, "s")
    assert d["measured"] == 3
    assert d["finished"] == 4
    assert d["trials"] == 8


def test_quality_prefers_the_advice_interval_and_labels_a_fallback():
    reported = {"value": 0.97, "lo": 0.93, "hi": 0.99, "n": 150, "metric": "agreement",
                "split": "test", "method": "wilson"}
    q = real_models.quality_of({"metric": "fidelity", "fidelity": 0.9, "reported": reported}, 64)
    assert (q["value"], q["n"], q["interval_from"]) == (0.97, 150, "advisor")
    old = real_models.quality_of({"metric": "fidelity", "fidelity": 0.75}, 64)
    assert old["n"] == 64 and old["lo"] < 0.75 < old["hi"]
    assert old["interval_from"].startswith("computed by the benchmark")
    wide = real_models.quality_of({"metric": "fidelity", "fidelity": 0.75}, 16)
    assert wide["hi"] - wide["lo"] > old["hi"] - old["lo"]


def test_targets_mark_a_refused_data_file_as_a_miss():
    row = {"model": "streaming", "kind": "advise", "command": "c", "wall_seconds": 3.0,
           "exit_code": 2, "error": "data x.npz: input 'x' has shape [4, 1, 576]"}
    (t,) = real_models.targets([row])
    assert t["result"] == "MISS" and "shape" in t["figure"]


def test_streaming_signal_has_voiced_and_silent_frames():
    x, voiced = real_zoo.streaming_signal(200)
    assert x.shape == (200, real_zoo.FRAME) and x.dtype == np.float32
    assert 0.2 < voiced.mean() < 0.8
    assert np.abs(x[voiced == 1]).mean() > 3 * np.abs(x[voiced == 0]).mean()


def test_encoder_tokens_mask_exactly_the_padding():
    pytest.importorskip("tokenizers")
    t = real_zoo.encoder_tokens(12, 64)
    ids, mask = t["input_ids"], t["attention_mask"]
    assert ids.shape == mask.shape == (12, 64) and ids.dtype == mask.dtype == np.int64
    assert np.all((ids == 0) == (mask == 0))
    assert len(set(mask.sum(1).tolist())) > 1  # different true lengths
