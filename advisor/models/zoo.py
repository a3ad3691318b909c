"""Architectures the project ships: the built-in teacher and the compact students.

Every class here is a plain ``torch.nn.Module`` whose constructor takes only numbers, so that a
model is fully described by ``(class name, keyword arguments)`` and its ``state_dict``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResidualCNN", "DSCNN", "MLP", "TinyTransformer", "PlainCNN"]


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


class ResBlock(nn.Module):
    """Basic residual block (two 3x3 convolutions), with a 1x1 projection when shapes change."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, 3, stride)
        self.conv2 = _conv_bn(cout, cout, 3)
        self.short = None if (cin == cout and stride == 1) else _conv_bn(cin, cout, 1, stride)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act(self.conv1(x)))
        return self.act(y + (x if self.short is None else self.short(x)))


class ResidualCNN(nn.Module):
    """ResNet-style classifier: a stem, then ``blocks[i]`` residual blocks at ``widths[i]`` channels.

    The built-in teacher ``digits-cnn`` is ``ResidualCNN(widths=(32, 64, 128), blocks=(1, 1, 2))``
    on 1x32x32 inputs: about 0.9 M parameters and 90 M multiply-adds per image.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks: tuple[int, ...] = (1, 1, 2),
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(in_channels, widths[0]), nn.ReLU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(n):
                layers.append(ResBlock(cin, w, stride=2 if (i > 0 and j == 0) else 1))
                cin = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.body(self.stem(x))), 1))


class PlainCNN(nn.Module):
    """VGG-style stack of 3x3 convolutions with max-pooling, then two fully-connected layers."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = (32, 64, 128),
        hidden: int = 128,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for w in widths:
            layers += [_conv_bn(cin, w), nn.ReLU(), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        side = input_size // (2 ** len(widths))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DSBlock(nn.Module):
    """MobileNet v1 block: depthwise 3x3 then pointwise 1x1, each with batch-norm and ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin), nn.ReLU())
        self.pw = nn.Sequential(_conv_bn(cin, cout, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class DSCNN(nn.Module):
    """Compact depthwise-separable classifier (MobileNet v1 style) used as KD student and CA model.

    ``width`` scales every layer's channels (the MobileNet width multiplier); ``stride_stem``
    downsamples at once so that a 32x32 input costs little.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: float = 1.0,
        stride_stem: int = 2,
    ) -> None:
        super().__init__()

        def c(n: int) -> int:
            return max(4, int(round(n * width / 4)) * 4)

        plan = [(c(32), 1), (c(64), 2), (c(64), 1), (c(128), 2)]
        self.stem = nn.Sequential(_conv_bn(in_channels, c(16), 3, stride_stem), nn.ReLU())
        layers: list[nn.Module] = []
        cin = c(16)
        for cout, stride in plan:
            layers.append(DSBlock(cin, cout, stride))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.body(self.stem(x))), 1))


class MLP(nn.Module):
    """Fully-connected classifier over a flat feature vector (tabular data)."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_features
        for h in hidden:
            layers += [nn.Linear(cin, h), nn.ReLU()]
            cin = h
        layers.append(nn.Linear(cin, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.flatten(x, 1))


class TinyTransformer(nn.Module):
    """A small transformer encoder over image patches (or feature tokens), mean-pooled, then a head."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 32,
        patch: int = 4,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        tokens = (input_size // patch) ** 2
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.encoder(t).mean(1))
