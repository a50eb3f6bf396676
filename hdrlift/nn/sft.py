"""Spatial feature transform (SFT) layers and the SFT residual block of HDRUNet.

SFT (Wang et al., CVPR 2018; HDRUNet eq. 1) modulates features ``x`` with per-position,
per-channel maps predicted from a condition: ``SFT(x) = alpha * x + beta`` with
``alpha, beta`` of shape (C, H, W). Here ``alpha = 1 + scale(cond)`` so that a zero-initialised or
untrained modulation is the identity (the parametrisation of the authors' released code, needed to
load their weights; the function class is exactly eq. 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import cast

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

    def __iter__(self) -> Iterator[SFTResBlock]:  # typed: the list holds only SFTResBlocks
        return cast("Iterator[SFTResBlock]", super().__iter__())

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        for block in self:
            x = block(x, cond)
        return x


# --------------------------------------------------------------------------------------------------
# Eval kernels (no autograd): channels-last tensors, 1x1 convs as chunked GEMMs, in-place SFT and
# row-banded in-place 3x3 convs. They compute the same functions as the modules above (float rounding
# aside) with far fewer and smaller temporaries; the inference kernels of hdrlift.kernels use them.

#: pixels per chunk of the pointwise kernels (1x1 convs, SFT): a chunk's temporaries stay in cache
POINTWISE_CHUNK = 8192
#: pixels per row band of :func:`conv3x3_rows_` (band temporaries stay below glibc's mmap threshold)
CONV_BAND_PIXELS = 1 << 16

ActFn = Callable[[torch.Tensor], torch.Tensor]


def nhwc(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory layout (no copy when it already is)."""
    return x.contiguous(memory_format=torch.channels_last)


def pixel_view(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) channels-last tensor -> (B*H*W, C) view sharing its memory.

    Shape:
        (B, C, H, W) -> (B*H*W, C)
    """
    p = x.permute(0, 2, 3, 1)
    if not p.is_contiguous():
        raise ValueError("pixel_view needs a channels-last contiguous tensor")
    return p.view(-1, x.shape[1])


def relu_(t: torch.Tensor) -> torch.Tensor:
    return torch.relu_(t)


def lrelu_(t: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu_(t, 0.1)


def act_fn(act: nn.Module) -> ActFn:
    """In-place function equal to the activation module ``act`` (ReLU or LeakyReLU)."""
    if isinstance(act, nn.LeakyReLU):
        slope = float(act.negative_slope)
        return lambda t: F.leaky_relu_(t, slope)
    if isinstance(act, nn.ReLU):
        return relu_
    raise TypeError(f"no in-place kernel for activation {type(act).__name__}")


def _chunk(n: int) -> int:
    """Pixels per pointwise chunk: :data:`POINTWISE_CHUNK`, smaller for small inputs (>= 16 chunks)."""
    return min(POINTWISE_CHUNK, max(n // 16, 256))


def _mat(conv: nn.Conv2d) -> torch.Tensor:
    return conv.weight.reshape(conv.out_channels, -1).t()


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The conv's bias (the GEMM forms below add it; every conv they take has one)."""
    if conv.bias is None:
        raise ValueError(f"{conv}: the eval kernels need a conv with a bias")
    return conv.bias


