"""FIQ: full-integer (static) INT8 quantization, weights and activations, QDQ format.

Source: Lee et al. 2022 (FIQ); onnxruntime quantization docs (QDQ is the recommended CPU format;
static per-channel INT8 with UInt8 activations takes the fast integer kernels on x86).
"""

from __future__ import annotations

from dataclasses import dataclass

from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._onnxq import ArrayReader, preprocess, quiet
from advisor.techniques._registry import register

_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


@dataclass(frozen=True)
class FIQConfig(TechniqueConfig):
    calibration_size: int = param(200, valid=(1, 5000), search=(100, 500), step=50,
                                  help="calibration samples (Lee et al.: ~100-500)")
    method: str = param("minmax", choices=tuple(_METHODS), help="how activation ranges are calibrated")
    per_channel: bool = param(True, choices=(True, False), search=(True,),
                              help="one weight scale per output channel (far less accuracy loss)")


def quantize_fiq(src, dst, data, cfg: FIQConfig, input_names: list[str]):
    """Static INT8 QDQ quantization of the ONNX file ``src`` into ``dst``; returns samples used."""
    reader = ArrayReader(data.calib, cfg.calibration_size, input_names)
    if reader.count == 0:
        raise TechniqueError("FIQ needs calibration samples and the data set has none")
    pre = preprocess(src, dst.with_name(dst.stem + ".pre.onnx"))
    try:
        with quiet():
            quantize_static(
                str(pre), str(dst), reader,
                quant_format=QuantFormat.QDQ,
                per_channel=cfg.per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=_METHODS[cfg.method],
                extra_options={"CalibMaxIntermediateOutputs": 64} if cfg.method != "minmax" else None,
            )
    except Exception as e:  # noqa: BLE001 - onnxruntime raises many types; the trial records it
        raise TechniqueError(f"FIQ: onnxruntime static quantization failed: {str(e).splitlines()[0][:240]}") from None
    finally:
        if pre != src:
            pre.unlink(missing_ok=True)
    return reader.count


@register
class FIQ(Technique):
    name = "FIQ"
    title = "static INT8 (full-integer, QDQ)"
    source = "Lee et al. 2022 (FIQ); onnxruntime static quantization (QDQ, per-channel)"
    Config = FIQConfig
    needs_calibration = True

    def apply(self, model, data, config, ctx: ApplyContext):
        out = ctx.workdir / "fiq.onnx"
        used = quantize_fiq(model.onnx_path, out, data, config, [i.name for i in model.inputs])
        ctx.notes["calibration_samples"] = used
        return model.derive(out, None)
