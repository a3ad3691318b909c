"""Tiny real models and data for the technique tests (loaded as ``tests.techniques.nets:FACTORY``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

SHAPE = (1, 16, 16)
CLASSES = 4


class TinyResCNN(nn.Module):
    """A small residual CNN (~57 k parameters) for 1x16x16 inputs and 4 classes.

    Big enough that a compact student is smaller, with a residual addition so that structured
    pruning must keep the two branches' channels consistent.
    """

    input_shape = SHAPE

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.res = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64))
        self.fc = nn.Linear(64, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(self.stem(x))
        y = torch.relu(y + self.res(y))
        return self.fc(y.mean((2, 3)))


def tiny_res_cnn() -> nn.Module:
    return TinyResCNN()


def make_data(path: Path, n: int = 180, labels: bool = True) -> Path:
    """A learnable toy task: the class is the brightest quadrant of a noisy 16x16 image."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, n)
    x = rng.random((n, *SHAPE), dtype=np.float32) * 0.5
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, 0, r * 8 : r * 8 + 8, q * 8 : q * 8 + 8] += 0.5
    arrays = {"input": x, "labels": y} if labels else {"input": x}
    np.savez(path, **arrays)
    return path


def trained_weights(path: Path, data: Path, epochs: int = 30) -> Path:
    """Train the tiny model briefly on ``data`` (so pruning and distillation have something to keep)."""
    model = TinyResCNN()
    with np.load(data) as f:
        x, y = torch.from_numpy(f["input"]), torch.from_numpy(f["labels"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    torch.save(model.state_dict(), path)
    return path


class FragileMLP(nn.Module):
    """An MLP whose middle layer ``fc2`` has, in every row, one weight 1000 times larger than the
    rest, on an input channel that is always zero (so the float model ignores it). One INT8 scale
    per row then rounds every other weight of that row to zero: static INT8 wrecks exactly
    this layer, and keeping it in float repairs the model."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, CLASSES)
        with torch.no_grad():
            self.fc1.weight[0] = 0.0
            self.fc1.bias[0] = -1.0  # relu(-1) = 0: channel 0 is always zero
            self.fc2.weight[:, 0] = 1e3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class MaskedAttention(nn.Module):
    """One self-attention block over ``x`` [N, T, 16] with an ``attention_mask`` [N, T] (1 = token,
    0 = padding) turned into an additive bias of ``-inf`` or the dtype minimum, as transformers
    do; returns the mean of the attended tokens, an embedding (not class scores)."""

    def __init__(self, fill: str = "min", d: int = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fill = fill

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask[:, None, :].to(x.dtype)
        if self.fill == "inf":
            bias = torch.where(m > 0, torch.zeros_like(m), torch.full_like(m, float("-inf")))
        else:
            bias = (1.0 - m) * torch.finfo(x.dtype).min
        a = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / 4.0 + bias, -1)
        return self.o(a @ self.v(x)).mean(1)


def export(module: nn.Module, example: tuple, names: list[str], path: Path) -> Path:
    """Export with the legacy exporter (fast), a free batch axis on every input and the output."""
    axes = {n: {0: "b"} for n in [*names, "out"]}
    torch.onnx.export(module.eval(), example, str(path), dynamo=False, opset_version=17,
                      input_names=names, output_names=["out"], dynamic_axes=axes)
    return path


# --- models of other shapes (issue 12): residual + depthwise, embedding, two outputs, two inputs


class MBBlock(nn.Module):
    """MobileNet-v2 style: expand 1x1, depthwise 3x3, project 1x1, residual add when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 2) -> None:
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class ResDW(nn.Module):
    """Stem, then two stages of repeated residual depthwise blocks, then a classifier."""

    input_shape = SHAPE

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(MBBlock(16, 16), MBBlock(16, 16), MBBlock(16, 32, 2), MBBlock(32, 32),
                                    MBBlock(32, 32))
        self.head = nn.Linear(32, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def res_dw() -> nn.Module:
    return ResDW()


class EmbedNet(ResDW):
    """An image encoder: a sequence of 4 L2-normalised 8-d embeddings per image, shape (N, 4, 8)."""

    def __init__(self) -> None:
        super().__init__(classes=32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.head(self.features(x)).reshape(-1, 4, 8), dim=2)


class TwoOutNet(ResDW):
    """Class scores (N, 4) and an embedding (N, 8) from one trunk."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor):
        f = self.features(x)
        return self.head(f), self.embed(f)


class TwoInNet(nn.Module):
    """A state-carrying cell: an image and the previous state (N, 16) in; a score (N, 1) and the
    next state (N, 16) out."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
        self.cell = nn.Linear(32 + 16, 64)
        self.state = nn.Linear(64, 16)
        self.score = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor):
        z = torch.tanh(self.cell(torch.cat([self.conv(x).mean((2, 3)), h], 1)))
        return torch.sigmoid(self.score(z)), torch.tanh(self.state(z))


def wrong_student() -> nn.Module:
    """A student whose output (N, 3) does not match the tiny models' (N, 4)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3))


def small_student() -> nn.Module:
    """A student whose output matches the tiny classifiers' (N, 4)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 4))
