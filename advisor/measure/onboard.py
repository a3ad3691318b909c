"""The workstation's side of measuring on a target board: what to send, and the figures made from
what the board sends back (:mod:`advisor.measure.remote`).

The board returns raw figures -- every model's latency blocks from one interleaved run, per-sample
scores of the original and the candidate -- and the intervals and verdicts are made here, with the
same statistics as a local measurement (:mod:`advisor.measure.paired`). The board scores every
sample of a split (racing in chunks would need a round trip per look), so its drop is judged in
one look at the full confidence.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from advisor.budget import DEFAULT_CONFIDENCE
from advisor.data import DataSplits
from advisor.measure.quality import figure_of
from advisor.measure.race import race
from advisor.measure.remote import Request, Result, Target, pack_data
from advisor.types import DropFigure, LatencyStats, QualityFigure

__all__ = ["Board"]


class Board:
    """Measurements of one problem on a measuring target: the original and the data are sent once."""

    def __init__(self, target: Target, original: Path, inputs, data: DataSplits, scoring, threads: int,
                 spinning: bool, seconds: float) -> None:
        self.target, self.data, self.scoring = target, data, tuple(scoring)
        self.threads, self.spinning, self.seconds = threads, spinning, seconds
        self.original = target.send(Path(original))
        with tempfile.TemporaryDirectory(prefix="advisor-board-") as tmp:
            self.data_ref = target.send(pack_data(Path(tmp) / "eval.npz", {"validation": data.val, "test": data.test}))
        self.inputs = tuple((s.name, tuple(s.shape), s.dtype) for s in inputs)

    @property
    def device(self) -> str:
        return self.target.device

    def _ask(self, kind: str, paths: list[Path], splits: tuple[str, ...], label: str) -> Result:
        models = (self.original, *(self.target.send(Path(p)) for p in paths))
        req = Request(kind, models, self.data_ref, splits, tuple((s.name, s.metric) for s in self.scoring),
                      self.inputs, self.threads, self.spinning, self.seconds, label)
        return self.target.measure(req)

    def original_figures(self) -> tuple[LatencyStats, Result]:
        """The original timed alone on the board, and its own scores on validation and test."""
        res = self._ask("measure", [], ("validation", "test"), "the original")
        return res.latencies[0], res

    def measure(self, path: Path, *, splits: tuple[str, ...], confidence: float = DEFAULT_CONFIDENCE,
                label: str = "") -> tuple[tuple[LatencyStats, LatencyStats], dict[str, tuple], int]:
        """The candidate at ``path`` timed with the original in one run on the board, and per split
        its paired drop, its own figure and the per-output detail; and its peak memory."""
        res = self._ask("measure", [path], splits, label)
        figures = {split: self.figures(res, split, confidence) for split in splits}
        return (res.latencies[0], res.latencies[1]), figures, res.peak_memory_bytes

    def figures(self, res: Result, split: str, confidence: float) -> tuple[DropFigure, QualityFigure, dict]:
        part = self.data.val if split == "validation" else self.data.test
        got = res.scores[split]
        orig = {k: np.asarray(v) for k, v in got["original"].items()}
        cand = {k: np.asarray(v) for k, v in got["candidate"].items()}
        drop = race(lambda a, b: {k: v[a:b] for k, v in cand.items()}, orig,
                    metrics={s.name: s.metric for s in self.scoring}, limit_pts=None, split=split,
                    confidence=confidence, groups=part.groups)
        figure, detail = figure_of(cand, self.scoring, split)
        return drop, figure, detail

    def race(self, paths: list[Path]) -> list[LatencyStats]:
        """The original and ``paths`` timed together on the board until separated (the final race)."""
        return list(self._ask("race", list(paths), (), "the final race").latencies)

    def confirm(self, path: Path, confidence: float) -> tuple[DropFigure, QualityFigure]:
        res = self._ask("score", [path], ("test",), "the confirmation on test")
        drop, figure, _ = self.figures(res, "test", confidence)
        return drop, figure
