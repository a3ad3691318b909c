"""Shared helpers for the onnxruntime quantization techniques (BLQ, FIQ, MPQ, INT8 after torch
steps): pre-processing, calibration that survives attention masks, and quiet logging.

Static INT8 needs every quantized tensor's range. Transformers add an attention mask as
``(1 - mask) * -inf`` or ``* finfo.min``: those tensors' calibrated ranges are infinite or
~1e38, so their scale is NaN or so coarse that every real value rounds to zero. :func:`calibrate`
finds them (a histogram calibrator that meets ``inf`` is re-run without those tensors) and
:func:`unbounded_nodes` names the nodes that touch them, which the quantizer then leaves in float.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, quant_pre_process
from onnxruntime.quantization.calibrate import (
    EntropyCalibrater,
    MinMaxCalibrater,
    PercentileCalibrater,
    TensorsData,
    load_tensors_data,
    save_tensors_data,
)

from advisor.data import Dataset
from advisor.profiling import cpu_isa

__all__ = [
    "preprocess",
    "ArrayReader",
    "quiet",
    "toposort",
    "calibrate",
    "load_ranges",
    "unbounded_tensors",
    "unbounded_nodes",
    "CALIBRATION_METHODS",
    "UNBOUNDED",
    "float_inputs",
    "REDUCE_RANGE_MODES",
    "int8_saturates",
    "reduce_range",
]

UNBOUNDED = 1e30
"""A calibrated range beyond +-this is a -inf / dtype-minimum fill (a mask), not a signal."""

CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
REDUCE_RANGE_MODES = ("auto", "on", "off")
_VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}


def int8_saturates(isa: Iterable[str] | None = None) -> bool:
    """Whether INT8 products can saturate on this CPU (or one with ``isa``): x86 with AVX2 or
    AVX-512 but no VNNI computes u8 x s8 products with ``vpmaddubsw``, whose int16 sums of pairs
    overflow for large weights and activations (onnxruntime's quantization docs; seen here on an
    AVX2-only AMD EPYC: a masked attention block at cosine 0.93 instead of 0.99+). VNNI, AMX and
    ARM kernels do not saturate."""
    have = set(cpu_isa() if isa is None else isa)
    return bool({"avx2", "avx512f", "avx512bw"} & have) and not (_VNNI & have)


def reduce_range(mode: str, isa: Iterable[str] | None = None) -> bool:
    """``reduce_range`` for onnxruntime's quantizers: 7-bit weights ``on``, 8-bit ``off``, or
    ``auto``: 7-bit where INT8 products can saturate (:func:`int8_saturates`)."""
    if mode not in REDUCE_RANGE_MODES:
        raise ValueError(f"reduce_range must be one of {', '.join(REDUCE_RANGE_MODES)}, got {mode!r}")
    return mode == "on" or (mode == "auto" and int8_saturates(isa))


_CHUNK = 16  # samples per collect_data call: calibrators hold every activation of a call in memory
_CALIBRATERS = {"minmax": MinMaxCalibrater, "entropy": EntropyCalibrater, "percentile": PercentileCalibrater}


@contextlib.contextmanager
def quiet():
    """Silence onnxruntime.quantization's logging and warnings chatter."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def preprocess(src: Path, dst: Path) -> Path:
    """``quant_pre_process`` (ONNX shape inference + graph optimisation) as ORT recommends before
    quantizing, written to ``dst`` with every node named (so nodes can be left in float by name).

    Symbolic shape inference is skipped: it fails on transformer graphs (and then writes
    ``sym_shape_infer_temp.onnx`` and ``*.data`` files into the current directory); ONNX shape
    inference is enough. If pre-processing fails, ``dst`` is ``src`` with named nodes.
    """
    try:
        with quiet():
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        model = onnx.load(str(dst))
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation, never required
        model = onnx.load(str(src))
    seen: set[str] = set()
    for i, n in enumerate(model.graph.node):
        if not n.name or n.name in seen:
            n.name = f"{n.op_type}_{i}"
        seen.add(n.name)
    onnx.save(model, str(dst))
    return dst


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

    def items(self) -> list[dict]:
        """The samples, each a dict input name -> array with a leading batch."""
        return list(self._items)

    def rewind(self) -> None:
        self._it = iter(self._items)

    def chunks(self, size: int) -> list[ArrayReader]:
        """Readers over consecutive ``size``-item parts (a histogram calibrator holds every
        activation of what it is fed in memory until the end of a ``collect_data`` call)."""
        out = []
        for i in range(0, len(self._items), size):
            part = ArrayReader.__new__(ArrayReader)
            part._items, part.count = self._items[i : i + size], len(self._items[i : i + size])
            part._it = iter(part._items)
            out.append(part)
        return out


def _bounded(lo: float, hi: float) -> bool:
    return math.isfinite(lo) and math.isfinite(hi) and max(abs(lo), abs(hi)) < UNBOUNDED


def unbounded_tensors(ranges: TensorsData) -> list[str]:
    """Tensors whose calibrated range is infinite, NaN or a dtype-minimum fill (sorted)."""
    out = []
    for name, td in ranges.items():
        lo, hi = td.range_value
        if not _bounded(float(np.min(lo)), float(np.max(hi))):
            out.append(name)
    return sorted(out)


def unbounded_nodes(model_path: Path, tensors: Iterable[str]) -> list[str]:
    """Names of the nodes that produce or consume any of ``tensors`` (they stay in float)."""
    bad = set(tensors)
    model = onnx.load(str(model_path), load_external_data=False)
    return [n.name for n in model.graph.node if bad & (set(n.input) | set(n.output))]


class _Hits(Exception):
    """A histogram calibrator met non-finite values."""


