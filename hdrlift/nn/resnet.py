"""ResNet trunks (He et al. 2016) defined here, with any number of input channels (no torchvision).

``resnet_trunk("basic", [2, 2, 2, 2])`` is ResNet-18's convolutional part (conv1 7x7/2 + BN + ReLU,
max-pool 3x3/2, four stages of basic blocks with widths w, 2w, 4w, 8w); ``resnet_trunk("bottleneck",
[3, 2])`` is the first stages of ResNet-50 cut after res3b (what DuHDR's released code used for its
CRF networks). Global pooling and heads are left to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with an identity (or 1x1 projection) shortcut.

    Shape:
        (B, in_ch, H, W) -> (B, ch, H / stride, W / stride)
    """

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, ch, 1, stride, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (x4 channels) bottleneck with BN and a projection when needed.

    Shape:
        (B, in_ch, H, W) -> (B, 4 * ch, H / stride, W / stride)
    """

    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        out = ch * self.expansion
        self.conv1 = nn.Conv2d(in_ch, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """Stem + residual stages; stage ``i`` has width ``width * 2**i`` and stride 2 except stage 0.

    Args:
        in_ch: input channels (any; the stem conv is sized to it).
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50 family).
        layers: number of blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        width: stem / first-stage width (64 in the standard nets).

    Attributes:
        out_channels: channels of the returned feature map.

    Shape:
        (B, in_ch, H, W) -> (B, out_channels, ~H / 2^(1 + len(layers)), ~W / 2^(1 + len(layers)))
    """

    def __init__(self, in_ch: int, block: str = "basic", layers: Sequence[int] = (2, 2, 2, 2),
                 width: int = 64) -> None:
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"unknown ResNet block {block!r}; use 'basic' or 'bottleneck'")
        if not layers or any(int(n) < 1 for n in layers):
            raise ValueError(f"ResNet layers must be positive block counts, got {list(layers)}")
        cls: type[BasicBlock] | type[Bottleneck] = BasicBlock if block == "basic" else Bottleneck
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        stages = []
        ch_in = width
        for i, n in enumerate(layers):
            ch = width * 2**i
            blocks = []
            for j in range(int(n)):
                blocks.append(cls(ch_in, ch, 2 if (i > 0 and j == 0) else 1))
                ch_in = ch * cls.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = ch_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))
