"""U-Net building blocks (SingleHDR / DuHDR style: average-pool down, bilinear up, LeakyReLU 0.1).

A *level* is two convolutions; a down level first halves the resolution with ``AvgPool2d(2)``; an
up level upsamples bilinearly by 2, convolves, concatenates the skip feature and convolves again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_act(in_ch: int, out_ch: int, kernel: int = 3, slope: float = 0.1) -> nn.Sequential:
    """``Conv2d`` ('same' padding, bias) followed by ``LeakyReLU(slope)``.

    Shape:
        (B, in_ch, H, W) -> (B, out_ch, H, W)
    """
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2), nn.LeakyReLU(slope))


class DoubleConv(nn.Module):
    """Two ``conv_act`` layers of the same kernel size (one U-Net level without resampling).

    Shape:
        (B, in_ch, H, W) -> (B, out_ch, H, W)
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, slope: float = 0.1) -> None:
        super().__init__()
        self.conv1 = conv_act(in_ch, out_ch, kernel, slope)
        self.conv2 = conv_act(out_ch, out_ch, kernel, slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class UNetDown(nn.Module):
    """``AvgPool2d(2)`` then a :class:`DoubleConv` (or any given block).

    Shape:
        (B, in_ch, H, W) -> (B, out_ch, H / 2, W / 2); H and W must be even.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, block: nn.Module | None = None) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        self.block = block if block is not None else DoubleConv(in_ch, out_ch, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.pool(x))


class UNetUp(nn.Module):
    """Bilinear x2 upsampling -> conv3x3 (in_ch -> out_ch) -> concat skip (skip_ch) -> conv3x3.

    Shape:
        x (B, in_ch, H, W), skip (B, skip_ch, 2H, 2W) -> (B, out_ch, 2H, 2W)
    """

    def __init__(self, in_ch: int, out_ch: int, skip_ch: int | None = None, slope: float = 0.1) -> None:
        super().__init__()
        skip_ch = out_ch if skip_ch is None else skip_ch
        self.conv1 = conv_act(in_ch, out_ch, 3, slope)
        self.conv2 = conv_act(out_ch + skip_ch, out_ch, 3, slope)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self.conv1(x)
        return self.conv2(torch.cat([x, skip], dim=1))