def _calibrator(method: str, model: Path, op_types: list[str] | None, aug: Path, skip: set[str]):
    base = _CALIBRATERS[method]

    class Skipping(base):  # the chosen calibrator, minus the tensors known to be unbounded
        def select_tensors_to_calibrate(self, m):
            tensors, infos = super().select_tensors_to_calibrate(m)
            return tensors - skip, infos

    cal = Skipping(str(model), op_types, str(aug))
    cal.augment_graph()
    cal.create_inference_session()
    return cal


def calibrate(model: Path, reader: ArrayReader, method: str, op_types: list[str] | None, cache: Path) -> TensorsData:
    """Calibrate ``model`` (pre-processed) on ``reader``'s samples and save the ranges to ``cache``
    (onnxruntime's calibration-cache JSON, which ``quantize_static(calibration_cache_path=...)``
    reuses, so one calibration serves many quantizations).

    A histogram method (entropy, percentile) cannot bin a tensor holding ``inf``: such tensors
    are found with a min-max pass and left out of the histogram pass (their nodes stay in float).
    """
    skip: set[str] = set()
    with tempfile.TemporaryDirectory(dir=cache.parent, prefix="calib-") as tmp:
        if method != "minmax":
            try:
                return _collect(method, model, op_types, Path(tmp), reader, skip, cache)
            except _Hits:
                reader.rewind()
                found = _collect("minmax", model, op_types, Path(tmp), reader, skip, None)
                skip = set(unbounded_tensors(found))
                reader.rewind()
                ranges = _collect(method, model, op_types, Path(tmp), reader, skip, None)
                merged = {k: found[k] for k in skip} | dict(ranges.items())
                ranges = TensorsData(ranges.calibration_method, merged)
                save_tensors_data(ranges, cache)
                return ranges
        return _collect(method, model, op_types, Path(tmp), reader, skip, cache)


def _collect(method, model, op_types, tmp: Path, reader, skip, cache: Path | None) -> TensorsData:
    cal = _calibrator(method, model, op_types, tmp / f"aug-{method}.onnx", skip)
    try:
        for part in reader.chunks(_CHUNK):  # each call folds its samples into the ranges
            cal.collect_data(part)
    except ValueError as e:
        if "finite" in str(e):
            raise _Hits() from None
        raise
    ranges = cal.compute_data()
    del cal
    if cache is not None:
        save_tensors_data(ranges, cache)
    return ranges


def load_ranges(cache: Path) -> TensorsData:
    """The ranges :func:`calibrate` saved."""
    return load_tensors_data(cache)


def float_inputs(qdq_path: Path, pre_path: Path, nodes: Iterable[str], dst: Path | None = None) -> int:
    """Make ``nodes`` of the QDQ model at ``qdq_path`` read float activations, in place.

    ``nodes_to_exclude`` keeps a node's weights float, but its input still arrives through a
    Quantize/DequantizeLinear pair when the producer is quantized, and onnxruntime's graph
    optimizer then fuses that DequantizeLinear with the float node into an integer kernel with
    weights quantized on the fly (measured: a layer "kept in float" was as wrong as before).
    Each such input is rewired to the float tensor before the pair; where the quantizer had
    folded a Relu/Clip into that pair, the activation is put back for this reader. A weight or
    bias still arriving INT8 (a node not excluded at quantization) is replaced by the float
    initializer, so one node can be put back in float without quantizing again. The result is
    written to ``dst`` (default: in place). Returns the number of rewired inputs."""
    keep = set(nodes)
    if not keep:
        if dst is not None and Path(dst) != Path(qdq_path):
            onnx.save(onnx.load(str(qdq_path)), str(dst))
        return 0
    model = onnx.load(str(qdq_path))
    pre = onnx.load(str(pre_path), load_external_data=False)
    g = model.graph
    made_by = {o: n for n in g.node for o in n.output}
    made_by_pre = {o: n for n in pre.graph.node for o in n.output}
    pre_nodes = {n.name: n for n in pre.graph.node}
    inits = {t.name for t in g.initializer}
    pre_inits = {t.name: t for t in pre.graph.initializer}
    added, rewired = [], 0
    for n in g.node:
        if n.name not in keep:
            continue
        for k, name in enumerate(n.input):
            dq = made_by.get(name)
            if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in inits:
                orig_in = pre_nodes[n.name].input[k] if n.name in pre_nodes else ""
                if orig_in in pre_inits:  # an INT8 weight or bias: back to the float one
                    fname = orig_in if orig_in not in made_by else f"{orig_in}_float"
                    if fname not in inits:
                        t = onnx.TensorProto()
                        t.CopyFrom(pre_inits[orig_in])
                        t.name = fname
                        g.initializer.append(t)
                        inits.add(fname)
                    n.input[k] = fname
                    rewired += 1
                continue
            q = made_by.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear":
                continue
            src = q.input[0]
            orig = made_by_pre.get(src)
            if orig is not None and made_by.get(src) is not None and made_by[src].name != orig.name \
                    and orig.op_type in ("Relu", "Clip"):
                act = onnx.NodeProto()
                act.CopyFrom(orig)
                act.name = f"{orig.name}_for_{n.name}"
                act.input[0] = src
                del act.output[:]
                act.output.append(f"{src}_float_for_{n.name}")
                for extra in list(act.input)[1:]:
                    if extra and extra not in inits and extra in pre_inits:
                        g.initializer.append(pre_inits[extra])
                        inits.add(extra)
                added.append((n, act))
                src = act.output[0]
            n.input[k] = src
            rewired += 1
    for reader, act in added:  # each restored activation goes just before its reader
        g.node.insert(list(g.node).index(reader), act)
    onnx.save(model, str(dst or qdq_path))
    return rewired


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
