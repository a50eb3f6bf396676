"""Pixel losses (torch): L1 (optionally masked) and the Tanh-L1 of HDRUNet.

HDRUNet (Chen et al., CVPRW 2021, Eq. 3) trains in the NTIRE gamma-2.24 domain with
``L = mean |tanh(Y_hat) - tanh(Y)|``: tanh compresses the unbounded HDR values so that bright
highlights do not dominate the loss, while staying linear-like for the well-exposed range.
"""

from __future__ import annotations

import torch
from torch import nn


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, or its mask-weighted mean (``sum(m |p - t|) / sum(m)``, mask broadcast).

    Domain: any (both tensors in the same domain).

    Shape:
        (B, C, H, W), (B, C, H, W), optional mask broadcastable to them -> ()
    """
    diff = (pred - target).abs()
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype).expand_as(diff)
    return (diff * m).sum() / m.sum().clamp(min=1e-8)


def tanh_l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """HDRUNet's Tanh-L1: ``mean |tanh(pred) - tanh(target)|``.

    Domain: HDR in the NTIRE gamma-2.24 domain (HDRUNet's output space), values >= 0.

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    return (torch.tanh(pred) - torch.tanh(target)).abs().mean()


class L1Loss(nn.Module):
    """Module form of :func:`l1_loss` (optional mask in ``forward``).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return l1_loss(pred, target, mask)


class TanhL1Loss(nn.Module):
    """Module form of :func:`tanh_l1_loss` (HDRUNet, NTIRE gamma-2.24 domain).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return tanh_l1_loss(pred, target)
