"""The contract every compression technique keeps.

A technique is one small module: a ``Config`` dataclass that declares its parameters (validation
range, search range, help) and validates itself, plus a :class:`Technique` subclass that says what
it needs and turns a :class:`~advisor.models.Model` into a compressed one. Registration is one
decorator (:func:`advisor.techniques.register`), so adding a technique touches one file.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from advisor.errors import InputError, NotApplicable, OverTime
from advisor.measure.quality import choose_scoring, run_outputs
from advisor.models import export_onnx
from advisor.progress import RunContext
from advisor.training import DENSE, LOGITS, SKIP, output_kinds

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from advisor.data import DataSplits
    from advisor.models import Model

__all__ = ["Technique", "TechniqueConfig", "ApplyContext", "param", "PRECISIONS", "CHANGES"]


def param(
    default: Any,
    *,
    valid: tuple[float, float] | None = None,
    search: tuple[float, float] | None = None,
    choices: tuple[Any, ...] | None = None,
    log: bool = False,
    step: float | None = None,
    help: str = "",
) -> Any:
    """Declare a technique parameter.

    Args:
        default: value when the user gives none.
        valid: inclusive ``(low, high)`` a user may set; values outside raise an error naming it.
        search: inclusive ``(low, high)`` the search explores (within ``valid``).
        choices: allowed values of a categorical parameter (all are searched unless ``search``).
        log: search on a log scale.
        step: search grid step for numbers (ints default to 1).
        help: one line for ``--help``, docs and the TUI.
    """
    meta = {"valid": valid, "search": search, "choices": choices, "log": log, "step": step, "help": help}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TechniqueConfig:
    """Base of every technique's parameters; validates types and ranges in ``__post_init__``."""

    technique: ClassVar[str] = "?"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            meta = f.metadata
            kind = type(f.default)
            if kind is bool:
                if not isinstance(v, bool):
                    raise InputError(self._msg(f.name, "a boolean (true/false)", v))
            elif kind is int:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise InputError(self._msg(f.name, "an integer" + _range(meta.get("valid")), v))
            elif kind is float:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                    raise InputError(self._msg(f.name, "a number" + _range(meta.get("valid")), v))
                object.__setattr__(self, f.name, float(v))
            if meta.get("choices") is not None and v not in meta["choices"]:
                raise InputError(self._msg(f.name, "one of " + ", ".join(map(str, meta["choices"])), v))
            lo_hi = meta.get("valid")
            if lo_hi is not None and not (lo_hi[0] <= v <= lo_hi[1]):
                what = "an integer" if kind is int else "a number"
                raise InputError(self._msg(f.name, what + _range(lo_hi), v))
        self.check()

    def check(self) -> None:
        """Cross-parameter validation; override and raise :class:`InputError` naming the field."""

    def _msg(self, name: str, expected: str, got: Any) -> str:
        return f"The '{name}' parameter of {self.technique} must be {expected}. Got {got!r}."

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TechniqueConfig:
        """Build from plain values (CLI ``--param``, JSON, Optuna params); unknown keys are errors."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise InputError(f"{cls.technique} has no parameter '{unknown[0]}' (its parameters: {known})")
        coerced = {k: _coerce(v, type(names[k].default)) for k, v in values.items()}
        return cls(**coerced)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def params(cls) -> list[dict[str, Any]]:
        """Each parameter's name, type, default, ranges and help (for docs, CLI and the TUI)."""
        out = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            out.append(
                {
                    "name": f.name,
                    "type": type(f.default).__name__,
                    "default": f.default,
                    "valid": m.get("valid"),
                    "search": m.get("search"),
                    "choices": m.get("choices"),
                    "help": m.get("help", ""),
                }
            )
        return out

    @classmethod
    def suggest(cls, trial: optuna.Trial, prefix: str, fixed: dict[str, Any] | None = None) -> TechniqueConfig:
        """Sample a config from each parameter's search range (parameters without one keep their
        default); ``fixed`` values are used as given. Optuna names are ``prefix + name``."""
        fixed = fixed or {}
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            m = f.metadata
            key = prefix + f.name
            if f.name in fixed:
                values[f.name] = fixed[f.name]
            elif m.get("choices") is not None and m.get("search") is None:
                values[f.name] = trial.suggest_categorical(key, list(m["choices"]))
            elif m.get("search") is not None and isinstance(m["search"], tuple) and m.get("choices") is not None:
                values[f.name] = trial.suggest_categorical(key, list(m["search"]))
            elif m.get("search") is not None:
                lo, hi = m["search"]
                if type(f.default) is int:
                    values[f.name] = trial.suggest_int(key, int(lo), int(hi), log=m.get("log", False),
                                                       step=int(m.get("step") or 1))
                else:
                    values[f.name] = trial.suggest_float(key, float(lo), float(hi), log=m.get("log", False),
                                                         step=None if m.get("log") else m.get("step"))
        return cls(**values)


