"""F16: weights (and compute) in FP16, inputs and outputs kept FP32.

Source: Lee et al. 2022 (F16: half size, ~no accuracy change); onnxruntime's float16 converter.
On CPU execution providers it is a size option, rarely a speed one (inserted casts): measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16

from advisor.errors import TechniqueError
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._onnxq import quiet, toposort
from advisor.techniques._registry import register


@dataclass(frozen=True)
class F16Config(TechniqueConfig):
    keep_io_types: bool = param(True, choices=(True, False), search=(True,),
                                help="keep FP32 inputs/outputs so callers need not change")


@register
class F16(Technique):
    name = "F16"
    title = "FP16 weights"
    source = "Lee et al. 2022 (F16); onnxruntime float16 converter"
    Config = F16Config
    precision = "fp16"

    def apply(self, model, data, config, ctx: ApplyContext):
        out = ctx.workdir / "f16.onnx"
        try:
            with quiet():
                m16 = convert_float_to_float16(onnx.load(str(model.onnx_path)), keep_io_types=config.keep_io_types)
            onnx.save(toposort(m16), str(out))
        except Exception as e:  # noqa: BLE001
            raise TechniqueError(f"F16: conversion failed: {str(e).splitlines()[0][:240]}") from None
        return model.derive(out, None)
