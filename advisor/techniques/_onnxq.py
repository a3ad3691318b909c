"""Shared helpers for the onnxruntime quantization techniques (BLQ, FIQ, and INT8 after torch steps)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, quant_pre_process

from advisor.data import Dataset

__all__ = ["preprocess", "ArrayReader", "quiet"]


@contextlib.contextmanager
def quiet():
    """Silence onnxruntime.quantization's logging and warnings chatter."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def preprocess(src: Path, dst: Path) -> Path:
    """``quant_pre_process`` (ONNX shape inference + graph optimisation) as ORT recommends before
    quantizing; ``src`` unchanged if it fails. Symbolic shape inference is skipped: it fails on
    transformer graphs and then writes ``sym_shape_infer_temp.onnx`` and ``*.data`` files into the
    current directory; ONNX shape inference is enough for static batch-1 quantization."""
    try:
        with quiet():
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        return dst
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation, never required
        return src


class ArrayReader(CalibrationDataReader):
    """Feeds calibration samples one batch at a time to onnxruntime's calibrator."""

    def __init__(self, data: Dataset, count: int, input_names: list[str], batch: int = 1) -> None:
        n = min(count, len(data))
        self._items = [
            {k: np.ascontiguousarray(data.inputs[k][i : i + batch]) for k in input_names}
            for i in range(0, n, batch)
        ]
        self.count = n
        self._it = iter(self._items)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._items)


def toposort(model):
    """Order ``model.graph.node`` so every node comes after the producers of its inputs (some
    converters, e.g. onnxruntime's float16 one, append cast nodes at the end; onnxruntime runs
    such graphs but the ONNX checker and other runtimes refuse them)."""
    g = model.graph
    known = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    pending = list(g.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:  # a cycle or a dangling input: leave the rest as it was
            ordered.extend(pending)
            break
        for n in ready:
            ordered.append(n)
            known.update(n.output)
        pending = [n for n in pending if n not in ready]
    del g.node[:]
    g.node.extend(ordered)
    return model
