"""HDRUNet's CPU inference kernel (``hdrunet.eval``): the paper network's function with lean kernels.

Same parameters and function as :meth:`hdrlift.models.hdrunet.HDRUNet.forward_gamma` (float rounding
aside; tests/test_kernels.py holds it to 1e-5 of the output's range): channels-last activations, 1x1
convs as chunked GEMMs, SFT in place, 64->64 3x3 convs in place by row bands, up-conv + pixel shuffle +
skip fused by bands (:mod:`hdrlift.nn.sft`), and region tiles: :meth:`HDRUNetEval.forward_region` runs
every layer only on the part of the tile that the output window still depends on.

Domain: in sRGB-encoded LDR (used as the camera-encoded image), inside gamma-encoded HDR, out linear HDR.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.kernels.base import Box, GammaPathKernel, entry, register
from hdrlift.models.hdrunet import HDRUNet, scharr_condition
from hdrlift.nn.sft import (
    SFTResTrunk,
    act_fn,
    conv3x3_rows_,
    conv_shuffle_add_,
    lrelu_,
    nhwc,
    pointwise_chain,
    relu_,
    sft_,
)
from hdrlift.ops.padding import pad_to_multiple


def _conv(seq: nn.Sequential, i: int) -> nn.Conv2d:
    """``seq[i]``, a conv (typed: ``nn.Sequential`` items are plain modules)."""
    m = seq[i]
    assert isinstance(m, nn.Conv2d)
    return m


def _crop(t: torch.Tensor, box: Box | None) -> torch.Tensor:
    return t if box is None else t[..., box[0] : box[1], box[2] : box[3]]


@register(HDRUNet)
class HDRUNetEval(GammaPathKernel):
    """Lean CPU kernels of :class:`~hdrlift.models.hdrunet.HDRUNet` (float32, or bfloat16 weights).

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR;
        forward_region(ldr, box): -> (B, 3, bottom - top, right - left), box = (top, bottom, left, right).
    """

    name = "hdrunet.eval"
    kind = "torch"
    model: HDRUNet

    @entry(lambda m, x, box: _crop(m(x), box))
    def forward_region(self, ldr: torch.Tensor, box: Box) -> torch.Tensor:
        """``model(ldr)[..., top:bottom, left:right]``, computing only what that window depends on
        (the tiler's region mode: a tile's context margin runs only through the layers that need it).

        Shape:
            ldr: (B, 3, H, W) sRGB LDR; box = (top, bottom, left, right) -> (B, 3, bottom-top, right-left)
        """
        return self.model.inner_to_hdr(self._gamma(ldr, (int(box[0]), int(box[1]), int(box[2]), int(box[3]))))

    @entry(lambda m, x, box=None: _crop(m.forward_gamma(x), box))
    def forward_gamma(self, ldr: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """:meth:`HDRUNet.forward_gamma` (gamma-encoded HDR, unbounded), on the window ``box`` if given.

        Shape:
            (B, 3, H, W) -> (B, 3, H, W) (or (B, 3, bottom - top, right - left) with ``box``)
        """
        return self._gamma(ldr, None if box is None else (int(box[0]), int(box[1]), int(box[2]), int(box[3])))

    # ------------------------------------------------------------------ the kernels
    def _margins(self) -> dict[str, int]:
        """Remaining receptive field (full-resolution pixels, before rounding to 4) from each point of
        the network to the output; see :func:`~hdrlift.models.hdrunet.hdrunet_receptive_field` (3 px phase
        slack included)."""
        m = self.model
        n1, n2, n3 = (len(t) for t in (m.trunk1, m.trunk2, m.trunk3))
        last = 2 + 2 + 3  # hr_conv2, conv_last; up_conv2 at 1/2; phase
        trunk3 = last + 4 * n3
        up1 = trunk3 + 4 + 2
        trunk2 = up1 + 8 * n2
        down2 = trunk2 + 2 + 2
        trunk1 = down2 + 4 * n1
        return {"last": last, "trunk3": trunk3, "up1": up1, "trunk2": trunk2, "down2": down2, "trunk1": trunk1}

    def _gamma(self, ldr: torch.Tensor, box: Box | None) -> torch.Tensor:
        """Gamma-encoded output on ``box`` (whole image when ``None``), one sample at a time."""
        if ldr.shape[0] > 1:
            return torch.cat([self._gamma(ldr[i : i + 1], box) for i in range(ldr.shape[0])])
        model = self.model
        h, w = ldr.shape[-2:]
        x, _ = pad_to_multiple(ldr, 4)
        x = nhwc(x)
        hp, wp = x.shape[-2:]
        reg = _Regions(hp, wp, (0, h, 0, w) if box is None else box)
        full = reg.full
        act = act_fn(model.act)
        m = self._margins()
        # weighting network W, only on the output window
        rw = reg.grow(2)
        wn = model.weight_net
        w0 = _conv(wn, 0)
        t = relu_(F.conv2d(reg.crop(x, full, rw), w0.weight, w0.bias, 1, 1))
        t = conv3x3_rows_(t, _conv(wn, 2), relu_)
        wmap = pointwise_chain(t, [(_conv(wn, 4), relu_), (_conv(wn, 6), None)])
        del t
        res = reg.crop(wmap, rw, reg.box) * reg.crop(x, full, reg.box)
        del wmap
        # condition network (whole tile)
        cn = model.cond_net
        cond_in = x if model.condition == "image" else nhwc(scharr_condition(x))
        s0, l2, l3a, l3b = _conv(cn.stem, 0), _conv(cn.level2, 0), _conv(cn.level3, 0), _conv(cn.level3, 2)
        c = lrelu_(F.conv2d(cond_in, s0.weight, s0.bias, 1, 1))
        pointwise_chain(c, [(_conv(cn.stem, 2), lrelu_), (_conv(cn.stem, 4), lrelu_)], out=c)
        cond1 = pointwise_chain(c, [(_conv(cn.level1, 0), lrelu_), (_conv(cn.level1, 2), None)])
        cond2 = pointwise_chain(lrelu_(F.conv2d(c, l2.weight, l2.bias, 2, 1)), [(_conv(cn.level2, 2), None)])
        cond3 = F.conv2d(lrelu_(F.conv2d(c, l3a.weight, l3a.bias, 2, 1)), l3b.weight, l3b.bias, 2, 1)
        del c
        # full-resolution encoder
        fea0 = act(F.conv2d(x, model.conv_first.weight, model.conv_first.bias, 1, 1))
        sft_(model.sft_first, fea0, cond1)
        fea0 = conv3x3_rows_(fea0, model.hr_conv1, act)
        fea1 = act(F.conv2d(fea0, model.down_conv1.weight, model.down_conv1.bias, 2, 1))
        r_last = reg.grow(m["last"])
        fea0 = nhwc(reg.crop(fea0, full, r_last))
        cond1 = nhwc(reg.crop(cond1, full, r_last))
        # 1/2 and 1/4 levels, each on the window its remaining receptive field needs
        r_t1 = reg.grow(m["trunk1"])
        fea1 = _trunk(model.trunk1, nhwc(reg.crop(fea1, full, r_t1, 2)), nhwc(reg.crop(cond2, full, r_t1, 2)), act)
        r_d2 = reg.grow(m["down2"])
        fea1 = reg.crop(fea1, r_t1, r_d2, 2)
        fea2 = act(F.conv2d(fea1, model.down_conv2.weight, model.down_conv2.bias, 2, 1))
        r_t2 = reg.grow(m["trunk2"])
        fea2 = nhwc(reg.crop(fea2, r_d2, r_t2, 4))
        out = _trunk(model.trunk2, fea2, nhwc(reg.crop(cond3, full, r_t2, 4)), act)
        out.add_(fea2)
        del fea2, cond3
        r_u1, r_t3 = reg.grow(m["up1"]), reg.grow(m["trunk3"])
        out = reg.crop(out, r_t2, r_u1, 4)
        skip = reg.crop(fea1, r_d2, r_t3, 2).clone(memory_format=torch.channels_last)
        del fea1
        conv_shuffle_add_(nhwc(out), _conv(model.up_conv1, 0), act, skip, reg.offset(r_u1, r_t3, 4))
        out = skip
        del skip
        out = _trunk(model.trunk3, out, nhwc(reg.crop(cond2, full, r_t3, 2)), act)
        del cond2
        # full-resolution decoder on the window + its last receptive field
        conv_shuffle_add_(out, _conv(model.up_conv2, 0), act, fea0, reg.offset(r_t3, r_last, 2))
        del out
        sft_(model.sft_last, fea0, cond1)
        del cond1
        fea0 = conv3x3_rows_(fea0, model.hr_conv2, act)
        base = F.conv2d(fea0, model.conv_last.weight, model.conv_last.bias, 1, 1)
        return res.add_(reg.crop(base, r_last, reg.box)).contiguous()


def _trunk(trunk: SFTResTrunk, x: torch.Tensor, cond: torch.Tensor, act: Any) -> torch.Tensor:
    """Lean kernels of an :class:`~hdrlift.nn.sft.SFTResTrunk`; never modifies ``x`` (a new tensor is returned).

    Shape:
        x: (1, C, h, w) channels-last, cond: (1, C_c, h, w) channels-last -> (1, C, h, w) channels-last
    """
    for block in trunk:
        y = sft_(block.sft1, x, cond, out=torch.empty_like(x, memory_format=torch.channels_last))
        y = conv3x3_rows_(y, block.conv1, act)
        sft_(block.sft2, y, cond)
        y = conv3x3_rows_(y, block.conv2)
        x = y.add_(x)
    return x if len(trunk) else x.clone(memory_format=torch.channels_last)


class _Regions:
    """Windows (full-resolution, aligned to 4, clamped to the padded input) around an output box."""

    def __init__(self, h: int, w: int, box: Box) -> None:
        self.h, self.w = h, w
        self.full = (0, h, 0, w)
        self.box: Box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))

    def grow(self, margin: int) -> Box:
        t, b, l, r = self.box
        m = -(-int(margin) // 4) * 4
        return (max(t // 4 * 4 - m, 0), min(-(-b // 4) * 4 + m, self.h),
                max(l // 4 * 4 - m, 0), min(-(-r // 4) * 4 + m, self.w))

    @staticmethod
    def offset(have: Box, want: Box, scale: int) -> tuple[int, int]:
        return ((want[0] - have[0]) // scale, (want[2] - have[2]) // scale)

    @staticmethod
    def crop(t: torch.Tensor, have: Box, want: Box, scale: int = 1) -> torch.Tensor:
        """``t`` covers window ``have`` at 1/``scale`` resolution; its part covering ``want``."""
        y0, y1 = (want[0] - have[0]) // scale, (want[1] - have[0]) // scale
        x0, x1 = (want[2] - have[2]) // scale, (want[3] - have[2]) // scale
        return t[..., y0:y1, x0:x1]