def pointwise_chain(
    x: torch.Tensor,
    layers: Sequence[tuple[nn.Conv2d, ActFn | None]],
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """A chain of 1x1 convs (each optionally followed by an in-place activation), chunk by chunk.

    ``out`` may be ``x`` itself when the chain keeps the channel count (each chunk is read before it is
    written). Returns a new channels-last tensor otherwise.

    Shape:
        x: (B, C, H, W) channels-last -> (B, C_out, H, W) channels-last
    """
    b, _, h, w = x.shape
    c_out = layers[-1][0].out_channels
    if out is None:
        out = torch.empty(b, c_out, h, w, dtype=x.dtype, memory_format=torch.channels_last)
    mats = [(_mat(conv), _bias(conv), act) for conv, act in layers]
    src, dst = pixel_view(x), pixel_view(out)
    n = src.shape[0]
    step = _chunk(n)
    for s in range(0, n, step):
        e = min(s + step, n)
        t = src[s:e]
        for i, (m, bias, act) in enumerate(mats):
            last = i == len(mats) - 1 and out is not x
            t = torch.addmm(bias, t, m, out=dst[s:e]) if last else torch.addmm(bias, t, m)
            if act is not None:
                act(t)
        if out is x:
            dst[s:e].copy_(t)
    return out


def sft_(layer: SFTLayer, x: torch.Tensor, cond: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``layer(x, cond)`` written into ``out`` (default: ``x`` itself), chunk by chunk.

    The two hidden 1x1 convs (scale, shift) run as one GEMM on the condition.

    Shape:
        x: (B, C, H, W), cond: (B, C_c, H, W), both channels-last -> (B, C, H, W)
    """
    out = x if out is None else out
    hid = layer.scale_conv0.out_channels
    w0 = torch.cat([_mat(layer.scale_conv0), _mat(layer.shift_conv0)], dim=1)
    b0 = torch.cat([_bias(layer.scale_conv0), _bias(layer.shift_conv0)])
    ws, bs = _mat(layer.scale_conv1), _bias(layer.scale_conv1) + 1.0  # alpha = 1 + scale
    wh, bh = _mat(layer.shift_conv1), _bias(layer.shift_conv1)
    xs, cs, os_ = pixel_view(x), pixel_view(cond), pixel_view(out)
    n = xs.shape[0]
    step = _chunk(n)
    for s in range(0, n, step):
        e = min(s + step, n)
        hidden = F.leaky_relu_(torch.addmm(b0, cs[s:e], w0), 0.1)
        alpha = torch.addmm(bs, hidden[:, :hid], ws)
        # out = (b_shift + x * alpha) + hidden_shift @ W_shift: the GEMM accumulates onto the product
        o = torch.addcmul(bh, xs[s:e], alpha, out=os_[s:e])
        o.addmm_(hidden[:, hid:], wh)
    return out


def conv3x3_rows_(x: torch.Tensor, conv: nn.Conv2d, act: ActFn | None = None,
                  band_pixels: int = CONV_BAND_PIXELS) -> torch.Tensor:
    """``act(conv(x))`` for a 3x3, stride 1, padding 1 conv with C_in == C_out, overwriting ``x``.

    Row bands of ``x`` (at most ``band_pixels``, at least 4 bands) are convolved with one row of halo; a
    band's result is written back once the next band (the last reader of its rows) has been computed,
    so only two bands of output are alive. An input of one band is not copied back: the new tensor is
    returned (always use the return value; ``x`` is then stale).

    Shape:
        x: (1, C, H, W) channels-last -> (1, C, H, W) channels-last
    """
    h, w = x.shape[-2:]
    band = max(min(band_pixels // max(w, 1), h // 4), 2)  # >= 4 bands: the saving shows at any size
    if h <= band or x.shape[0] != 1:
        y = F.conv2d(x, conv.weight, conv.bias, 1, 1)
        return y if act is None else act(y)
    pending: tuple[int, int, torch.Tensor] | None = None
    for r0 in range(0, h, band):
        r1 = min(r0 + band, h)
        a0, a1 = max(r0 - 1, 0), min(r1 + 1, h)
        y = F.conv2d(x[:, :, a0:a1], conv.weight, conv.bias, 1, 1)[:, :, r0 - a0 : r1 - a0]
        if act is not None:
            act(y)
        if pending is not None:
            x[:, :, pending[0] : pending[1]].copy_(pending[2])
        pending = (r0, r1, y)
    if pending is not None:
        x[:, :, pending[0] : pending[1]].copy_(pending[2])
    return x


def conv_shuffle_add_(src: torch.Tensor, conv: nn.Conv2d, act: ActFn, dst: torch.Tensor,
                      offset: tuple[int, int] = (0, 0), band_pixels: int = CONV_BAND_PIXELS) -> torch.Tensor:
    """``dst += act(pixel_shuffle(conv(src), 2))[window]`` without a full-size temporary.

    ``conv`` is a 3x3, padding 1 conv to ``4 C`` channels; ``offset`` = (row, col) in ``src`` pixels of
    ``dst``'s top-left corner (``dst`` covers ``src`` rows ``offset[0] .. offset[0] + H_dst / 2``).
    Row bands of ``dst`` (even heights) are done one at a time; the shuffle is a strided view.

    Shape:
        src: (1, C_s, h, w) channels-last, dst: (1, C, H_dst, W_dst) channels-last, H_dst, W_dst even
    """
    hs, ws = src.shape[-2:]
    c, hd, wd = dst.shape[1:]
    oy, ox = offset
    hb_dst = max(min(band_pixels // max(wd, 1), hd // 4) // 2 * 2, 2)
    j0, j1 = max(ox - 1, 0), min(ox + wd // 2 + 1, ws)
    d = dst.permute(0, 2, 3, 1)[0]  # (H_dst, W_dst, C) view
    for a in range(0, hd, hb_dst):
        b = min(a + hb_dst, hd)
        s0, s1 = oy + a // 2, oy + b // 2
        i0, i1 = max(s0 - 1, 0), min(s1 + 1, hs)
        y = F.conv2d(src[:, :, i0:i1, j0:j1], conv.weight, conv.bias, 1, 1)
        y = y[:, :, s0 - i0 : s1 - i0, ox - j0 : ox - j0 + wd // 2]
        hb, wb = y.shape[-2:]
        u = y.permute(0, 2, 3, 1)[0].reshape(hb, wb, c, 2, 2).permute(0, 3, 1, 4, 2)
        act(u)
        d[a:b].view(hb, 2, wb, 2, c).add_(u)
    return dst
