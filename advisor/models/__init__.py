"""Model intake: ``builtin:NAME``, ``.onnx`` files, a PyTorch factory (``module:factory`` or
``path/to/file.py:factory``, see :mod:`advisor.models._factory`) + weights.

Example:
    >>> m = load_model("builtin:digits-cnn", workdir=Path(tempfile.mkdtemp()))  # doctest: +SKIP
    >>> m.inputs[0].shape, m.has_torch  # doctest: +SKIP
    ((None, 1, 32, 32), True)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from advisor.errors import InputError
from advisor.models._builtin import BUILTIN_MODELS, WEIGHTS_DIR, BuiltinModel
from advisor.models._export import export_onnx
from advisor.models._factory import (
    FACTORY_FORMS,
    FactorySpec,
    anchored_spec,
    is_factory_spec,
    one_line,
    parse_factory,
    resolve_factory,
)
from advisor.models._model import Model
from advisor.models.graph import GraphInfo, describe
from advisor.types import TensorSpec

__all__ = [
    "Model",
    "GraphInfo",
    "BUILTIN_MODELS",
    "BuiltinModel",
    "describe",
    "export_onnx",
    "load_model",
    "model_from_module",
    "load_state_dict",
    "import_factory",
    "resolve_factory",
    "parse_factory",
    "is_factory_spec",
    "anchored_spec",
    "FactorySpec",
    "FACTORY_FORMS",
    "onnx_specs",
    "parse_input_shape",
]

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def load_model(
    spec: str,
    *,
    workdir: Path,
    weights: str | Path | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Model:
    """Load the model ``spec`` names; torch models are exported to ONNX under ``workdir``.

    Args:
        spec: ``builtin:NAME``, a path to an ``.onnx`` file, ``module:factory`` (the current folder
            first, then the import path) or ``path/to/file.py:factory``.
        workdir: scratch folder for exported graphs (never the user's folder).
        weights: a ``state_dict`` file for a factory model (loaded with ``weights_only=True``).
        input_shape: one sample's shape (no batch) for a factory model, e.g. ``(3, 64, 64)``.

    Raises:
        InputError: with one line naming the problem (missing file, corrupt ONNX, refused weights...).
    """
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_MODELS:
            raise InputError(f"unknown built-in model '{name}'; built-ins: {', '.join(sorted(BUILTIN_MODELS))}")
        b = BUILTIN_MODELS[name]
        module = b.build()
        if b.weights:
            module.load_state_dict(load_state_dict(WEIGHTS_DIR / b.weights))
        return model_from_module(spec, module, b.input_shape, workdir, ("logits",))
    if spec.lower().endswith(".onnx") or Path(spec).is_file():
        return _from_onnx(spec)
    if is_factory_spec(spec):
        if weights is None:
            raise InputError(f"model {spec}: a PyTorch factory needs --weights STATE_DICT.pt")
        module = import_factory(spec)
        module.load_state_dict(_checked(spec, module, load_state_dict(Path(weights))))
        shape = input_shape or getattr(module, "input_shape", None)
        if shape is None:
            raise InputError(f"model {spec}: give --input-shape (one sample, e.g. 1x32x32) for a PyTorch factory")
        return model_from_module(spec, module, tuple(shape), workdir, ("output",))
    raise InputError(f"model not found: {spec} (expected builtin:NAME, a .onnx file, module:factory or "
                     "path/to/file.py:factory)")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1x32x32"`` -> ``(1, 32, 32)``; raises :class:`InputError` naming the bad part."""
    try:
        dims = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise InputError(f"--input-shape must look like 1x32x32, got '{text}'") from None
    if not dims or any(d <= 0 for d in dims):
        raise InputError(f"--input-shape must be positive integers like 1x32x32, got '{text}'")
    return dims


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` from ``path``, refusing anything that is not plain tensors."""
    if not path.is_file():
        raise InputError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "refused"
        raise InputError(
            f"weights file {path} is not a plain state_dict: torch refused to load it with "
            f"weights_only=True ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise InputError(f"weights file {path} cannot be read: {str(e).splitlines()[0][:200]}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(f"weights file {path} does not hold a state_dict (a mapping of names to tensors)")
    for k, v in obj.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise InputError(f"weights file {path}: tensor '{k}' contains NaN or Inf")
    return obj


def _checked(spec: str, module: torch.nn.Module, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{'...' if len(unexpected) > 3 else ''}")
        raise InputError(f"weights do not fit model {spec}: {'; '.join(parts)}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise InputError(
                f"weights do not fit model {spec}: '{k}' has shape {list(v.shape)}, model has {list(own[k].shape)}"
            )
    return sd


def import_factory(spec: str, what: str = "model") -> torch.nn.Module:
    """The module the factory ``spec`` names builds (called without arguments): ``module:factory``
    (the current folder first, then the import path) or ``path/to/file.py:factory``, resolved by
    :func:`resolve_factory`. Every failure is an :class:`InputError` naming ``what`` the factory is
    for (``model``, ``KD.student``) and what was tried."""
    factory, origin = resolve_factory(spec, what)
    try:
        module = factory()
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        where = f" ({origin})" if origin is not None else ""
        raise InputError(f"{what} factory {spec}{where} failed: {type(e).__name__}: {one_line(e)}") from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"{what} factory {spec} returned {type(module).__name__}, not a torch.nn.Module")
    return module


def model_from_module(
    spec: str, module: torch.nn.Module, shape: tuple[int, ...], workdir: Path, out_names: tuple[str, ...] = ("logits",)
) -> Model:
    """A :class:`Model` from an in-memory PyTorch module with one float input of ``shape`` (no batch)."""
    module = module.eval()
    inputs = (TensorSpec("input", (None, *shape), "float32"),)
    path = export_onnx(module, inputs, out_names, workdir / "baseline.onnx")
    onnx_model = _from_onnx(str(path))
    return Model(spec, path, onnx_model.inputs, onnx_model.outputs, module)


def onnx_specs(path: Path | str) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output specs of the ONNX model at ``path``, as onnxruntime sees them."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def spec(a) -> TensorSpec:
        if a.type not in _ORT_TYPES:
            raise InputError(f"model {path}: tensor '{a.name}' has type {a.type}, which is not supported")
        dims = tuple(d if isinstance(d, int) and d > 0 else None for d in a.shape)
        return TensorSpec(a.name, dims, _ORT_TYPES[a.type])

    return tuple(spec(a) for a in sess.get_inputs()), tuple(spec(a) for a in sess.get_outputs())


def _from_onnx(spec: str) -> Model:
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"model not found: {spec}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - protobuf/checker errors come in many types
        raise InputError(f"model {spec} is not a valid ONNX file: {one_line(e)}") from None
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    for t in model.graph.initializer:
        if t.data_type in floats and not np.all(np.isfinite(numpy_helper.to_array(t))):
            raise InputError(f"model {spec}: weight '{t.name}' contains NaN or Inf")
    try:
        inputs, outputs = onnx_specs(path)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise InputError(f"model {spec} does not load in onnxruntime: {one_line(e)}") from None
    return Model(spec, path.resolve(), inputs, outputs, None)
