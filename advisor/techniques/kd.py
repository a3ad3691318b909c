"""KD: response-based offline knowledge distillation into a compact student.

Source: Lee et al. 2022 (KD: teacher ResNet, MobileNet students, +4.5 points at the same size
and latency); Rachmanto et al. 2024 (KD ranked best: up to 11.4x smaller, 78.67% faster);
Hinton et al. 2015 (temperature-softened targets). The teacher's outputs come from the
*original* model run by onnxruntime, so an ONNX-only teacher works; labels are optional.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.errors import NotApplicable
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import build_student, count_params, onnx_params, student_reason
from advisor.training import fit

WIDTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class KDConfig(TechniqueConfig):
    width: float = param(1.0, choices=WIDTHS, search=(0.5, 1.0, 1.5, 2.0),
                         help="student width multiplier (MobileNet-style DSCNN; MLP for feature vectors)")
    epochs: float = param(15.0, valid=(0.05, 500.0), search=(10.0, 30.0), step=5.0,
                          help="distillation epochs (the student starts from scratch)")
    lr: float = param(1e-2, valid=(1e-5, 0.1), search=(3e-3, 3e-2), log=True,
                      help="AdamW learning rate (cosine decay)")
    temperature: float = param(4.0, valid=(1.0, 20.0), search=(2.0, 8.0),
                               help="softening temperature T of teacher and student outputs")
    alpha: float = param(0.9, valid=(0.0, 1.0), search=(0.5, 1.0), step=0.1,
                         help="weight of the soft (teacher) loss; 1 - alpha goes to labels if present")


def check_smaller(technique: str, student, model, width: float) -> int:
    """The student's parameter count; raises :class:`NotApplicable` unless it is smaller than ``model``."""
    n, teacher = count_params(student), onnx_params(model)
    if n >= teacher:
        raise NotApplicable(
            f"{technique}: the student at width {width} has {n:,} parameters, not fewer than the model's "
            f"{teacher:,}; choose a smaller width"
        )
    return n


@register
class KD(Technique):
    name = "KD"
    title = "knowledge distillation into a compact student"
    source = "Lee et al. 2022 (KD); Rachmanto et al. 2024; Hinton et al. 2015"
    Config = KDConfig
    trains = True
    keeps_torch = True

    def why_not(self, model, data, *, torch_available=None):
        return super().why_not(model, data, torch_available=torch_available) or student_reason(self.name, model)

    def apply(self, model, data, config: KDConfig, ctx: ApplyContext):
        student = build_student(model, config.width, ctx.run.seed)
        n = check_smaller(self.name, student, model, config.width)
        epochs = config.epochs * ctx.train_scale
        teacher = ctx.teacher_logits(data) if epochs > 0 else None
        result = fit(student, data.train, epochs=epochs, lr=config.lr, ctx=ctx.run,
                     stage=self.name, teacher_logits=teacher, temperature=config.temperature,
                     alpha=config.alpha, augment_pixels=0)
        ctx.notes.update(student=type(student).__name__, student_params=n, train_steps=result.steps,
                         train_seconds=round(result.seconds, 3))
        return ctx.export(student, model)
