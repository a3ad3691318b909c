"""The model zoo behind the seed knowledge base and the ranking benchmark.

Six families x three sizes, each trained briefly on data that ships offline: scikit-learn's
digits (as 1x32x32 images) and its bundled tabular sets (breast cancer, wine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from advisor.data import Dataset, DataSplits, split
from advisor.data._digits import load_digits_splits
from advisor.models import model_from_module
from advisor.models.zoo import DSCNN, MLP, PlainCNN, ResidualCNN, TinyTransformer
from advisor.progress import RunContext
from advisor.training import evaluate_accuracy, fit

__all__ = ["ZooModel", "ZOO", "tabular", "trained"]


@dataclass(frozen=True)
class ZooModel:
    family: str
    name: str
    build: Callable[[], nn.Module]
    data: str  # "digits", "breast_cancer" or "wine"
    epochs: float
    lr: float = 2e-3


def _digits() -> DataSplits:
    return load_digits_splits("input")


def tabular(name: str) -> DataSplits:
    """A scikit-learn tabular set, standardised with training-split statistics."""
    from sklearn import datasets

    bunch = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}[name]()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    s = split(f"builtin-tabular:{name}", Dataset({"input": x}, y), seed=0, num_classes=int(y.max()) + 1)
    mu, sd = s.train.inputs["input"].mean(0), s.train.inputs["input"].std(0) + 1e-6

    def norm(d: Dataset) -> Dataset:
        return Dataset({"input": ((d.inputs["input"] - mu) / sd).astype(np.float32)}, d.labels)

    return replace(s, train=norm(s.train), calib=norm(s.calib), val=norm(s.val), test=norm(s.test))


ZOO: list[ZooModel] = [
    ZooModel("plain-cnn", "plain-cnn-s", lambda: PlainCNN(widths=(8, 16), hidden=32), "digits", 4),
    ZooModel("plain-cnn", "plain-cnn-m", lambda: PlainCNN(widths=(16, 32, 64), hidden=64), "digits", 4),
    ZooModel("plain-cnn", "plain-cnn-l", lambda: PlainCNN(widths=(32, 64, 128, 128), hidden=256), "digits", 4),
    ZooModel("resnet", "resnet-s", lambda: ResidualCNN(widths=(8, 16, 32), blocks=(1, 1, 1)), "digits", 10),
    ZooModel("resnet", "resnet-m", lambda: ResidualCNN(widths=(16, 32, 64), blocks=(1, 1, 1)), "digits", 4),
    ZooModel("resnet", "resnet-l", lambda: ResidualCNN(widths=(24, 48, 96), blocks=(1, 1, 2)), "digits", 4),
    ZooModel("dscnn", "dscnn-s", lambda: DSCNN(width=0.5), "digits", 20, 1e-2),
    ZooModel("dscnn", "dscnn-m", lambda: DSCNN(width=1.0), "digits", 15, 1e-2),
    ZooModel("dscnn", "dscnn-l", lambda: DSCNN(width=2.5, stride_stem=1), "digits", 6),
    ZooModel("mlp-digits", "mlp-digits-s", lambda: MLP(1024, 10, (64,)), "digits", 8),
    ZooModel("mlp-digits", "mlp-digits-m", lambda: MLP(1024, 10, (256, 256)), "digits", 8),
    ZooModel("mlp-digits", "mlp-digits-l", lambda: MLP(1024, 10, (768, 768, 768)), "digits", 6),
    ZooModel("mlp-tabular", "mlp-cancer-s", lambda: MLP(30, 2, (32,)), "breast_cancer", 30),
    ZooModel("mlp-tabular", "mlp-cancer-m", lambda: MLP(30, 2, (256, 256)), "breast_cancer", 30),
    ZooModel("mlp-tabular", "mlp-wine-l", lambda: MLP(13, 3, (512, 512, 512)), "wine", 60),
    ZooModel("transformer", "transformer-s", lambda: TinyTransformer(dim=32, depth=1, heads=2), "digits", 25, 1e-3),
    ZooModel("transformer", "transformer-m", lambda: TinyTransformer(dim=64, depth=2, heads=4), "digits", 25, 1e-3),
    ZooModel("transformer", "transformer-l", lambda: TinyTransformer(dim=96, depth=3, heads=4), "digits", 25, 1e-3),
]


def load(name: str) -> DataSplits:
    return _digits() if name == "digits" else tabular(name)


def trained(z: ZooModel, workdir: Path, ctx: RunContext | None = None):
    """Build, train briefly (seed 0) and export ``z``; returns ``(Model, DataSplits, test accuracy)``."""
    import torch

    torch.manual_seed(0)
    data = load(z.data)
    module = z.build()
    fit(module, data.train, epochs=z.epochs, lr=z.lr, ctx=ctx or RunContext(torch_threads=2), stage=z.name,
        augment_pixels=2 if z.data == "digits" else 0)
    acc = evaluate_accuracy(module, data.test)
    shape = tuple(next(iter(data.test.inputs.values())).shape[1:])
    model = model_from_module(f"zoo:{z.name}", module, shape, workdir / z.name)
    return model, data, acc


def iter_zoo(families: set[str] | None = None) -> Iterator[ZooModel]:
    for z in ZOO:
        if families is None or z.family in families:
            yield z
