"""Spatial feature transform (SFT) layers and the SFT residual block of HDRUNet.

SFT (Wang et al., CVPR 2018; HDRUNet eq. 1) modulates features ``x`` with per-position,
per-channel maps predicted from a condition: ``SFT(x) = alpha * x + beta`` with
``alpha, beta`` of shape (C, H, W). Here ``alpha = 1 + scale(cond)`` so that a zero-initialised or
untrained modulation is the identity (the parametrisation of the authors' released code, needed to
load their weights; the function class is exactly eq. 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SFTLayer(nn.Module):
    """``x * (1 + scale(c)) + shift(c)``; scale/shift are two 1x1-conv branches with LeakyReLU(0.1).

    Args:
        cond_channels: channels of the condition maps.
        channels: channels of the modulated features.
        hidden: width of the hidden 1x1 conv of each branch.

    Shape:
        x: (B, channels, H, W), cond: (B, cond_channels, H, W) -> (B, channels, H, W)
    """

    def __init__(self, cond_channels: int = 32, channels: int = 64, hidden: int = 32) -> None:
        super().__init__()
        self.scale_conv0 = nn.Conv2d(cond_channels, hidden, 1)
        self.scale_conv1 = nn.Conv2d(hidden, channels, 1)
        self.shift_conv0 = nn.Conv2d(cond_channels, hidden, 1)
        self.shift_conv1 = nn.Conv2d(hidden, channels, 1)

    def modulation(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The maps ``(alpha, beta)`` of eq. 1 (each (B, channels, H, W))."""
        scale = self.scale_conv1(F.leaky_relu(self.scale_conv0(cond), 0.1))
        shift = self.shift_conv1(F.leaky_relu(self.shift_conv0(cond), 0.1))
        return scale + 1.0, shift

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        alpha, beta = self.modulation(cond)
        return x * alpha + beta


class SFTResBlock(nn.Module):
    """Residual block with SFT: ``x + conv2(SFT2(act(conv1(SFT1(x, c))), c))`` (no normalisation).

    Args:
        channels: feature channels.
        cond_channels: channels of the condition maps (same resolution as ``x``).
        act: activation module used after ``conv1``.

    Shape:
        x: (B, channels, H, W), cond: (B, cond_channels, H, W) -> (B, channels, H, W)
    """

    def __init__(self, channels: int, cond_channels: int, act: nn.Module) -> None:
        super().__init__()
        self.sft1 = SFTLayer(cond_channels, channels, cond_channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.sft2 = SFTLayer(cond_channels, channels, cond_channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act = act

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(self.sft1(x, cond)))
        y = self.conv2(self.sft2(y, cond))
        return x + y


class SFTResTrunk(nn.ModuleList):
    """A sequence of :class:`SFTResBlock` sharing one condition map.

    Shape:
        x: (B, channels, H, W), cond: (B, cond_channels, H, W) -> (B, channels, H, W)
    """

    def __init__(self, n_blocks: int, channels: int, cond_channels: int, act: nn.Module) -> None:
        super().__init__([SFTResBlock(channels, cond_channels, act) for _ in range(n_blocks)])

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for block in self:
            x = block(x, cond)
        return x
