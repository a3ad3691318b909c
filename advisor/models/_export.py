"""PyTorch -> ONNX export with the input/output names and free batch dimension of the original."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advisor.errors import TechniqueError
from advisor.types import TensorSpec

__all__ = ["export_onnx", "OPSET"]

OPSET = 17


def export_onnx(
    module: nn.Module,
    inputs: tuple[TensorSpec, ...],
    output_names: tuple[str, ...],
    path: Path,
) -> Path:
    """Export ``module`` (in eval mode) to ``path`` with a free batch dimension, in one file.

    Uses the TorchScript exporter (``dynamo=False``): on this project's models it exports in
    ~0.2 s where the dynamo exporter takes ~3.5 s, and the search exports every trial's model.
    It falls back to the dynamo exporter if TorchScript tracing fails.
    """
    module = module.eval()
    examples = tuple(
        torch.from_numpy(np.zeros(spec.concrete(batch=2), dtype=np.dtype(spec.dtype))) for spec in inputs
    )
    names_in = [s.name for s in inputs]
    dyn = {n: {0: "batch"} for n in [*names_in, *output_names]}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, examples, str(path), dynamo=False, opset_version=OPSET,
                input_names=names_in, output_names=list(output_names), dynamic_axes=dyn,
                do_constant_folding=True,
            )
    except Exception as first:  # noqa: BLE001 - any tracing failure: try the other exporter
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                batch = torch.export.Dim("batch", min=1)
                prog = torch.onnx.export(
                    module, examples, dynamo=True, external_data=False,
                    input_names=names_in, output_names=list(output_names),
                    dynamic_shapes=tuple({0: batch} for _ in examples),
                )
                prog.save(str(path), external_data=False)
        except Exception as second:  # noqa: BLE001
            raise TechniqueError(
                f"cannot export the PyTorch model to ONNX: {first}; dynamo exporter: {second}"
            ) from None
    return path
