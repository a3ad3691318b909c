"""Accuracy on labelled data; fidelity to the original model on unlabelled data.

Fidelity is top-1 agreement for class logits and mean cosine similarity for any other outputs,
both in [0, 1]; the baseline against itself scores exactly 1.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advisor.data import Dataset
from advisor.errors import InputError, TechniqueError
from advisor.runtime import make_session

__all__ = ["run_outputs", "accuracy", "fidelity"]


def run_outputs(path: Path | str, data: Dataset, threads: int = 1, batch_size: int = 64) -> list[np.ndarray]:
    """Every output of the model at ``path`` on every sample of ``data``, batch by batch.

    A model whose batch dimension is fixed gets batches of exactly that size (the last one padded).
    """
    sess = make_session(path, threads)
    ins = sess.get_inputs()
    fixed = ins[0].shape[0] if ins and isinstance(ins[0].shape[0], int) and ins[0].shape[0] > 0 else None
    bs = fixed or batch_size
    names = [o.name for o in sess.get_outputs()]
    chunks: list[list[np.ndarray]] = [[] for _ in names]
    n = len(data)
    for start in range(0, n, bs):
        feed = {}
        take = min(bs, n - start)
        for i in ins:
            if i.name not in data.inputs:
                raise InputError(f"data has no array for model input '{i.name}'")
            arr = data.inputs[i.name][start : start + take]
            if fixed and take < fixed:
                arr = np.concatenate([arr, np.repeat(arr[-1:], fixed - take, axis=0)])
            feed[i.name] = arr
        try:
            outs = sess.run(names, feed)
        except Exception as e:  # noqa: BLE001 - onnxruntime's own error types
            raise InputError(f"model {path} fails on the data: {str(e).strip().splitlines()[0][:300]}") from None
        for k, o in enumerate(outs):
            chunks[k].append(np.asarray(o)[:take])
    outs = [np.concatenate(c) if c else np.empty((0,)) for c in chunks]
    for name, o in zip(names, outs, strict=True):
        if o.dtype.kind == "f" and not np.all(np.isfinite(o)):
            raise TechniqueError(f"model {Path(path).name} produces NaN or Inf in output '{name}'")
    return outs


def accuracy(outputs: list[np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of the first output (class scores) against integer labels."""
    logits = outputs[0].reshape(len(labels), -1)
    return float(np.mean(logits.argmax(1) == labels))


def fidelity(outputs: list[np.ndarray], reference: list[np.ndarray], classifier: bool) -> float:
    """Agreement of ``outputs`` with the original model's ``reference`` outputs, in [0, 1]."""
    if classifier:
        return float(np.mean(outputs[0].argmax(1) == reference[0].argmax(1)))
    sims = []
    for o, r in zip(outputs, reference, strict=True):
        a = o.reshape(len(o), -1).astype(np.float64)
        b = r.reshape(len(r), -1).astype(np.float64)
        num = (a * b).sum(1)
        den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        same = np.all(np.isclose(a, b, rtol=0, atol=1e-12), axis=1)
        cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(same, 1.0, 0.0))
        sims.append(np.clip(cos, -1.0, 1.0).mean())
    return float(np.mean(sims))
