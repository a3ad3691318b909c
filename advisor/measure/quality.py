"""Accuracy on labelled data; fidelity to the original model on unlabelled data, per output.

Which metric scores an output is decided from what the output is (:func:`choose_scoring`), in
this order, and recorded with the rule that decided it:

1. ``--metric`` (``agreement``, ``cosine``, ``rel-l2``, ``accuracy``) when given, if it fits;
2. one value per sample (shape ``(N, 1)``, e.g. a probability): ``rel-l2`` -- never a classifier,
   and the cosine of a scalar is only its sign;
3. the output's name: ``logit``/``prob``/``score``/``class`` -> ``agreement`` (class scores);
   ``emb``/``hidden``/``state``/``feat``/``pool``/``vec``/``encod`` -> ``cosine``;
4. the original's values on the data: rows of unit L2 norm -> ``cosine`` (an embedding);
   non-negative rows of shape ``(N, C)`` summing to 1 -> ``agreement`` (probabilities);
5. the shape: exactly ``(N, C)`` with C > 1 -> ``agreement`` (class scores); anything else
   (masks, boxes, feature maps, sequences, a state of shape ``(N, 1, C)``) -> ``cosine``.

Scores per sample, all on the higher-is-better [0, 1] scale the budget uses: ``agreement`` is
1 when the candidate's top-1 class equals the original's; ``cosine`` is the cosine similarity of
the flattened sample clipped at 0; ``rel-l2`` is ``1 - min(|o - r| / rms|r|, 1)`` where ``rms|r|``
is the original output's root-mean-square sample norm on the split; ``accuracy`` is 1 when the
top-1 class equals the label. Several outputs: each is scored and the worst one binds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advisor.errors import InputError
from advisor.measure.intervals import bootstrap_mean, wilson
from advisor.measure.scores import (
    METRICS,
    OutputScoring,
    Runner,
    accuracy,
    mean_score,
    per_sample,
    rows,
    run_outputs,
    sample_scores,
    scales_of,
)
from advisor.types import QualityFigure

__all__ = ["METRICS", "OutputScoring", "choose_scoring", "score", "describe_figure", "run_outputs", "accuracy",
           "fidelity", "mean_score", "Runner", "sample_scores", "scales_of", "figure_of"]

_PROPORTIONS = ("agreement", "accuracy")
_CLASS_NAMES = ("logit", "prob", "score", "class")
_DENSE_NAMES = ("emb", "hidden", "state", "feat", "pool", "vec", "encod")


def _class_width(a: np.ndarray, strict: bool = False) -> int | None:
    """C when each sample can be a vector of C > 1 class scores, else None: shape (N, C), or with
    singleton axes too (e.g. (N, 1, C)) unless ``strict``."""
    per_sample = list(a.shape[1:]) if strict else [d for d in a.shape[1:] if d != 1]
    return per_sample[0] if len(per_sample) == 1 and per_sample[0] > 1 else None


def _default(name: str, ref: np.ndarray) -> OutputScoring:
    flat = rows(ref)
    if flat.shape[1] == 1:
        return OutputScoring(name, "rel-l2", "one value per sample (not a classifier)")
    width, shaped = _class_width(ref), _class_width(ref, strict=True)
    low = name.lower()
    if width and any(t in low for t in _CLASS_NAMES):
        return OutputScoring(name, "agreement", f"name '{name}' says class scores")
    if any(t in low for t in _DENSE_NAMES):
        return OutputScoring(name, "cosine", f"name '{name}' says embedding/state/features")
    if len(flat):
        norms = np.linalg.norm(flat, axis=1)
        if np.all(np.abs(norms - 1.0) < 1e-3):
            return OutputScoring(name, "cosine", "rows of unit L2 norm (an embedding)")
        if shaped and np.all(flat >= 0) and np.all(np.abs(flat.sum(1) - 1.0) < 1e-3):
            return OutputScoring(name, "agreement", "non-negative rows summing to 1 (probabilities)")
    if shaped:
        return OutputScoring(name, "agreement", f"shape (N, {shaped}): class scores")
    return OutputScoring(name, "cosine", f"shape {_fmt(ref.shape)}: not class scores")


def _fits(metric: str, ref: np.ndarray) -> str | None:
    """Why ``metric`` does not fit an output with these reference values, or None."""
    if metric in _PROPORTIONS and _class_width(ref) is None:
        return f"it needs class scores of shape (N, C>1), the output has shape {_fmt(ref.shape)}"
    if metric == "cosine" and rows(ref).shape[1] == 1:
        return "the output has one value per sample (the cosine of a scalar is only its sign)"
    return None


def choose_scoring(
    names: Sequence[str], reference: Sequence[np.ndarray], *, labelled: bool, override: str | None = None
) -> tuple[OutputScoring, ...]:
    """The metric for each output (see the module docstring for the rule).

    Raises:
        InputError: ``override`` is not one of :data:`METRICS`, is ``accuracy`` without labels, or
            does not fit an output; the one-line message names the choices that fit.
    """
    if override is not None and override not in METRICS:
        raise InputError(f"--metric must be one of {', '.join(METRICS)}, got '{override}'")
    if labelled and override in (None, "accuracy"):
        for name, ref in zip(names, reference, strict=True):
            if _class_width(ref):
                return (OutputScoring(name, "accuracy", "labels given: top-1 accuracy"),)
        raise InputError("labels were given but no output is class scores of shape (N, classes); "
                         "drop the labels to measure fidelity instead")
    if override is None:
        return tuple(_default(n, r) for n, r in zip(names, reference, strict=True))
    if override == "accuracy":
        fits = _fitting(reference, labelled)
        raise InputError(f"--metric accuracy needs labels (labels/y in the .npz or class sub-folders); this "
                         f"data has none; choices that fit these outputs: {', '.join(fits) or 'none'}")
    out = []
    for name, ref in zip(names, reference, strict=True):
        why = _fits(override, ref)
        if why is not None:
            fits = _fitting(reference, labelled)
            raise InputError(f"--metric {override} does not fit output '{name}': {why}; choices that fit "
                             f"these outputs: {', '.join(fits) or 'none'}")
        out.append(OutputScoring(name, override, "--metric"))
    return tuple(out)


def _fitting(reference: Sequence[np.ndarray], labelled: bool) -> list[str]:
    """The metrics that fit every output (``accuracy`` only with labels)."""
    fits = [m for m in METRICS if m != "accuracy" and all(_fits(m, r) is None for r in reference)]
    return fits + (["accuracy"] if labelled and any(_class_width(r) for r in reference) else [])


def _extras(s: OutputScoring, out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Cheap extra figures: top-5 agreement and mean KL for class scores; the other of
    cosine / rel-l2 for dense outputs."""
    if s.metric in _PROPORTIONS:
        a, b = rows(out), rows(ref)
        extra: dict[str, float] = {}
        if a.shape[1] > 5:
            top5 = np.argpartition(-a, 5, axis=1)[:, :5]
            extra["top5_agreement"] = float(np.mean(np.any(top5 == b.argmax(1)[:, None], axis=1)))
        p, q = _as_probs(b), _as_probs(a)
        extra["mean_kl"] = float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))
        return extra
    other = "rel-l2" if s.metric == "cosine" else "cosine"
    if _fits(other, ref) is not None:
        return {}
    return {other: float(per_sample(other, out, ref, None).mean())}


