"""Adaptive instance normalisation and the LeakyAdaIN of the collaborative bilateral network.

Paper (Zheng et al., ICCV 2021, Eq. 1-2), with x the content features and y the style features::

    AdaIN(x, y)      = sigma(y) (x - mu(x)) / sigma(x) + mu(y)
    LeakyAdaIN(x, y) = s(p(y)) sigma(y) (x - mu(x)) / sigma(x) + s(p(y)) mu(y)

mu / sigma are per-sample, per-channel statistics over the spatial dimensions, p = global average
pooling of y followed by a learned linear map (C -> C), s = sigmoid. The gate s(p(y)) is one factor
per sample and channel in (0, 1): the style statistics are transferred "leakily".

The authors' released code computes something else (``variant="released"``): k = PReLU(GAP(n)) with
n the instance-normalised *content*, out = k n sigma(y) + k mu(y). GAP(n) is 0 by construction, so the
output is ~1e-7 of the AdaIN output; it is kept only as an explicit option for comparison.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeakyAdaIN", "adain", "instance_stats"]


def instance_stats(x: torch.Tensor, eps: float = 1e-5, unbiased: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and standard deviation over the spatial dimensions.

    Shape:
        x: (B, C, H, W) -> mean (B, C, 1, 1), std (B, C, 1, 1) (``sqrt(var + eps)``)
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    var = x.var(dim=(-2, -1), keepdim=True, unbiased=unbiased)
    return mean, torch.sqrt(var + eps)


def adain(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Plain AdaIN (Huang & Belongie 2017; paper Eq. 1): content ``x`` with the statistics of ``y``.

    Shape:
        x: (B, C, H, W), y: (B, C, H', W') -> (B, C, H, W)
    """
    mx, sx = instance_stats(x, eps)
    my, sy = instance_stats(y, eps)
    return sy * (x - mx) / sx + my


class LeakyAdaIN(nn.Module):
    """LeakyAdaIN of paper Eq. 2 (feature maps, any domain).

    Args:
        channels: C of both inputs.
        variant: ``"paper"`` (Eq. 2, default) or ``"released"`` (the authors' code: PReLU of the
            pooled normalised content, ~0 output; here the PReLU slope is at least a learned parameter).
        eps: added to the variance.

    Shape:
        x (content): (B, C, H, W), y (style): (B, C, H', W') -> (B, C, H, W)
    """

    def __init__(self, channels: int, variant: str = "paper", eps: float = 1e-5) -> None:
        super().__init__()
        if variant not in ("paper", "released"):
            raise ValueError(f"LeakyAdaIN variant must be 'paper' or 'released', got {variant!r}")
        self.channels = int(channels)
        self.variant = variant
        self.eps = float(eps)
        if variant == "paper":
            self.proj = nn.Linear(self.channels, self.channels)
        else:
            self.prelu = nn.PReLU(init=0.25)

    def gate(self, y: torch.Tensor) -> torch.Tensor:
        """s(p(y)): sigmoid of a linear map of the globally pooled style features.

        Shape:
            y: (B, C, H, W) -> (B, C, 1, 1) in (0, 1)
        """
        pooled = y.mean(dim=(-2, -1))
        return torch.sigmoid(self.proj(pooled))[..., None, None]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[:2] != y.shape[:2] or x.shape[1] != self.channels:
            raise ValueError(f"LeakyAdaIN({self.channels}): got content {tuple(x.shape)}, style {tuple(y.shape)}")
        if self.variant == "paper":
            mx, sx = instance_stats(x, self.eps)
            my, sy = instance_stats(y, self.eps)
            g = self.gate(y)
            return g * sy * (x - mx) / sx + g * my
        mx, sx = instance_stats(x, self.eps, unbiased=True)
        my, sy = instance_stats(y, self.eps, unbiased=True)
        n = (x - mx) / sx
        k = self.prelu(n.mean(dim=(-2, -1), keepdim=True))
        return k * n * sy + k * my
