"""CA: replace the model with a compact architecture trained from scratch on the labels.

Source: the overview (compact architectures: MobileNet/ShuffleNet-style depthwise-separable
networks for the tightest compute); Lee et al. 2022 (MobileNet v1-v3 as edge models). Unlike KD
it does not keep the user's architecture: it swaps in the project's fixed family (a DSCNN for
images, an MLP for feature vectors), so it is offered only when the labelled training data can
train a network from scratch, and for class-score models only.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._registry import register
from advisor.techniques._torchutil import build_student, student_reason
from advisor.techniques.kd import check_smaller
from advisor.training import fit

__all__ = ["CA", "CAConfig", "MIN_SAMPLES_PER_CLASS"]

WIDTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
# Below this many labelled training samples per class a network trained from scratch mostly
# memorises: distil the model into a smaller copy of itself (KD) instead. The ranking applies a
# stricter, measured rule on top (docs/ranking.md).
MIN_SAMPLES_PER_CLASS = 10


@dataclass(frozen=True)
class CAConfig(TechniqueConfig):
    width: float = param(1.0, choices=WIDTHS, search=(0.5, 1.0, 1.5, 2.0),
                         help="width multiplier of the MobileNet-style DSCNN (MLP for feature vectors)")
    epochs: float = param(15.0, valid=(0.05, 500.0), search=(10.0, 30.0), step=5.0,
                          help="training epochs (from scratch, on the labels)")
    lr: float = param(1e-2, valid=(1e-5, 0.1), search=(3e-3, 3e-2), log=True,
                      help="AdamW learning rate (cosine decay)")


def data_reason(technique: str, data) -> str | None:
    """Why the labelled training split is too small to train a network from scratch, or ``None``."""
    classes = data.num_classes or 2
    n = len(data.train)
    if data.labelled and n < MIN_SAMPLES_PER_CLASS * classes:
        return (
            f"{technique} trains a compact architecture from scratch, which needs at least "
            f"{MIN_SAMPLES_PER_CLASS} labelled training samples per class ({MIN_SAMPLES_PER_CLASS * classes} "
            f"for {classes} classes) and the training split has {n}: distil into a smaller copy (KD) instead"
        )
    return None


@register
class CA(Technique):
    name = "CA"
    title = "replace with a compact architecture (trained from scratch on the labels)"
    source = "the overview (compact architectures); Lee et al. 2022 (MobileNet family)"
    Config = CAConfig
    changes = "architecture"
    outputs = "class scores"
    needs_labels = True
    trains = True
    keeps_torch = True

    def training_cost(self, config: CAConfig) -> float:
        return 0.25  # the compact family is far smaller than a typical teacher

    def limits(self, model, data):
        return student_reason(self.name, model) or data_reason(self.name, data)

    def apply(self, model, data, config: CAConfig, ctx: ApplyContext):
        student = build_student(model, config.width, ctx.run.seed)
        n = check_smaller(self.name, student, model, f"compact family at width {config.width:g}")
        result = fit(student, data.train, epochs=config.epochs * ctx.train_scale, lr=config.lr, ctx=ctx.run,
                     stage=self.name, input_names=[i.name for i in model.inputs], deadline=ctx.deadline)
        ctx.notes.update(student=type(student).__name__, student_params=n, train_steps=result.steps,
                         train_seconds=round(result.seconds, 3))
        return ctx.export(student, model)
