"""Receptive Field Block (Liu et al. 2018) with batch norm, and DuHDR's multi-scale SE (MS-SE) block.

``RFB``: three dilated branches (dilation 1, 2, 3) concatenated, fused by a 1x1 conv and added, scaled
by 0.1, to a 1x1 shortcut; every conv has BatchNorm (ordinary ``nn.BatchNorm2d``: batch statistics in
``train()`` mode, running statistics in ``eval()`` mode - the released TF code froze BN at its initial
statistics, which is not reproduced). ``RFBDown`` = ``AvgPool2d(2)`` + ``RFB`` (OOnet's DownBlock).

``MSSE`` is the bottleneck adjustment of DuHDR's OOnet: a stride-2 feature branch through a chain of
``MSSEUnit`` (depth-wise 3/5/7 convs summed -> squeeze-and-excitation -> 1x1 conv, residual), brought
back to the input resolution by pixel shuffle and fused with a full-resolution branch.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(in_ch: int, out_ch: int, kernel: int, dilation: int = 1, relu: bool = True) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RFB(nn.Module):
    """Receptive Field Block: ``ReLU(scale * fuse(cat(b0, b1, b2)) + shortcut(x))``.

    Branch widths follow RFBNet with ``t = max(1, in_ch // 8)``: b0 1x1->2t, 3x3->2t; b1 1x1->t,
    3x3->2t, 3x3 dil 2->2t; b2 1x1->t, 3x3->1.5t, 3x3->2t, 3x3 dil 3->2t (no ReLU after the last
    conv of a branch); fuse 1x1 6t->out_ch; shortcut 1x1 in_ch->out_ch (both BN, no ReLU).

    Shape:
        (B, in_ch, H, W) -> (B, out_ch, H, W)
    """

    def __init__(self, in_ch: int, out_ch: int, scale: float = 0.1) -> None:
        super().__init__()
        t = max(1, in_ch // 8)
        t15 = max(1, (3 * t) // 2)
        self.scale = float(scale)
        self.branch0 = nn.Sequential(_conv_bn(in_ch, 2 * t, 1), _conv_bn(2 * t, 2 * t, 3, relu=False))
        self.branch1 = nn.Sequential(
            _conv_bn(in_ch, t, 1), _conv_bn(t, 2 * t, 3), _conv_bn(2 * t, 2 * t, 3, dilation=2, relu=False)
        )
        self.branch2 = nn.Sequential(
            _conv_bn(in_ch, t, 1), _conv_bn(t, t15, 3), _conv_bn(t15, 2 * t, 3),
            _conv_bn(2 * t, 2 * t, 3, dilation=3, relu=False),
        )
        self.fuse = _conv_bn(6 * t, out_ch, 1, relu=False)
        self.shortcut = _conv_bn(in_ch, out_ch, 1, relu=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], dim=1)
        return self.relu(self.scale * self.fuse(y) + self.shortcut(x))


class RFBDown(nn.Module):
    """OOnet DownBlock: ``AvgPool2d(2)`` then :class:`RFB` (its output is already ReLU'd, Eq. 22).

    Shape:
        (B, in_ch, H, W) -> (B, out_ch, H / 2, W / 2)
    """

    def __init__(self, in_ch: int, out_ch: int, scale: float = 0.1) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        self.rfb = RFB(in_ch, out_ch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rfb(self.pool(x))


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al.): global average pool -> FC (no bias) ReLU -> FC sigmoid.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, ch: int, reduction: int = 2) -> None:
        super().__init__()
        hidden = max(1, ch // reduction)
        self.fc1 = nn.Linear(ch, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, ch, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3))
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))
        return x * w[:, :, None, None]


class MSSEUnit(nn.Module):
    """Multi-scale SE unit: ``x + ReLU(conv1x1(SE(ReLU(dw3 x) + ReLU(dw5 x) + ReLU(dw7 x))))``.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, ch: int, reduction: int = 2) -> None:
        super().__init__()
        self.dw = nn.ModuleList(nn.Conv2d(ch, ch, k, padding=k // 2, groups=ch) for k in (3, 5, 7))
        self.se = SEBlock(ch, reduction)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = sum(torch.relu(conv(x)) for conv in self.dw)
        y = torch.relu(self.proj(self.se(y)))
        return x + y


class MSSE(nn.Module):
    """DuHDR's MS-SE bottleneck block (``Differential_net`` of the released code).

    ``n1 = ReLU(conv5x5(x))``; ``n = ReLU(conv1x1(ReLU(conv5x5 stride 2 (x -> 2C))))``; ``n`` through
    ``units`` :class:`MSSEUnit` blocks; pixel shuffle x2 (2C -> C/2 channels, input resolution);
    ``ReLU(conv1x1(cat(n, n1)) -> C)``.

    Shape:
        (B, C, H, W) -> (B, C, H, W); H and W must be even. C must be divisible by 2.
    """

    def __init__(self, ch: int, units: int = 3, reduction: int = 2) -> None:
        super().__init__()
        if ch % 2:
            raise ValueError(f"MSSE needs an even channel count, got {ch}")
        self.full = nn.Conv2d(ch, ch, 5, padding=2)
        self.down = nn.Conv2d(ch, 2 * ch, 5, stride=2, padding=2)
        self.mix = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.units = nn.Sequential(*[MSSEUnit(2 * ch, reduction) for _ in range(units)])
        self.shuffle = nn.PixelShuffle(2)
        self.fuse = nn.Conv2d(ch // 2 + ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n1 = torch.relu(self.full(x))
        n = torch.relu(self.mix(torch.relu(self.down(x))))
        n = self.shuffle(self.units(n))
        return torch.relu(self.fuse(torch.cat([n, n1], dim=1)))
