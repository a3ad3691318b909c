"""CA: a compact architecture trained from the data alone (hard labels, no teacher).

Source: the overview (compact architectures: MobileNet/ShuffleNet-style depthwise-separable
networks for the tightest compute); Lee et al. 2022 (MobileNet v1-v3 as edge models). It is
KD's control: the same student family and budget without the teacher, so the advice can show
what distillation adds.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import build_student, student_reason
from advisor.techniques.kd import WIDTHS, check_smaller
from advisor.training import fit


@dataclass(frozen=True)
class CAConfig(TechniqueConfig):
    width: float = param(1.0, choices=WIDTHS, search=(0.5, 1.0, 1.5, 2.0),
                         help="width multiplier of the MobileNet-style DSCNN (MLP for feature vectors)")
    epochs: float = param(15.0, valid=(0.05, 500.0), search=(10.0, 30.0), step=5.0,
                          help="training epochs (from scratch, on the labels)")
    lr: float = param(1e-2, valid=(1e-5, 0.1), search=(3e-3, 3e-2), log=True,
                      help="AdamW learning rate (cosine decay)")


@register
class CA(Technique):
    name = "CA"
    title = "compact architecture trained on the labels"
    source = "the overview (compact architectures); Lee et al. 2022 (MobileNet family)"
    Config = CAConfig
    needs_labels = True
    trains = True
    keeps_torch = True

    def why_not(self, model, data, *, torch_available=None):
        return super().why_not(model, data, torch_available=torch_available) or student_reason(self.name, model)

    def apply(self, model, data, config: CAConfig, ctx: ApplyContext):
        student = build_student(model, config.width, ctx.run.seed)
        n = check_smaller(self.name, student, model, config.width)
        result = fit(student, data.train, epochs=config.epochs * ctx.train_scale, lr=config.lr, ctx=ctx.run,
                     stage=self.name)
        ctx.notes.update(student=type(student).__name__, student_params=n, train_steps=result.steps,
                         train_seconds=round(result.seconds, 3))
        return ctx.export(student, model)
