"""FIQ: full-integer (static) INT8 quantization, weights and activations.

Source: Lee et al. 2022 (FIQ); onnxruntime static quantization (``quantize_static``: QDQ or
QOperator format, per-channel weights, UInt8/Int8 activations, MinMax/Entropy/Percentile
calibration, op types to quantize). Nodes whose calibrated range is not finite (an attention
mask's additive ``-inf`` or dtype-minimum fill) are left in float and listed in the notes.
With ``bias_correction`` (QDQ only), each quantized layer's bias absorbs the mean output shift
its weight rounding causes (Nagel et al. 2019, section 4.2; see :mod:`._biascorr`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._biascorr import correct_bias
from advisor.techniques._onnxq import (
    CALIBRATION_METHODS,
    REDUCE_RANGE_MODES,
    ArrayReader,
    calibrate,
    float_inputs,
    preprocess,
    quiet,
    reduce_range,
    unbounded_nodes,
    unbounded_tensors,
)
from advisor.techniques._registry import register

__all__ = ["FIQ", "FIQConfig", "StaticQuantizer", "quantize_fiq", "OP_SETS"]

OP_SETS: dict[str, list[str] | None] = {
    "all": None,  # every op type onnxruntime can quantize
    "matmul": ["MatMul", "Gemm"],  # transformers: the projections, not the attention softmax/mask
}
_FORMATS = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
_ACTIVATIONS = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
BIAS_MODES = ("local", "sequential", "off")


@dataclass(frozen=True)
class FIQConfig(TechniqueConfig):
    calibration_size: int = param(200, valid=(1, 5000), search=(100, 500), step=100,
                                  help="calibration samples, capped by the calibration split "
                                       "(Lee et al.: ~100-500)")
    method: str = param("minmax", choices=tuple(CALIBRATION_METHODS),
                        help="how activation ranges are calibrated")
    per_channel: bool = param(True, choices=(True, False),
                              help="one weight scale per output channel (far less accuracy loss)")
    format: str = param("qdq", choices=tuple(_FORMATS),
                        help="qdq: Quantize/DequantizeLinear pairs; qoperator: QLinearConv/QLinearMatMul")
    activations: str = param("uint8", choices=tuple(_ACTIVATIONS),
                             help="activation type: uint8 (asymmetric by default) or int8")
    symmetric: bool = param(False, choices=(False, True),
                            help="symmetric activation ranges (zero point at the middle)")
    ops: str = param("all", choices=tuple(OP_SETS),
                     help="op types to quantize: all, or MatMul/Gemm only (transformers)")
    bias_correction: str = param("local", choices=BIAS_MODES,
                                 help="subtract each layer's mean output shift from its bias (QDQ "
                                      "only): local = its weight rounding's shift (Nagel et al. "
                                      "2019), sequential = then layer by layer the whole shift")
    float_ends: bool = param(False, choices=(False, True),
                             help="keep the first and the last Conv/Gemm/MatMul (stem, classifier) "
                                  "in float")
    reduce_range: str = param("auto", choices=REDUCE_RANGE_MODES, search=("auto",),
                              help="7-bit weights: auto = where this CPU's INT8 products can saturate "
                                   "(x86 AVX2/AVX-512 without VNNI), on, off")

BIAS_SAMPLES = 64
"""Calibration samples the bias correction measures input means on (Lite1: 64 and 100 gave the
same agreement; each sample is one run of the quantized model)."""
SEQUENTIAL_SAMPLES = 32
"""Calibration samples of the layer-by-layer stage (one run of the model per layer and sample)."""


class StaticQuantizer:
    """One pre-processing and one calibration of a model, then any number of static INT8
    quantizations of it (each may leave more nodes in float; see MPQ).

    Attributes:
        pre: the pre-processed ONNX file (every node named).
        samples: calibration samples used.
        left_float: nodes always left in float: they touch a tensor whose calibrated range is not
            finite (attention masks).
    """

    def __init__(self, src: Path, workdir: Path, data, cfg: FIQConfig, input_names: list[str]) -> None:
        self.cfg = cfg
        self.reduce_range = reduce_range(cfg.reduce_range)
        reader = ArrayReader(data.calib, cfg.calibration_size, input_names)
        if reader.count == 0:
            raise TechniqueError("FIQ needs calibration samples and the data set has none")
        self.samples = reader.count
        self.feeds = reader.items()[:BIAS_SAMPLES]
        self.bias_corrected = 0
        self.bias_correction_failed = ""
        workdir.mkdir(parents=True, exist_ok=True)
        self.pre = preprocess(Path(src), workdir / "fiq.pre.onnx")
        self.cache = workdir / "fiq.ranges.json"
        try:
            with quiet():
                ranges = calibrate(self.pre, reader, cfg.method, OP_SETS[cfg.ops], self.cache)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises many types; the trial records it
            raise TechniqueError(f"FIQ: calibration failed: {_line(e)}") from None
        self.unbounded = unbounded_tensors(ranges)
        self.left_float = unbounded_nodes(self.pre, self.unbounded)
        self.ends = [n for n in end_layers(self.pre) if n not in self.left_float] if cfg.float_ends else []

    def quantize(self, dst: Path, exclude: list[str] | tuple[str, ...] = ()) -> Path:
        """Static INT8 of the model into ``dst``, leaving :attr:`left_float` and ``exclude`` in float."""
        cfg = self.cfg
        try:
            with quiet():
                quantize_static(
                    str(self.pre), str(dst), None,
                    quant_format=_FORMATS[cfg.format],
                    op_types_to_quantize=OP_SETS[cfg.ops],
                    per_channel=cfg.per_channel,
                    activation_type=_ACTIVATIONS[cfg.activations],
                    weight_type=QuantType.QInt8,
                    reduce_range=self.reduce_range,
                    calibrate_method=CALIBRATION_METHODS[cfg.method],
                    nodes_to_exclude=[*self.left_float, *self.ends, *exclude],
                    calibration_cache_path=str(self.cache),
                    extra_options={"ActivationSymmetric": cfg.symmetric},
                )
            float_inputs(dst, self.pre, [*self.left_float, *self.ends, *exclude])
            if cfg.bias_correction != "off" and cfg.format == "qdq":
                self._correct(dst)
        except Exception as e:  # noqa: BLE001
            raise TechniqueError(f"FIQ: onnxruntime static quantization failed: {_line(e)}") from None
        return dst

    def _correct(self, dst: Path) -> None:
        """Bias correction of ``dst`` in place; a failure leaves the uncorrected model (noted)."""
        seq = self.feeds[:SEQUENTIAL_SAMPLES] if self.cfg.bias_correction == "sequential" else None
        try:
            self.bias_corrected = correct_bias(dst, self.pre, self.feeds, sequential=seq)["layers"]
        except Exception as e:  # noqa: BLE001 - an optimisation: the quantized model stands without it
            self.bias_correction_failed = _line(e)

    def close(self) -> None:
        """Remove the pre-processed model and the ranges."""
        self.pre.unlink(missing_ok=True)
        self.cache.unlink(missing_ok=True)


def end_layers(path: Path) -> list[str]:
    """The first and the last Conv/Gemm/MatMul node of the (topologically ordered) model."""
    graph = onnx.load(str(path), load_external_data=False).graph
    nodes = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    return list(dict.fromkeys(nodes[:1] + nodes[-1:]))


def _line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:240]


def quantize_fiq(src, dst, data, cfg: FIQConfig, input_names: list[str], notes: dict | None = None) -> int:
    """Static INT8 quantization of the ONNX file ``src`` into ``dst``; returns the calibration
    samples used. ``notes`` (if given) gets the nodes left in float."""
    dst = Path(dst)
    work = dst.with_name(dst.stem + ".work")
    try:
        q = StaticQuantizer(Path(src), work, data, cfg, input_names)
        q.quantize(dst)
        if notes is not None:
            notes.update(float_notes(q))
            if q.bias_corrected:
                notes["bias_corrected_layers"] = q.bias_corrected
            if q.bias_correction_failed:
                notes["bias_correction_skipped"] = q.bias_correction_failed
        return q.samples
    finally:
        shutil.rmtree(work, ignore_errors=True)


def float_notes(q: StaticQuantizer) -> dict:
    """What the advice says about nodes left in float (range not finite, or ``float_ends``)."""
    out = {"float_ends": ", ".join(q.ends)} if q.ends else {}
    if q.reduce_range:
        out["reduce_range"] = "7-bit weights: this CPU's INT8 products can saturate (x86 without VNNI)"
    if not q.left_float:
        return out
    shown = ", ".join(q.left_float[:8]) + (f" (+{len(q.left_float) - 8} more)" if len(q.left_float) > 8 else "")
    return out | {"left_in_float": len(q.left_float),
                  "left_in_float_why": f"calibrated range not finite (mask / -inf fill): {shown}"}


@register
class FIQ(Technique):
    name = "FIQ"
    title = "static INT8 (full-integer)"
    source = "Lee et al. 2022 (FIQ); onnxruntime static quantization (QDQ/QOperator, per-channel)"
    Config = FIQConfig
    precision = "int8"
    needs_calibration = True

    def apply(self, model, data, config, ctx: ApplyContext):
        out = ctx.workdir / "fiq.onnx"
        ctx.notes["calibration_samples"] = quantize_fiq(model.onnx_path, out, data, config,
                                                        [i.name for i in model.inputs], ctx.notes)
        return model.derive(out, None)
