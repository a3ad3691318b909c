"""The one model type every stage passes along: a deployable ONNX file, plus the PyTorch module
when we have it (training-based techniques need it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.types import TensorSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Model"]


@dataclass(frozen=True)
class Model:
    """A model in deployable form.

    Attributes:
        source: what the user named (``builtin:digits-cnn``, a path, ``pkg.mod:factory``).
        onnx_path: the ONNX graph onnxruntime runs; always present and valid.
        inputs: input names, shapes (``None`` = free dimension) and types.
        outputs: output names, shapes and types.
        module: the PyTorch module behind ``onnx_path``, or ``None`` for an ONNX-only model
            (or once a step such as INT8 quantization made the ONNX graph the only form).
    """

    source: str
    onnx_path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    module: nn.Module | None = None

    @property
    def has_torch(self) -> bool:
        return self.module is not None

    @property
    def is_classifier(self) -> bool:
        """One output of shape (N, C) with C > 1: class logits (top-1 metrics apply)."""
        if len(self.outputs) != 1:
            return False
        shape = self.outputs[0].shape
        return len(shape) == 2 and shape[1] is not None and shape[1] > 1

    @property
    def num_outputs_per_sample(self) -> int | None:
        if not self.is_classifier:
            return None
        return self.outputs[0].shape[1]

    def derive(self, onnx_path: Path, module: nn.Module | None) -> Model:
        """The same model's interface, with a new graph (and module, or ``None``)."""
        return replace(self, onnx_path=onnx_path, module=module)
