"""Residual dense attention block (RDAB) of the two-stage HDR network (Sharif et al., CVPRW 2021).

Paper eq. 2: ``RDAB(x) = R(x) + S(x)`` with ``R`` a residual dense block (Zhang et al., RDN, CVPR 2018)
and ``S`` a spatial attention block (CBAM-style spatial attention, Woo et al., ECCV 2018).

* ``R``: five 3x3 convs with dense concatenation (growth ``gc``; ReLU after the first four), local
  residual ``x + c5``. The paper's RDB has no residual scaling. The authors' released code wraps the
  block as ``x + 0.8 * (x + m * c5)`` (``m`` = 0.2 in stage I, 0.5 in stage II); that behaviour is
  available through ``dense_scale=m, outer_scale=0.8`` (parameter-free, so the parameter count is
  the same either way).
* ``S``: attention map ``a = sigmoid(conv7x7([mean_c(x), max_c(x)]))`` (no bias) applied to a 3x3
  conv of the input: ``S(x) = a * conv3x3(x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.nn.sft import CONV_BAND_PIXELS


class ResidualDenseBlock(nn.Module):
    """Five-conv residual dense block: ``x + dense_scale * c5(cat(x, c1, .., c4))``.

    Args:
        channels: input/output feature channels (``nf``).
        growth: channels added by each of the first four convs (``gc``).
        dense_scale: factor on the dense branch (1.0 = paper; 0.2/0.5 = released code's ``mFactor``).

    Shape:
        (B, channels, H, W) -> (B, channels, H, W)
    """

    def __init__(self, channels: int = 64, growth: int = 32, dense_scale: float = 1.0) -> None:
        super().__init__()
        self.dense_scale = float(dense_scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, 1, 1) for i in range(5)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(self.act(y))
        return x + self.dense_scale * y


class SpatialAttentionBlock(nn.Module):
    """``sigmoid(conv7x7([mean_c(x), max_c(x)])) * conv3x3(x)``.

    Shape:
        (B, channels, H, W) -> (B, channels, H, W)
    """

    def __init__(self, channels: int = 64, kernel_size: int = 7) -> None:
        super().__init__()
        self.attn_conv = nn.Conv2d(2, 1, kernel_size, 1, kernel_size // 2, bias=False)
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The spatial attention map (B, 1, H, W) in (0, 1)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.attn_conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x) * self.conv(x)


class RDAB(nn.Module):
    """Residual dense attention block ``R(x) + S(x)`` (paper eq. 2).

    Args:
        channels: feature channels.
        growth: growth channels of the dense block.
        dense_scale: factor on the dense branch inside ``R`` (paper 1.0).
        outer_scale: ``None`` (paper): ``R = RDB``; a number ``s`` (released code: 0.8):
            ``R(x) = x + s * RDB(x)``.

    Shape:
        (B, channels, H, W) -> (B, channels, H, W)
    """

    def __init__(
        self,
        channels: int = 64,
        growth: int = 32,
        dense_scale: float = 1.0,
        outer_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.rdb = ResidualDenseBlock(channels, growth, dense_scale)
        self.attention = SpatialAttentionBlock(channels)
        self.outer_scale = None if outer_scale is None else float(outer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.rdb(x)
        if self.outer_scale is not None:
            r = x + self.outer_scale * r
        return r + self.attention(x)

    @staticmethod
    def receptive_field() -> int:
        """Half-width of the block's receptive field: five chained 3x3 convs (attention: 7x7 -> 3)."""
        return 5


# --------------------------------------------------------------------------------------------------
# Eval kernels (no autograd; see hdrlift.nn.sft): channels-last, dense concatenations and 3x3 convs
# done in row bands so no full-size concatenation exists, activations and residual sums in place.


def conv_cat_rows(feats: Sequence[torch.Tensor], conv: nn.Conv2d, out: torch.Tensor | None = None,
                  scale: torch.Tensor | None = None, band_pixels: int = CONV_BAND_PIXELS) -> torch.Tensor:
    """``conv(cat(feats, 1))`` (3x3, padding 1) by row bands; with ``out`` the result is *added* to it,
    multiplied first by ``scale`` (a (1, 1, H, W) map) when given.

    Shape:
        feats: (1, C_i, H, W) channels-last each -> (1, C_out, H, W) channels-last
    """
    h, w = feats[0].shape[-2:]
    band = max(min(band_pixels // max(w, 1), h // 4), 2)
    res = out
    if res is None:
        res = torch.empty(1, conv.out_channels, h, w, dtype=feats[0].dtype, memory_format=torch.channels_last)
    for r0 in range(0, h, band):
        r1 = min(r0 + band, h)
        a0, a1 = max(r0 - 1, 0), min(r1 + 1, h)
        parts = [f[:, :, a0:a1] for f in feats]
        inp = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        y = F.conv2d(inp, conv.weight, conv.bias, 1, 1)[:, :, r0 - a0 : r1 - a0]
        del inp
        if scale is not None:
            y = y.mul_(scale[:, :, r0:r1])
        if out is None:
            res[:, :, r0:r1].copy_(y)
        else:
            res[:, :, r0:r1].add_(y)
    return res


def rdab_eval(block: RDAB, x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` with the eval kernels (``x`` is not modified).

    Shape:
        x: (1, C, H, W) channels-last -> (1, C, H, W) channels-last
    """
    rdb = block.rdb
    convs = cast(list[nn.Conv2d], list(rdb.convs))  # an nn.ModuleList of Conv2d (ModuleList is not generic)
    feats = [x]
    for conv in convs[:-1]:
        feats.append(torch.relu_(conv_cat_rows(feats, conv)))
    r = conv_cat_rows(feats, convs[-1])
    del feats
    if rdb.dense_scale != 1.0:
        r.mul_(rdb.dense_scale)
    r.add_(x)  # x + dense_scale * c5
    if block.outer_scale is not None:
        r.mul_(block.outer_scale).add_(x)  # x + outer_scale * R
    att = block.attention
    return conv_cat_rows([x], att.conv, out=r, scale=att.attention(x))  # R + a * conv3x3(x)