def _range(lo_hi: tuple[float, float] | None) -> str:
    return "" if lo_hi is None else f" in [{lo_hi[0]}, {lo_hi[1]}]"


def _coerce(v: Any, kind: type) -> Any:
    """Strings from the command line -> the parameter's type (validation happens afterwards)."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if kind is bool:
        low = s.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        return s
    if kind is int:
        try:
            return int(s)
        except ValueError:
            return s
    if kind is float:
        try:
            return float(s)
        except ValueError:
            return s
    return s


@dataclass
class ApplyContext:
    """What :meth:`Technique.apply` gets besides the model, data and config.

    Attributes:
        run: progress and cancellation.
        workdir: scratch folder for this step's files (unique per step).
        original: the user's model as loaded (the teacher for distillation).
        teacher_cache: the original model's outputs on the training split, computed once, lazily.
        train_scale: multiplier on training epochs: the search grows it for promising candidates.
        notes: facts the step reports for the advice (e.g. achieved sparsity), filled by ``apply``.
        deadline: ``time.monotonic()`` value the whole compression must end by (``None``: no
            limit); training loops stop there (:class:`~advisor.errors.OverTime`).
    """

    run: RunContext
    workdir: Path
    original: Model
    train_scale: float = 1.0
    notes: dict[str, Any] = field(default_factory=dict)
    teacher_cache: dict[str, list[np.ndarray]] = field(default_factory=dict)
    deadline: float | None = None

    def teacher_outputs(self, data: DataSplits) -> list[np.ndarray]:
        """Every output of the original model on the training split (run by onnxruntime, so any
        teacher works), computed once per cache (the caller may share one cache across many
        compressions of the same problem)."""
        key = f"{self.original.onnx_path}|{len(data.train)}"
        if key not in self.teacher_cache:
            self.teacher_cache[key] = run_outputs(self.original.onnx_path, data.train)
        return self.teacher_cache[key]

    def output_kinds(self, data: DataSplits) -> list[str]:
        """The loss kind of each of the original's outputs, decided by the same rule that chooses
        how each output is scored (:func:`advisor.measure.quality.choose_scoring`, run on the
        teacher's outputs): class scores -> ``logits`` (KL + cross-entropy), any other float output
        (embeddings, regression, state, a 1-unit probability) -> ``dense``, integer -> ``skip``."""
        outs = self.teacher_outputs(data)
        if not outs or not len(outs[0]):
            return output_kinds(self.original.outputs, classifier=self.original.is_classifier,
                                num_classes=data.num_classes if data.labelled else None)
        names = [o.name for o in self.original.outputs]
        scoring = choose_scoring(names, outs, labelled=False)
        return [SKIP if np.asarray(o).dtype.kind != "f" else LOGITS if s.metric == "agreement" else DENSE
                for o, s in zip(outs, scoring, strict=True)]

    def check(self) -> None:
        """Raise :class:`~advisor.errors.Cancelled` if stopped, :class:`~advisor.errors.OverTime`
        past the deadline (for technique loops other than training)."""
        self.run.check()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise OverTime("stopped at the compression-time limit")

    def export(self, module: nn.Module, like: Model, name: str = "model.onnx") -> Model:
        """Export ``module`` with ``like``'s input/output names into this step's folder."""
        path = export_onnx(module, like.inputs, tuple(o.name for o in like.outputs), self.workdir / name)
        return like.derive(path, module)


#: What a technique's output computes in (its ``precision`` capability).
PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")
#: What a technique changes in the model (its ``changes`` capability).
CHANGES = ("precision", "zeros", "channels", "factors", "student", "architecture")


class Technique(ABC):
    """One compression technique. Subclasses set the class attributes and implement :meth:`apply`.

    The class attributes are the technique's *capabilities*: everything else in the advisor (the
    candidate list, the search space and its chains, the ranking rules, ``why_not``) reads them
    instead of naming techniques, so adding a technique is one module (plus its doc page).

    Attributes:
        name: short name used everywhere (``FIQ``, ``KD``...), from research.md's vocabulary.
        title: a few words for people.
        source: the paper or documentation it comes from.
        Config: its :class:`TechniqueConfig` subclass (parameters, validation, search ranges).
        precision: what the compressed model computes in: ``fp32``, ``fp16``, ``int8`` (static:
            INT8 weights and activations, calibrated) or ``int8-dynamic`` (INT8 weights,
            activations quantized at run time or left float).
        changes: what it changes: ``precision``, ``zeros`` (unstructured zeros in dense weights),
            ``channels`` (removes channels), ``factors`` (low-rank factors of layers), ``student``
            (a smaller copy trained against the original) or ``architecture`` (a different,
            compact network trained from scratch).
        outputs: which model outputs it supports: ``any``, or ``class scores`` (one (N, classes)
            float output).
        needs_torch: needs the PyTorch module (fine-tuning, pruning...).
        needs_labels: needs labelled data (distillation does not: the teacher labels).
        needs_calibration: needs calibration samples.
        trains: spends training time (so the compression-time budget matters). A technique that
            trains without labels fine-tunes against the original's outputs, so it needs a float
            output to learn from.
        keeps_torch: its output still has a PyTorch module (so torch steps may follow it).
        searched: tried by the default search (``False``: only when named).
        then: techniques that follow it as a chain in the default search (``("FIQ",)`` puts
            ``X+FIQ`` in the search space).
        needs_torch_reason: the sentence ``why_not`` gives when the PyTorch module is missing
            (default: a generic one naming the technique).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]
    Config: ClassVar[type[TechniqueConfig]]
    precision: ClassVar[str] = "fp32"
    changes: ClassVar[str] = "precision"
    outputs: ClassVar[str] = "any"
    needs_torch: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    needs_calibration: ClassVar[bool] = False
    trains: ClassVar[bool] = False
    keeps_torch: ClassVar[bool] = False
    searched: ClassVar[bool] = True
    then: ClassVar[tuple[str, ...]] = ()
    needs_torch_reason: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "precision", None) not in PRECISIONS:
            raise TypeError(f"{cls.__name__}.precision must be one of {', '.join(PRECISIONS)}; got {cls.precision!r}")
        if getattr(cls, "changes", None) not in CHANGES:
            raise TypeError(f"{cls.__name__}.changes must be one of {', '.join(CHANGES)}; got {cls.changes!r}")
        if cls.outputs not in ("any", "class scores"):
            raise TypeError(f"{cls.__name__}.outputs must be 'any' or 'class scores'; got {cls.outputs!r}")

    @property
    def post_training(self) -> bool:
        """Needs calibration samples at most, never training."""
        return not self.trains

    @property
    def fine_tunes(self) -> bool:
        """Trains against the original model's outputs (not against labels)."""
        return self.trains and not self.needs_labels

    def from_scratch(self, trainable: bool) -> bool:
        """Whether it trains a network from random weights on this model (``trainable``: a
        PyTorch source is present). A new architecture always does; a student derived from the
        model does only when there is no source to derive it from."""
        return self.changes == "architecture" or (self.changes == "student" and not trainable)

    def why_not(self, model: Model, data: DataSplits, *, torch_available: bool | None = None) -> str | None:
        """``None`` if the technique can apply, else a sentence the advice can show.

        Checks the declared capabilities (PyTorch module, labels, calibration samples, a float
        output to fine-tune against), then :meth:`limits`, then the outputs it supports. ``torch_available`` overrides
        ``model.has_torch`` when a strategy checks a later step (an earlier step such as KD may
        provide the PyTorch module).
        """
        has_torch = model.has_torch if torch_available is None else torch_available
        if self.needs_torch and not has_torch:
            return self.needs_torch_reason or (
                f"{self.name} needs the PyTorch model to fine-tune: give --model package.module:factory "
                f"with --weights (an ONNX file cannot be trained here)"
            )
        if self.needs_labels and not data.labelled:
            return f"{self.name} needs labelled data (this data set has no labels)"
        if self.needs_calibration and len(data.calib) == 0:
            return f"{self.name} needs calibration samples and the data set has none"
        if self.fine_tunes and not any(np.dtype(o.dtype).kind == "f" for o in model.outputs):
            return (f"{self.name} fine-tunes against the original model's outputs, and none of this model's "
                    f"outputs is a float tensor")
        reason = self.limits(model, data)
        if reason is None and self.outputs == "class scores" and not model.is_classifier:
            reason = (f"{self.name} trains a compact classifier, and this model's output is not one "
                      f"(N, classes) tensor of class scores")
        return reason

    def needs_torch_with(self, config: TechniqueConfig) -> bool:
        """Whether this configuration needs the PyTorch module (e.g. distillation into a named
        student needs only the teacher's outputs). Default: :attr:`needs_torch`."""
        return self.needs_torch

    def training_cost(self, config: TechniqueConfig) -> float:
        """Training cost per sample and epoch relative to the original model's forward+backward
        pass, for predicting compression time (a thinner student is cheaper). Default 1."""
        return 1.0

    def limits(self, model: Model, data: DataSplits) -> str | None:
        """Technique-specific reasons it cannot apply beyond the declared capabilities (e.g. a
        student family that takes one image input), or ``None``. The default has none."""
        return None

    def validate(self, model: Model, config: TechniqueConfig) -> None:
        """Check ``config`` against ``model`` before any work (e.g. a named student's outputs);
        raise :class:`InputError` naming the parameter. The default checks nothing."""
        return None

    def config(self, values: dict[str, Any] | None = None) -> TechniqueConfig:
        return self.Config.from_dict(values or {})

    def run(self, model: Model, data: DataSplits, config: TechniqueConfig, ctx: ApplyContext) -> Model:
        """Check applicability (for this configuration), then :meth:`apply`."""
        reason = self.why_not(model, data, torch_available=model.has_torch or not self.needs_torch_with(config))
        if reason is not None:
            raise NotApplicable(reason)
        return self.apply(model, data, config, ctx)

    @abstractmethod
    def apply(self, model: Model, data: DataSplits, config: TechniqueConfig, ctx: ApplyContext) -> Model:
        """Return the compressed model (its ONNX file written under ``ctx.workdir``)."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "precision": self.precision,
            "changes": self.changes,
            "outputs": self.outputs,
            "needs_torch": self.needs_torch,
            "needs_labels": self.needs_labels,
            "needs_calibration": self.needs_calibration,
            "trains": self.trains,
            "keeps_torch": self.keeps_torch,
            "searched": self.searched,
            "then": list(self.then),
            "applies_to_onnx_only": not self.needs_torch,
            "params": self.Config.params(),
        }
