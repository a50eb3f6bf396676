"""The two-stage network's CPU inference kernel (``twostage.eval``).

Same parameters and function as :meth:`hdrlift.models.twostage.TwoStageHDR.forward_gamma` (float rounding
aside; tests/test_kernels.py holds it to 1e-5 of the output's range): channels-last, the dense blocks'
concatenations and 3x3 convs by row bands (:func:`hdrlift.nn.rdab.rdab_eval`), in-place sums, and each
block only on the window the rest of the network still needs (region tiles).

Domain: in sRGB-encoded LDR (used as the camera-encoded image), inside gamma-encoded HDR, out linear HDR.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F

from hdrlift.kernels.base import Box, GammaPathKernel, entry, register
from hdrlift.models.twostage import TwoStageHDR, TwoStageStage
from hdrlift.nn.rdab import RDAB, rdab_eval
from hdrlift.nn.sft import nhwc, pointwise_chain


def _grow(box: Box, m: int, h: int, w: int) -> Box:
    return (max(box[0] - m, 0), min(box[1] + m, h), max(box[2] - m, 0), min(box[3] + m, w))


def _crop(t: torch.Tensor, have: Box, want: Box) -> torch.Tensor:
    return t[..., want[0] - have[0] : want[1] - have[0], want[2] - have[2] : want[3] - have[2]]


def _window(t: torch.Tensor, box: Box | None) -> torch.Tensor:
    return t if box is None else t[..., box[0] : box[1], box[2] : box[3]]


def stage_eval(stage: TwoStageStage, x: torch.Tensor, box: Box, out_margin: int) -> tuple[torch.Tensor, Box]:
    """One stage on a (1, 3, H, W) input; returns its output on ``box`` grown by ``out_margin`` (clamped to
    the input) and that window. Each block runs on the window the rest still needs.

    Shape:
        x: (1, 3, H, W) -> (1, 3, h, w) channels-last
    """
    h, w = x.shape[-2:]
    n = len(stage.blocks)
    full = (0, h, 0, w)
    have = full
    f = F.conv2d(nhwc(x), stage.conv_in.weight, stage.conv_in.bias, 1, 1)
    for i, block in enumerate(cast("list[RDAB]", list(stage.blocks))):  # an nn.Sequential of RDABs
        want = _grow(box, out_margin + RDAB.receptive_field() * (n - i), h, w)
        f = rdab_eval(block, nhwc(_crop(f, have, want)))
        have = want
    want = _grow(box, out_margin, h, w)
    y = pointwise_chain(nhwc(_crop(f, have, want)), [(stage.conv_out, None)])
    return torch.relu_(y.add_(_crop(x, full, want))), want


@register(TwoStageHDR)
class TwoStageEval(GammaPathKernel):
    """Lean CPU kernels of :class:`~hdrlift.models.twostage.TwoStageHDR` (float32, or bfloat16 weights).

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR;
        forward_region(ldr, box): -> (B, 3, bottom - top, right - left), box = (top, bottom, left, right).
    """

    name = "twostage.eval"
    kind = "torch"
    model: TwoStageHDR

    @entry(lambda m, x, box: _window(m(x), box))
    def forward_region(self, ldr: torch.Tensor, box: Box) -> torch.Tensor:
        """``model(ldr)[..., top:bottom, left:right]``, each block only on what that window depends on.

        Shape:
            ldr: (B, 3, H, W) sRGB LDR; box = (top, bottom, left, right) -> (B, 3, bottom-top, right-left)
        """
        return self.model.inner_to_hdr(self._gamma(ldr, box))

    @entry(lambda m, x, box=None: _window(m.forward_gamma(x), box))
    def forward_gamma(self, ldr: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """:meth:`TwoStageHDR.forward_gamma` (gamma-encoded stage II output), on the window ``box`` if given.

        Shape:
            (B, 3, H, W) -> (B, 3, H, W) (or (B, 3, bottom - top, right - left) with ``box``)
        """
        return self._gamma(ldr, box)

    def _gamma(self, ldr: torch.Tensor, box: Box | None) -> torch.Tensor:
        model = self.model
        h, w = ldr.shape[-2:]
        win_box: Box = (0, h, 0, w) if box is None else (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        outs = []
        for i in range(ldr.shape[0]):
            margin2 = 1 + RDAB.receptive_field() * len(model.stage2.blocks)
            y1, win = stage_eval(model.stage1, ldr[i : i + 1], win_box, margin2)
            local = (win_box[0] - win[0], win_box[1] - win[0], win_box[2] - win[2], win_box[3] - win[2])
            y2, _ = stage_eval(model.stage2, y1.contiguous(), local, 0)
            outs.append(y2.contiguous())
        return torch.cat(outs) if len(outs) > 1 else outs[0]
