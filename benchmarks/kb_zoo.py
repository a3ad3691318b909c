"""The model zoo behind the seed knowledge base and the ranking benchmark.

Six small families x three sizes, each trained briefly on data that ships offline: scikit-learn's
digits (as 1x32x32 images) and its bundled tabular sets (breast cancer, wine). Plus models people
deploy, at their real input sizes (``REAL_ZOO``): pretrained EfficientNet-Lite1/Lite2 (offline
weight packages), ResNet- and MobileNet-style CNNs at 224x224 with random initialisation (latency
records; their agreement figures are not those of trained weights), and a BERT-style encoder
(random initialisation) at 32 and 128 tokens. Their data: 200 unlabelled natural-image crops of
scikit-learn's two sample photos, or 200 random token sequences of varied true length.
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
from benchmarks.real_zoo import efficientnet

__all__ = ["ZooModel", "ZOO", "RealModel", "REAL_ZOO", "tabular", "trained", "iter_zoo", "iter_real", "build_real"]


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


# --- real-scale models -----------------------------------------------------------------------

REAL_SAMPLES = 200


@dataclass(frozen=True)
class RealModel:
    """A model at deployment scale: ``kind`` is ``image`` (3xSxS input) or ``text`` (token ids
    and attention mask of ``size`` tokens); ``torch`` False exports it and keeps only the ONNX
    file (the plain-ONNX path, no training possible)."""

    family: str
    name: str
    build: Callable[[], nn.Module]
    kind: str
    size: int
    init: str  # "pretrained (package)" or "random (seed 0)"
    torch: bool = True


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return (self.body(x) + self.skip(x)).relu()


def resnet224(width: float = 1.0, blocks: tuple[int, ...] = (2, 2, 2, 2)) -> nn.Module:
    """ResNet-18-style network for 3x224x224 inputs (``width`` scales the 64..512 channels)."""
    w = [max(8, int(c * width)) for c in (64, 128, 256, 512)]
    layers: list[nn.Module] = [nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1)]
    cin = w[0]
    for stage, (c, n) in enumerate(zip(w, blocks, strict=True)):
        for k in range(n):
            layers.append(_Basic(cin, c, 2 if (k == 0 and stage > 0) else 1))
            cin = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000))


class _Inverted(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            *([nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6()] if expand != 1 else []),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


def mobilenet224(width: float = 1.0) -> nn.Module:
    """MobileNetV2-style network for 3x224x224 inputs."""
    def ch(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8)

    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    cin = ch(32)
    layers: list[nn.Module] = [nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6()]
    for t, c, n, s in cfg:
        for k in range(n):
            layers.append(_Inverted(cin, ch(c), s if k == 0 else 1, t))
            cin = ch(c)
    last = max(1280, ch(1280))
    layers += [nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
               nn.Flatten(), nn.Linear(last, 1000)]
    return nn.Sequential(*layers)


class BertEncoder(nn.Module):
    """BERT-style encoder returning the mask-weighted mean of the last hidden state, L2-normalised."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        self.bert = BertModel(BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                         intermediate_size=1536, vocab_size=30522))

    def forward(self, input_ids, attention_mask):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-6)


REAL_ZOO: list[RealModel] = [
    RealModel("efficientnet-lite", "efficientnet-lite1", lambda: efficientnet("lite1"), "image", 240,
              "pretrained (package)"),
    RealModel("efficientnet-lite", "efficientnet-lite2", lambda: efficientnet("lite2"), "image", 260,
              "pretrained (package)", torch=False),
    RealModel("resnet-224", "resnet18-224", lambda: resnet224(), "image", 224, "random (seed 0)"),
    RealModel("resnet-224", "resnet10-224-w0.5", lambda: resnet224(0.5, (1, 1, 1, 1)), "image", 224, "random (seed 0)",
              torch=False),
    RealModel("mobilenet-224", "mobilenetv2-224", lambda: mobilenet224(), "image", 224, "random (seed 0)"),
    RealModel("mobilenet-224", "mobilenetv2-224-w0.5", lambda: mobilenet224(0.5), "image", 224, "random (seed 0)",
              torch=False),
    RealModel("bert-encoder", "bert6-384-seq32", BertEncoder, "text", 32, "random (seed 0)", torch=False),
    RealModel("bert-encoder", "bert6-384-seq128", BertEncoder, "text", 128, "random (seed 0)", torch=False),
]


def image_crops(size: int, n: int = REAL_SAMPLES, seed: int = 0) -> np.ndarray:
    """``n`` random square crops of scikit-learn's two sample photos, resized with antialiasing to
    ``size``, random horizontal flips, scaled to [-1, 1]: float32 [n, 3, size, size]."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    out = np.empty((n, 3, size, size), np.float32)
    for k in range(n):
        img = photos[k % len(photos)]
        h, w = img.shape[:2]
        side = int(rng.integers(120, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.Resampling.LANCZOS)
        arr = np.asarray(crop, np.float32) / 127.5 - 1.0
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        out[k] = arr.transpose(2, 0, 1)
    return out


def token_batches(seq: int, n: int = REAL_SAMPLES, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` random token sequences of true length 8..``seq``, padded to ``seq`` (mask zeros)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 30000, (n, seq)).astype(np.int64)
    lengths = rng.integers(min(8, seq), seq + 1, n)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    ids[:, 0] = 101
    return {"input_ids": ids * mask, "attention_mask": mask}


def build_real(z: RealModel, workdir: Path):
    """Build ``z`` (seed 0), export it and make its unlabelled data: ``(Model, DataSplits)``."""
    import torch

    from advisor.models import export_onnx, load_model
    from advisor.types import TensorSpec

    torch.manual_seed(0)
    module = z.build().eval()
    if z.kind == "image":
        data = split(f"crops:{z.size}x{REAL_SAMPLES}", Dataset({"input": image_crops(z.size)}, None), seed=0)
        if z.torch:
            return model_from_module(f"real:{z.name}", module, (3, z.size, z.size), workdir / z.name), data
        specs = (TensorSpec("input", (None, 3, z.size, z.size), "float32"),)
        out_names: tuple[str, ...] = ("logits",)
    else:
        data = split(f"tokens:{z.size}x{REAL_SAMPLES}", Dataset(token_batches(z.size), None), seed=0)
        specs = (TensorSpec("input_ids", (None, z.size), "int64"),
                 TensorSpec("attention_mask", (None, z.size), "int64"))
        out_names = ("embedding",)
    path = export_onnx(module, specs, out_names, workdir / z.name / f"{z.name}.onnx")
    return load_model(str(path), workdir=workdir / z.name), data


def iter_real(families: set[str] | None = None, names: set[str] | None = None) -> Iterator[RealModel]:
    for z in REAL_ZOO:
        if (families is None or z.family in families) and (names is None or z.name in names):
            yield z
