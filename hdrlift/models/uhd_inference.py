"""Inference paths of :class:`~hdrlift.models.uhd_bilateral.UHDBilateral` (eval mode, no autograd).

* CPU (``_use_fast``): the VGG trunk with in-place ReLUs (optionally channels-last or bfloat16), and the
  full-resolution part fused over 2-D tiles - either one native C kernel (:mod:`hdrlift.nn.native`) or
  torch tiles with folded BatchNorms, row-interpolated grids and pixels-last 1x1 convs.
* Elsewhere (GPU): the full-resolution part with folded BatchNorms as NCHW convolutions.

All are equal to the module graph up to float rounding (tests/test_model_uhd.py); the training graph and
the state-dict keys are those of the model class. docs/inference.md has the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.nn import native
from hdrlift.nn.bilateral import row_tables, slice_apply, slice_apply_rows
from hdrlift.nn.mobile import folded_forward, inverted_residual_pixels

__all__ = ["UHDInferenceMixin"]


class UHDInferenceMixin:
    """Inference kernels mixed into ``UHDBilateral`` (they use its sub-modules and attributes:
    ``vgg``, ``vgg_names``, guides, ``fuse_*``, ``vgg_dtype``, ``vgg_channels_last``, ``native``,
    ``native_tile``, ``fast_tile``, ``receptive_field``, ``hdr_mu``, ``hdr_max``)."""

    def use_cpu_bf16(self, enabled: bool = True) -> None:
        """Run the low-resolution VGG trunk in bfloat16 in the fused CPU path (``--precision bf16``)."""
        self.vgg_dtype = torch.bfloat16 if enabled else torch.float32

    def _vgg_layers(self) -> Sequence[nn.Module]:
        """The VGG layers in :attr:`vgg_dtype` (float32: the module's own; else a cached converted copy)."""
        if self.vgg_dtype == torch.float32:
            return list(self.vgg.features)
        key = (self.vgg_dtype, tuple((p.data_ptr(), p._version) for p in self.vgg.parameters()))
        cache = self.__dict__.get("_vgg_lowp")
        if cache is None or cache[0] != key:
            import copy

            layers = copy.deepcopy(self.vgg.features).to(self.vgg_dtype, memory_format=torch.channels_last)
            cache = (key, list(layers))
            self.__dict__["_vgg_lowp"] = cache  # not a submodule: state_dict and .to() ignore it
        return cache[1]

    def _vgg_fast(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The VGG trunk with in-place ReLUs (inference only; same values as ``self.vgg`` in float32
        NCHW; channels-last or bfloat16 change the float rounding, see ``vgg_channels_last`` and
        ``vgg_dtype``). Features are returned in float32."""
        vgg = self.vgg
        if vgg.normalize:
            x = (x - vgg.mean) / vgg.std
        lowp = self.vgg_dtype != torch.float32
        if lowp:
            x = x.to(self.vgg_dtype)
        if self.vgg_channels_last or lowp:
            x = x.contiguous(memory_format=torch.channels_last)
        want = set(self.vgg_names)
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(vgg.names, self._vgg_layers()):
            x = x.relu_() if isinstance(layer, nn.ReLU) else layer(x)
            if name in want:
                out[name] = x.float() if lowp else x
        return out

    # ------------------------------------------------------------------ full resolution (local)

    @torch.no_grad()
    def _fused_params(self) -> dict[str, Any]:
        """Eval-mode parameters of the full-resolution part with BatchNorms folded (pixels-last form)."""
        w1, b1, w2, b2 = self.guide_content.folded()
        if self.guide_colour is not None:
            s1, c1, s2, c2 = self.guide_colour.folded()
            w1, b1 = torch.cat((w1, s1)), torch.cat((b1, c1))
            w2, b2 = torch.block_diag(w2, s2), torch.cat((b2, c2))
        return {
            "guide": (w1, b1, w2, b2),
            "fuse_in": (self.fuse_in.weight.flatten(1), self.fuse_in.bias),
            "blocks": [blk.folded() for blk in self.fuse_blocks],
            "fuse_out": (self.fuse_out.weight.flatten(1), self.fuse_out.bias),
        }

    def _folded_full_res(self, ldr, grids, offset, full_size, p: dict[str, Any]) -> torch.Tensor:
        """:meth:`_full_res` in eval mode with the BatchNorms folded (``p`` = :meth:`_fused_params`):
        the GPU's inference path (no BatchNorm kernels, both guides in one conv, ReLU6 in place).

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded region -> (B, 3, h, w) in [0, 1]
        """
        w1, b1, w2, b2 = p["guide"]
        hidden = F.conv2d(ldr, w1[:, :, None, None], b1).relu_()
        guides = F.conv2d(hidden, w2[:, :, None, None], b2).tanh_()
        g_s = guides[:, 1:2] if guides.shape[1] > 1 else guides[:, :1]
        m_c = slice_apply(grids[:, 0], guides[:, :1], ldr, offset, full_size, chunk_pixels=1 << 30)
        m_s = slice_apply(grids[:, 1], g_s, ldr, offset, full_size, chunk_pixels=1 << 30)
        wi, bi = p["fuse_in"]
        x = F.conv2d(torch.cat((m_c, m_s), dim=1), wi[:, :, None, None], bi)
        for blk in p["blocks"]:
            x = folded_forward(x, blk)
        wo, bo = p["fuse_out"]
        return F.conv2d(x, wo[:, :, None, None], bo).sigmoid_()

    def _fast_tile(self, x: torch.Tensor, tables: torch.Tensor, p: dict[str, Any], col0: int, full_w: int,
                   hdr: bool) -> torch.Tensor:
        """Full-resolution part on one tile (zero padding at the tile border), channel-planar in and out.

        Shape:
            x: (3, h, w) sRGB-encoded LDR, tables: (2 * h, 12, D, GW) (:func:`row_tables` of the tile's
            rows) -> (3, h, w) linear HDR (``hdr``) or the [0, 1] output y
        """
        _, h, w = x.shape
        n = h * w
        w1, b1, w2, b2 = p["guide"]
        hidden = torch.addmm(b1[:, None], w1, x.view(3, n)).relu_()
        guide = torch.addmm(b2[:, None], w2, hidden).tanh_().view(-1, h, w).expand(2, h, w)
        feat = slice_apply_rows(tables, guide, x, col0, full_w)  # (2, 3, h, w)
        wi, bias = p["fuse_in"]
        t = torch.mm(feat.view(-1, n).t(), wi.t()).view(h, w, -1)  # pixels-last; true value t + bias
        for blk in p["blocks"]:
            t, bias = inverted_residual_pixels(t, blk, bias)
        wo, bo = p["fuse_out"]
        y = torch.addmm(torch.addmv(bo, wo, bias)[:, None], wo, t.view(n, -1).t()).sigmoid_()  # (3, n)
        if hdr:
            y = y.clamp_(0.0, 1.0).mul_(math.log1p(self.hdr_mu * self.hdr_max)).expm1_().div_(self.hdr_mu)
        return y.view(3, h, w)

    def _fast_full_res(self, ldr: torch.Tensor, grids: torch.Tensor, offset: tuple[int, int],
                       full_size: tuple[int, int], hdr: bool, out: torch.Tensor | None = None) -> torch.Tensor:
        """Fused full-resolution part over 2-D tiles with a ``receptive_field`` halo (exact).

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded LDR region -> (B, 3, h, w) linear HDR (``hdr``) or y in [0, 1]
        """
        b, _, h, w = ldr.shape
        if out is None:
            out = torch.empty(b, 3, h, w, dtype=ldr.dtype)
        p = self._fused_params()
        if self.native and all(
            native.uhd_fullres(ldr[i], grids[i], p, offset, full_size, out[i], hdr,
                               math.log1p(self.hdr_mu * self.hdr_max), self.hdr_mu,
                               tuple(self.native_tile))
            for i in range(b)
        ):
            return out
        rf = self.receptive_field
        rows, cols = _spans(h, int(self.fast_tile[0])), _spans(w, int(self.fast_tile[1]))
        for i in range(b):
            for r0, r1 in rows:
                a0, a1 = max(0, r0 - rf), min(h, r1 + rf)
                tables = row_tables(grids[i], offset[0] + a0, a1 - a0, full_size[0])
                for c0, c1 in cols:
                    e0, e1 = max(0, c0 - rf), min(w, c1 + rf)
                    x = ldr[i, :, a0:a1, e0:e1].contiguous()
                    y = self._fast_tile(x, tables, p, offset[1] + e0, full_size[1], hdr)
                    out[i, :, r0:r1, c0:c1] = y[:, r0 - a0: r1 - a0, c0 - e0: c1 - e0]
        return out


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    """Spans of ``size`` covering ``n``; a last span shorter than ``size // 2`` joins the previous one."""
    size = max(int(size), 1)
    spans = [(s, min(s + size, n)) for s in range(0, n, size)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < size // 2:
        spans[-2:] = [(spans[-2][0], n)]
    return spans
