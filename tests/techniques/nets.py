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
