"""Inference kernels of :class:`~hdrlift.models.uhd_bilateral.UHDBilateral` (eval mode, no autograd).

* ``uhd_bilateral.native`` (CPU): the VGG trunk with in-place ReLUs (optionally channels-last, bfloat16
  with ``precision="bf16"``), and the whole full-resolution part (guide MLPs, slicing of both grids, fusion
  blocks, sigmoid, HDR decoding) in one native C function over cache-sized tiles
  (:func:`hdrlift.nn.native.uhd_fullres`, OpenMP over bands).
* ``uhd_bilateral.tiles`` (CPU): the same low-resolution part; the full-resolution part per 2-D tile in
  torch: BatchNorms folded, both guides as one matrix product, both grids sliced at once on row tables
  (:func:`hdrlift.nn.bilateral.slice_apply_rows`), 1x1 convs as matrix products on pixels-last rows.
* ``uhd_bilateral.folded`` (any device; the GPU's): the model's low-resolution part; the full-resolution
  part with folded BatchNorms as NCHW convolutions, in row chunks with a halo (autocast-safe).

All equal the model's forward up to float rounding (tests/test_kernels.py); the runtime knobs (tile and
chunk sizes, the VGG trunk's layout and dtype) are the kernels' options, not the model's attributes.

Domain: in sRGB-encoded LDR; grids act on it; out linear HDR (or, ``hdr=False``, the paper's y in [0, 1]).
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import KernelError, ModelError
from hdrlift.kernels.base import CpuKernel, Kernel, Reason, entry, register
from hdrlift.models.uhd_bilateral import UHDBilateral
from hdrlift.nn import native
from hdrlift.nn.bilateral import row_tables, slice_apply, slice_apply_rows
from hdrlift.nn.mobile import InvertedResidual, folded_forward, inverted_residual_pixels

Offset = tuple[int, int]


@torch.no_grad()
def fused_params(model: UHDBilateral) -> dict[str, Any]:
    """Eval-mode parameters of the full-resolution part with the BatchNorms folded (pixels-last form):
    ``guide`` (w1, b1, w2, b2; both guide networks stacked, w2 block-diagonal), ``fuse_in`` (w, b),
    ``blocks`` (:meth:`~hdrlift.nn.mobile.InvertedResidual.folded` per block), ``fuse_out`` (w, b)."""
    w1, b1, w2, b2 = model.guide_content.folded()
    if model.guide_colour is not None:
        s1, c1, s2, c2 = model.guide_colour.folded()
        w1, b1 = torch.cat((w1, s1)), torch.cat((b1, c1))
        w2, b2 = torch.block_diag(w2, s2), torch.cat((b2, c2))
    return {
        "guide": (w1, b1, w2, b2),
        "fuse_in": (model.fuse_in.weight.flatten(1), model.fuse_in.bias),
        "blocks": [blk.folded() for blk in cast("list[InvertedResidual]", list(model.fuse_blocks))],
        "fuse_out": (model.fuse_out.weight.flatten(1), model.fuse_out.bias),
    }


def _check(model: UHDBilateral, ldr: torch.Tensor, grids: torch.Tensor) -> None:
    model._check_input(ldr)
    if grids.shape[0] != ldr.shape[0]:
        raise ModelError(f"grids batch {grids.shape[0]} != image batch {ldr.shape[0]}")


def _full_size(ldr: torch.Tensor, full_size: Sequence[int] | None) -> tuple[int, int]:
    return tuple(ldr.shape[-2:]) if full_size is None else (int(full_size[0]), int(full_size[1]))  # type: ignore[return-value]


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    """Spans of ``size`` covering ``n``; a last span shorter than ``size // 2`` joins the previous one."""
    size = max(int(size), 1)
    spans = [(s, min(s + size, n)) for s in range(0, n, size)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < size // 2:
        spans[-2:] = [(spans[-2][0], n)]
    return spans


class _Fused(CpuKernel, abc.ABC):
    """Shared part of the CPU kernels: the lean VGG trunk and the entry points; subclasses implement
    :meth:`full_res`.

    Args:
        tile: (rows, cols) of the full-resolution part's core tiles (default :attr:`TILE`).
        vgg_channels_last: run the VGG trunk channels-last (~1.5x faster on a CPU; off by default: its
            float rounding (~1e-6) is amplified by the AdaIN/Tucker stages to up to ~1e-4 in the grids).

    With ``precision="bf16"`` the VGG trunk runs in bfloat16 (a channels-last bfloat16 copy of its weights,
    made on first use and again whenever the weights change; AdaIN, heads, Tucker and the full-resolution
    part stay float32: ``bf16 = "lowres"``). The full-resolution part is memory-bound pointwise work whose
    fused float32 kernels a bfloat16 network would bypass (16 s vs 3 s at 4K), while the VGG at 256x256
    runs ~4.5x faster in bfloat16 channels-last.

    Shape:
        kernel(ldr[, out=]): (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR; ``out`` any strides
    """

    kind = "torch"
    accepts_out = True
    bf16 = "lowres"
    model: UHDBilateral
    #: default core tile (rows, cols)
    TILE: tuple[int, int] = (128, 512)

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32",
                 tile: Sequence[int] | None = None, vgg_channels_last: bool = False) -> None:
        super().__init__(model, device, precision)
        bf16 = self.device.type == "cpu" and precision == "bf16"
        #: dtype of the VGG trunk
        self.vgg_dtype = torch.bfloat16 if bf16 else torch.float32
        self.vgg_channels_last = bool(vgg_channels_last)
        self.tile = (int(tile[0]), int(tile[1])) if tile is not None else self.TILE
        self._lowp: tuple[Any, list[nn.Module]] | None = None

    def options(self) -> dict[str, Any]:
        vgg = str(self.vgg_dtype).replace("torch.", "") + (
            " channels-last" if self.vgg_channels_last or self.vgg_dtype != torch.float32 else "")
        return {"tile": f"{self.tile[0]}x{self.tile[1]}", "vgg": vgg}

    # ------------------------------------------------------------------ entry points
    @entry(lambda m, x: m(x))
    def __call__(self, ldr: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        grids = self._grids(ldr)
        return self.full_res(ldr, grids, (0, 0), _full_size(ldr, None), True, out)

    @entry(lambda m, x: m.global_context(x))
    def global_context(self, ldr: torch.Tensor) -> torch.Tensor:
        """The grids of the whole image (:meth:`UHDBilateral.predict_grids`).

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 2, 12, D, GH, GW)
        """
        return self._grids(ldr)

    @entry(lambda m, x, ctx, off, fs: m.forward_with_context(x, ctx, off, fs))
    def forward_with_context(self, ldr: torch.Tensor, ctx: torch.Tensor, offset: Offset, full_size: Offset,
                             out: torch.Tensor | None = None) -> torch.Tensor:
        """Linear HDR of one tile at ``offset`` of a ``full_size`` image from the whole image's grids ``ctx``.

        Shape:
            (B, 3, h, w) sRGB-encoded LDR tile -> (B, 3, h, w) linear HDR
        """
        _check(self.model, ldr, ctx)
        return self.full_res(ldr, ctx, (int(offset[0]), int(offset[1])), _full_size(ldr, full_size), True, out)

    @entry(lambda m, x, g, off=(0, 0), fs=None: m.apply_grids_inner(x, g, off, fs))
    def apply_grids_inner(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset = (0, 0),
                          full_size: Offset | None = None) -> torch.Tensor:
        """:meth:`UHDBilateral.apply_grids_inner`: the paper's [0, 1] output y of a region.

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded region, grids: (B, 2, 12, D, GH, GW) -> (B, 3, h, w) in [0, 1]
        """
        _check(self.model, ldr, grids)
        return self.full_res(ldr, grids, (int(offset[0]), int(offset[1])), _full_size(ldr, full_size), False)

    # ------------------------------------------------------------------ low resolution
    def _grids(self, ldr: torch.Tensor) -> torch.Tensor:
        m = self.model
        return m.grids_from_features(self._vgg(m.vgg_inputs(ldr)), ldr.shape[0])

    def _vgg_layers(self) -> list[nn.Module]:
        """The VGG layers in :attr:`vgg_dtype` (float32: the model's own; else a cached converted copy,
        rebuilt when the weights change)."""
        vgg = self.model.vgg
        if self.vgg_dtype == torch.float32:
            return list(vgg.features)
        key = (self.vgg_dtype, tuple((p.data_ptr(), p._version) for p in vgg.parameters()))
        if self._lowp is None or self._lowp[0] != key:
            layers = copy.deepcopy(vgg.features).to(  # type: ignore[call-overload]  # stubs lack memory_format
                self.vgg_dtype, memory_format=torch.channels_last)
            self._lowp = (key, list(layers))
        return self._lowp[1]

    def _vgg(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The VGG trunk with in-place ReLUs (same values as ``model.vgg`` in float32 NCHW; channels-last
        or bfloat16 change the float rounding). Features are returned in float32."""
        m = self.model
        vgg = m.vgg
        if vgg.normalize:
            x = (x - vgg.mean) / vgg.std
        lowp = self.vgg_dtype != torch.float32
        if lowp:
            x = x.to(self.vgg_dtype)
        if self.vgg_channels_last or lowp:
            x = x.contiguous(memory_format=torch.channels_last)
        want = set(m.vgg_names)
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(vgg.names, self._vgg_layers()):
            x = x.relu_() if isinstance(layer, nn.ReLU) else layer(x)
            if name in want:
                out[name] = x.float() if lowp else x
        return out

    # ------------------------------------------------------------------ full resolution
    @abc.abstractmethod
    def full_res(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset, full_size: Offset, hdr: bool,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """Fused full-resolution part over 2-D tiles with a ``receptive_field`` halo (tile-exact); each
        concrete kernel (native C, torch tiles) implements it.

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded LDR region -> (B, 3, h, w) linear HDR (``hdr``) or y in [0, 1]
        """

    def _hdr_scale(self) -> float:
        return math.log1p(self.model.hdr_mu * self.model.hdr_max)


@register(UHDBilateral)
class UHDNative(_Fused):
    """The full-resolution part in the native C kernel (:func:`hdrlift.nn.native.uhd_fullres`).

    Available where the library was built (a C compiler on Linux, ``HDRLIFT_NATIVE`` not ``0``) and for
    models within its limits (:func:`hdrlift.nn.native.uhd_unsupported`: expanded inverted-residual blocks,
    fusion width <= 64). Tiles of :attr:`TILE` = ``native.UHD_TILE`` rows x columns plus the one-pixel-per-
    block halo; input and output may be strided views (the Predictor's HWC arrays: no copy).
    """

    name = "uhd_bilateral.native"
    kind = "native"
    TILE = native.UHD_TILE

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32",
                 tile: Sequence[int] | None = None, vgg_channels_last: bool = False) -> None:
        super().__init__(model, device, precision, tile, vgg_channels_last)
        self.build = native.build("uhd_fullres")
        if self.build.lib is None:
            raise KernelError(f"native uhd_fullres is unavailable ({self.build.reason})")

    @classmethod
    def supports(cls, model: Any, device: torch.device, precision: str) -> str | None:
        why = super().supports(model, device, precision)
        if why is not None:
            return why
        why = native.uhd_unsupported(fused_params(model), 2)
        if why is not None:
            return why
        b = native.build("uhd_fullres")
        return None if b.lib is not None else Reason(str(b.reason), warn=b.warn)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "build": dict(self.build.record)}

    def describe(self) -> str:
        return f"{super().describe()}; built with {self.build.describe()}"

    def full_res(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset, full_size: Offset, hdr: bool,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = ldr.shape
        if out is None:
            out = torch.empty(b, 3, h, w, dtype=torch.float32)
        p = fused_params(self.model)
        for i in range(b):
            native.uhd_fullres(ldr[i], grids[i], p, offset, full_size, out[i], hdr, self._hdr_scale(),
                               self.model.hdr_mu, self.tile, lib=self.build.lib)
        return out


@register(UHDBilateral)
class UHDTiles(_Fused):
    """The full-resolution part per 2-D tile of :attr:`TILE` core pixels in torch.

    Per tile: both guide networks as one matrix product, both grids sliced at once (row tables, then one
    2-D ``grid_sample``: :func:`~hdrlift.nn.bilateral.slice_apply_rows`), 1x1 convs as ``mm`` on pixels-
    last rows, depthwise convs channels-last, in-place activations, projection biases carried to the next
    linear layer (:func:`~hdrlift.nn.mobile.inverted_residual_pixels`), HDR decoding fused. Core tile
    (128, 512): temporaries ~0.4 kB/px stay in L2/L3, the 3 px halo adds ~6 % pixels, and few enough
    operators per image that OpenMP barriers stay cheap on a loaded CPU.
    """

    name = "uhd_bilateral.tiles"
    TILE = (128, 512)

    def _tile(self, x: torch.Tensor, tables: torch.Tensor, p: dict[str, Any], col0: int, full_w: int,
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
            y = y.clamp_(0.0, 1.0).mul_(self._hdr_scale()).expm1_().div_(self.model.hdr_mu)
        return y.view(3, h, w)

    def full_res(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset, full_size: Offset, hdr: bool,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = ldr.shape
        if out is None:
            out = torch.empty(b, 3, h, w, dtype=ldr.dtype)
        p = fused_params(self.model)
        rf = self.model.receptive_field
        rows, cols = _spans(h, self.tile[0]), _spans(w, self.tile[1])
        for i in range(b):
            for r0, r1 in rows:
                a0, a1 = max(0, r0 - rf), min(h, r1 + rf)
                tables = row_tables(grids[i], offset[0] + a0, a1 - a0, full_size[0])
                for c0, c1 in cols:
                    e0, e1 = max(0, c0 - rf), min(w, c1 + rf)
                    x = ldr[i, :, a0:a1, e0:e1].contiguous()
                    y = self._tile(x, tables, p, offset[1] + e0, full_size[1], hdr)
                    out[i, :, r0:r1, c0:c1] = y[:, r0 - a0: r1 - a0, c0 - e0: c1 - e0]
        return out


def folded_full_res(model: UHDBilateral, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset,
                    full_size: Offset, p: dict[str, Any]) -> torch.Tensor:
    """:meth:`UHDBilateral.apply_grids_inner` with the BatchNorms folded (``p`` = :func:`fused_params`):
    no BatchNorm kernels, both guides in one conv, ReLU6 in place; NCHW on any device.

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


@register(UHDBilateral)
class UHDFolded(Kernel):
    """The model's grids, then the full-resolution part with folded BatchNorms, NCHW, in row chunks of
    ``chunk_pixels`` with a ``receptive_field`` halo (exact). Any device; autocast-safe (the GPU's kernel).

    Args:
        chunk_pixels: pixels per chunk; default :attr:`CPU_CHUNK` on the CPU (memory bound), :attr:`GPU_CHUNK`
            on a GPU (~40 kernels per chunk, so small chunks are launch-bound there: 4K in 2 chunks, a few GB
            of device memory; the Predictor's budget tiles images that do not fit).

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR
    """

    name = "uhd_bilateral.folded"
    kind = "torch"
    autocast_ok = True
    model: UHDBilateral
    CPU_CHUNK = 1 << 18
    GPU_CHUNK = 1 << 22

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32",
                 chunk_pixels: int | None = None) -> None:
        super().__init__(model, device, precision)
        default = self.CPU_CHUNK if self.device.type == "cpu" else self.GPU_CHUNK
        self.chunk_pixels = int(chunk_pixels) if chunk_pixels is not None else default

    def options(self) -> dict[str, Any]:
        return {"chunk_pixels": self.chunk_pixels}

    @entry(lambda m, x: m(x))
    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        grids = self.model.predict_grids(ldr)
        return self.model.inner_to_hdr(self._inner(ldr, grids, (0, 0), _full_size(ldr, None)))

    @entry(lambda m, x, ctx, off, fs: m.forward_with_context(x, ctx, off, fs))
    def forward_with_context(self, ldr: torch.Tensor, ctx: torch.Tensor, offset: Offset,
                             full_size: Offset) -> torch.Tensor:
        """Linear HDR of one tile at ``offset`` of a ``full_size`` image from the whole image's grids ``ctx``.

        Shape:
            (B, 3, h, w) sRGB-encoded LDR tile -> (B, 3, h, w) linear HDR
        """
        return self.model.inner_to_hdr(self._inner(ldr, ctx, offset, full_size))

    @entry(lambda m, x, g, off=(0, 0), fs=None: m.apply_grids_inner(x, g, off, fs))
    def apply_grids_inner(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset = (0, 0),
                          full_size: Offset | None = None) -> torch.Tensor:
        """:meth:`UHDBilateral.apply_grids_inner`: the paper's [0, 1] output y of a region.

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded region, grids: (B, 2, 12, D, GH, GW) -> (B, 3, h, w) in [0, 1]
        """
        return self._inner(ldr, grids, offset, full_size)

    def _inner(self, ldr: torch.Tensor, grids: torch.Tensor, offset: Offset,
               full_size: Offset | None) -> torch.Tensor:
        model = self.model
        _check(model, ldr, grids)
        h, w = ldr.shape[-2:]
        fs = _full_size(ldr, full_size)
        off = (int(offset[0]), int(offset[1]))
        p = fused_params(model)
        rows = max(1, self.chunk_pixels // w)
        if rows >= h:
            return folded_full_res(model, ldr, grids, off, fs, p)
        rf = model.receptive_field
        parts = []
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            a, b = max(0, r0 - rf), min(h, r1 + rf)
            y = folded_full_res(model, ldr[:, :, a:b], grids, (off[0] + a, off[1]), fs, p)
            parts.append(y[:, :, r0 - a: r1 - a])
        return torch.cat(parts, dim=2)