def _as_probs(x: np.ndarray) -> np.ndarray:
    if np.all(x >= 0) and np.all(np.abs(x.sum(1) - 1.0) < 1e-3):
        p = x
    else:
        z = np.exp(x - x.max(1, keepdims=True))
        p = z / z.sum(1, keepdims=True)
    return np.clip(p, 1e-12, 1.0)


def score(
    outputs: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    scoring: Sequence[OutputScoring],
    names: Sequence[str],
    *,
    split: str,
    labels: np.ndarray | None = None,
) -> tuple[QualityFigure, dict[str, dict]]:
    """Score every output named in ``scoring``; the worst one binds.

    Returns the binding figure (with its 95% interval: Wilson for proportions, bootstrap for
    means; ``per_output`` holds each output's value) and per-output detail (metric, rule, value,
    interval and the extra figures).
    """
    index = {n: k for k, n in enumerate(names)}
    per = {s.name: per_sample(s.metric, outputs[index[s.name]], reference[index[s.name]], labels) for s in scoring}
    figure, detail = figure_of(per, scoring, split)
    for s in scoring:
        detail[s.name].update(_extras(s, outputs[index[s.name]], reference[index[s.name]]))
    return figure, detail


def figure_of(scores: dict[str, np.ndarray], scoring: Sequence[OutputScoring], split: str
              ) -> tuple[QualityFigure, dict[str, dict]]:
    """The model's own figure from its per-sample ``scores`` per output (Wilson for proportions,
    bootstrap for means; the worst output binds), and per-output detail."""
    figures: list[QualityFigure] = []
    detail: dict[str, dict] = {}
    for s in scoring:
        per = np.asarray(scores[s.name], dtype=np.float64)
        n = len(per)
        value = float(per.mean()) if n else 0.0
        if s.metric in _PROPORTIONS:
            (lo, hi), method = wilson(int(round(per.sum())), n), "wilson"
        else:
            (lo, hi), method = bootstrap_mean(per), "bootstrap"
        figures.append(QualityFigure(value, lo, hi, n, s.metric, split, method))
        detail[s.name] = {"metric": s.metric, "rule": s.rule, "value": round(value, 6),
                          "interval": [round(lo, 6), round(hi, 6)]}
    worst = min(figures, key=lambda f: f.value)
    per_output = {s.name: f.value for s, f in zip(scoring, figures, strict=True)}
    return QualityFigure(worst.value, worst.lo, worst.hi, worst.n, worst.metric, split, worst.method,
                         per_output), detail


def describe_figure(fig: QualityFigure) -> str:
    """E.g. ``cosine 0.9912 (95% interval 0.9890-0.9931, bootstrap) on 100 test samples``; several
    outputs add each one's value (the worst binds)."""
    d = 5 if fig.value >= 0.999 else 4
    text = (f"{fig.metric} {fig.value:.{d}f} (95% interval {fig.lo:.{d}f}-{fig.hi:.{d}f}, {fig.method}) "
            f"on {fig.n} {fig.split} samples")
    if len(fig.per_output) > 1:
        text += "; per output: " + ", ".join(f"{k} {v:.4f}" for k, v in fig.per_output.items()) + " (worst binds)"
    return text


def fidelity(outputs: list[np.ndarray], reference: list[np.ndarray], names: Sequence[str] | None = None) -> float:
    """Fidelity of ``outputs`` to the original's ``reference`` outputs in [0, 1], each output
    scored by its default metric (:func:`choose_scoring`), the worst binding."""
    names = list(names or [f"output{k}" for k in range(len(reference))])
    scoring = choose_scoring(names, reference, labelled=False)
    return score(outputs, reference, scoring, names, split="")[0].value


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *(str(d) for d in shape[1:])]) + ")"
