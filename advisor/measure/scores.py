"""Per-sample scores of a model's outputs against the original's, and running a model on a data set.

The numpy-only half of :mod:`advisor.measure.quality` (which adds the choice of metric and the
intervals): a measuring target imports it without torch, scikit-learn or scipy. Scores are on the
higher-is-better [0, 1] scale: ``agreement`` 1 when the top-1 class equals the original's;
``cosine`` the cosine similarity clipped at 0; ``rel-l2`` ``1 - min(|o - r| / rms|r|, 1)``;
``accuracy`` 1 when the top-1 class equals the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.data._dataset import Dataset
from advisor.errors import InputError, TechniqueError
from advisor.runtime import make_session

__all__ = ["METRICS", "OutputScoring", "Runner", "run_outputs", "sample_scores", "scales_of", "accuracy", "mean_score",
           "per_sample", "rows"]

METRICS = ("agreement", "cosine", "rel-l2", "accuracy")


@dataclass(frozen=True)
class OutputScoring:
    """How one output is scored: ``metric`` (one of :data:`METRICS`) and the ``rule`` that chose it."""

    name: str
    metric: str
    rule: str

class Runner:
    """One onnxruntime session of the model at ``path`` that runs data sets batch by batch.

    A model whose batch dimension is fixed gets batches of exactly that size (the last one padded):
    a model with a fixed batch of 1 is fed one sample at a time in its own shape.
    """

    def __init__(self, path: Path | str, threads: int = 1, batch_size: int = 64) -> None:
        self.path = Path(path)
        self.sess = make_session(path, threads)
        self.ins = self.sess.get_inputs()
        first = self.ins[0].shape[0] if self.ins else None
        self.fixed = first if isinstance(first, int) and first > 0 else None
        self.bs = self.fixed or batch_size
        self.names = [o.name for o in self.sess.get_outputs()]

    def run(self, data: Dataset) -> list[np.ndarray]:
        """Every output on every sample of ``data``. Raises :class:`InputError` when the model fails
        on the data, :class:`TechniqueError` when it produces NaN or Inf."""
        chunks: list[list[np.ndarray]] = [[] for _ in self.names]
        n = len(data)
        for start in range(0, n, self.bs):
            feed = {}
            take = min(self.bs, n - start)
            for i in self.ins:
                if i.name not in data.inputs:
                    raise InputError(f"data has no array for model input '{i.name}'")
                arr = data.inputs[i.name][start : start + take]
                if self.fixed and take < self.fixed:
                    arr = np.concatenate([arr, np.repeat(arr[-1:], self.fixed - take, axis=0)])
                feed[i.name] = arr
            try:
                outs = self.sess.run(self.names, feed)
            except Exception as e:  # noqa: BLE001 - onnxruntime's own error types
                line = str(e).strip().splitlines()[0][:300]
                raise InputError(f"model {self.path} fails on the data: {line}") from None
            for k, o in enumerate(outs):
                chunks[k].append(np.asarray(o)[:take])
        outs = [np.concatenate(c) if c else np.empty((0,)) for c in chunks]
        for name, o in zip(self.names, outs, strict=True):
            if o.dtype.kind == "f" and not np.all(np.isfinite(o)):
                raise TechniqueError(f"model {self.path.name} produces NaN or Inf in output '{name}'")
        return outs

def run_outputs(path: Path | str, data: Dataset, threads: int = 1, batch_size: int = 64) -> list[np.ndarray]:
    """Every output of the model at ``path`` on every sample of ``data`` (see :class:`Runner`)."""
    return Runner(path, threads, batch_size).run(data)

def rows(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(len(a), -1)

def per_sample(metric: str, out: np.ndarray, ref: np.ndarray, labels: np.ndarray | None,
                scale: float | None = None) -> np.ndarray:
    if metric == "accuracy":
        return (rows(out).argmax(1) == labels).astype(np.float64)
    if metric == "agreement":
        return (rows(out).argmax(1) == rows(ref).argmax(1)).astype(np.float64)
    a, b = rows(out), rows(ref)
    if metric == "cosine":
        num = (a * b).sum(1)
        den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        same = np.all(np.isclose(a, b, rtol=0, atol=1e-12), axis=1)
        cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(same, 1.0, 0.0))
        return np.clip(cos, 0.0, 1.0)
    if scale is None:
        scale = _scale(b)
    err = np.linalg.norm(a - b, axis=1)
    rel = err / scale if scale > 0 else np.where(err > 0, 1.0, 0.0)
    return 1.0 - np.minimum(rel, 1.0)

def _scale(flat: np.ndarray) -> float:
    """``rms|r|``: the root-mean-square L2 norm of the original's rows over a split (rel-l2's scale)."""
    return float(np.sqrt(np.mean((flat**2).sum(1)))) if len(flat) else 0.0

def scales_of(reference: Sequence[np.ndarray], scoring: Sequence[OutputScoring], names: Sequence[str]
              ) -> dict[str, float]:
    """rel-l2's scale of every scored output over the whole split (a chunk of it uses the same)."""
    index = {n: k for k, n in enumerate(names)}
    return {s.name: _scale(rows(reference[index[s.name]])) for s in scoring}

def sample_scores(
    outputs: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    scoring: Sequence[OutputScoring],
    names: Sequence[str],
    *,
    labels: np.ndarray | None = None,
    scales: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Per-sample scores on the [0, 1] scale of every scored output (what paired drops compare).
    ``scales``: rel-l2's scale over the whole split when ``reference`` is a chunk of it."""
    index = {n: k for k, n in enumerate(names)}
    return {s.name: per_sample(s.metric, outputs[index[s.name]], reference[index[s.name]], labels,
                                None if scales is None else scales.get(s.name))
            for s in scoring}

def accuracy(outputs: list[np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of the first output (class scores) against integer labels."""
    return float(per_sample("accuracy", outputs[0], outputs[0], labels).mean())

def mean_score(metric: str, output: np.ndarray, reference: np.ndarray) -> float:
    """Mean per-sample ``metric`` (``agreement``, ``cosine`` or ``rel-l2``) of one output against
    the original's, on the [0, 1] higher-is-better scale."""
    return float(per_sample(metric, output, reference, None).mean())
