"""Built-in models: ``builtin:NAME`` -> architecture, keyword arguments, shipped weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from advisor.models import zoo

__all__ = ["BuiltinModel", "BUILTIN_MODELS", "WEIGHTS_DIR"]

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class BuiltinModel:
    """A model that ships with the project: enough to rebuild it and load its weights."""

    name: str
    arch: str  # class name in advisor.models.zoo
    kwargs: dict = field(default_factory=dict)
    input_shape: tuple[int, ...] = (1, 32, 32)
    data: str = "builtin:digits"
    weights: str | None = None  # file name under WEIGHTS_DIR
    description: str = ""

    def build(self):
        return getattr(zoo, self.arch)(**self.kwargs)


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in [
        BuiltinModel(
            "digits-cnn",
            "ResidualCNN",
            {"in_channels": 1, "num_classes": 10, "widths": (32, 64, 128), "blocks": (1, 1, 2)},
            weights="digits-cnn.pt",
            description="residual CNN teacher for builtin:digits (0.6 M parameters, 1x32x32 input)",
        ),
    ]
}
