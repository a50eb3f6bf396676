"""Inverted residual blocks (MobileNetV2, Sandler et al. 2018).

Block: 1x1 expansion (C_in -> t*C_in) - BN - ReLU6 - 3x3 depthwise (stride s) - BN - ReLU6 -
1x1 linear projection (-> C_out) - BN, plus an identity skip when stride 1 and C_in == C_out.
``norm=False`` drops the BatchNorms (biases are used instead).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["InvertedResidual"]


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual block with linear bottleneck.

    Args:
        in_channels, out_channels: C_in, C_out.
        expand: expansion factor t (hidden width = t * C_in); 1 skips the expansion conv.
        stride: 1 or 2 (of the depthwise conv).
        norm: use BatchNorm after each conv (MobileNetV2) or plain biases.

    The receptive field grows by ``stride``-adjusted 1 pixel per side (one 3x3 conv).

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride))
    """

    def __init__(self, in_channels: int, out_channels: int, expand: int = 2, stride: int = 1,
                 norm: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = int(round(in_channels * expand))
        self.use_skip = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=not norm)]
            layers += [nn.BatchNorm2d(hidden)] if norm else []
            layers += [nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=not norm)]
        layers += [nn.BatchNorm2d(hidden)] if norm else []
        layers += [nn.ReLU6()]
        layers += [nn.Conv2d(hidden, out_channels, 1, bias=not norm)]
        layers += [nn.BatchNorm2d(out_channels)] if norm else []
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_skip else out
