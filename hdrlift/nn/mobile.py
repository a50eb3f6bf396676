"""Inverted residual blocks (MobileNetV2, Sandler et al. 2018).

Block: 1x1 expansion (C_in -> t*C_in) - BN - ReLU6 - 3x3 depthwise (stride s) - BN - ReLU6 -
1x1 linear projection (-> C_out) - BN, plus an identity skip when stride 1 and C_in == C_out.
``norm=False`` drops the BatchNorms (biases are used instead).

Inference (no autograd): :meth:`InvertedResidual.folded` folds the eval-mode BatchNorms into the convs
and :func:`inverted_residual_pixels` runs the block on a pixels-last (h, w, C) tensor: 1x1 convs as
matrix products, the depthwise conv on a channels-last view (PyTorch's NCHW depthwise conv with few
channels is ~10x slower), ReLU6 in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InvertedResidual", "FoldedBlock", "folded_forward", "inverted_residual_pixels"]

#: folded parameters of one block: list of (weight, bias, groups) per conv, and the skip flag
FoldedBlock = tuple[list[tuple[torch.Tensor, torch.Tensor, int]], bool]


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

    @torch.no_grad()
    def folded(self) -> FoldedBlock:
        """Convs with the eval-mode BatchNorms (running statistics) folded in, for inference.

        Returns ``([(weight, bias, groups)] per conv in order, use_skip)``; 1x1 weights are
        (C_out, C_in) matrices, the depthwise weight stays (C, 1, 3, 3).
        """
        convs: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        mods = list(self.block)
        for i, m in enumerate(mods):
            if not isinstance(m, nn.Conv2d):
                continue
            w = m.weight
            b = m.bias if m.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(nxt, nn.BatchNorm2d):
                assert nxt.running_mean is not None and nxt.running_var is not None  # track_running_stats
                scale = nxt.weight / torch.sqrt(nxt.running_var + nxt.eps)
                w = w * scale.view(-1, 1, 1, 1)
                b = (b - nxt.running_mean) * scale + nxt.bias
            if m.kernel_size == (1, 1):
                w = w.flatten(1)
            convs.append((w.contiguous(), b.contiguous(), m.groups))
        return convs, self.use_skip


def folded_forward(x: torch.Tensor, block: FoldedBlock) -> torch.Tensor:
    """Eval-mode :class:`InvertedResidual` (stride 1) from its :meth:`~InvertedResidual.folded` convs, NCHW
    on any device: no BatchNorm kernels, ReLU6 in place. Equal to the module in eval mode up to float
    rounding.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H, W)
    """
    convs, skip = block
    t = x
    for i, (w, b, groups) in enumerate(convs):
        if w.dim() == 2:
            t = F.conv2d(t, w[:, :, None, None], b)
        else:
            t = F.conv2d(t, w, b, padding=w.shape[-1] // 2, groups=groups)
        if i < len(convs) - 1:
            t = t.clamp_(0.0, 6.0)
    return t.add_(x) if skip else t


def inverted_residual_pixels(
    x: torch.Tensor, block: FoldedBlock, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode :class:`InvertedResidual` (stride 1) on a pixels-last tensor, zero padding at its border.

    The block's input and output are carried as ``(values, bias)`` with the true tensor ``values +
    bias`` (bias broadcast over pixels): adding an 8-channel bias per pixel costs as much as the 1x1
    conv itself, so the projection's bias is passed on to the next linear layer instead (fold it with
    ``weight @ bias``). ``bias=None`` means zero.
    Equal to ``block_module(x.permute(2, 0, 1)[None])`` in eval mode up to float rounding.

    Shape:
        x: (h, w, C_in), bias: (C_in,) -> values (h, w, C_out), bias (C_out,)
    """
    convs, skip = block
    h, w, c = x.shape
    t = x.reshape(h * w, c)
    pending = bias
    for weight, b, groups in convs[:-1]:
        if weight.dim() == 2:
            if pending is not None:
                b = torch.addmv(b, weight, pending)
                pending = None
            t = torch.addmm(b, t, weight.t()).clamp_(0.0, 6.0)
        else:
            if pending is not None:  # depthwise conv directly on the input (expand == 1)
                t = t + pending
                pending = None
            ch = weight.shape[0]
            img = t.view(1, h, w, ch).permute(0, 3, 1, 2)  # channels-last view, no copy
            t = F.conv2d(img, weight, b, padding=1, groups=groups).clamp_(0.0, 6.0)
            t = t.permute(0, 2, 3, 1).reshape(h * w, ch)
    weight, b, _ = convs[-1]
    out = torch.mm(t, weight.t())
    if skip:
        out.add_(x.reshape(h * w, c))
        if bias is not None:
            b = b + bias
    return out.view(h, w, -1), b
