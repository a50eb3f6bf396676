"""Collaborative bilateral learning for UHD HDR reconstruction (Zheng et al., ICCV 2021).

Pipeline (paper section 3, figure 2):

1. Low resolution (global): the LDR image is resized to ``low_res`` x ``low_res`` (256). A content path
   takes its gray image, a colour path its Gaussian-blurred colour image; one shared VGG19 trunk
   extracts relu1_1..relu4_1 features of both. A dual-path network (stride-2 fusion blocks; the
   content path receives ``LeakyAdaIN(content, colour)`` of the next VGG level, paper Eq. 2) ends in
   two heads that are reshaped into two affine bilateral grids (B, 12, D, GH, GW) (paper: "16x8x8
   cells of 12 numbers", read as D = 16 guide-intensity bins x 8 x 8 spatial cells).
2. Each grid is smoothed by the 3D Tucker reconstruction (mean of three single-mode low-rank
   reconstructions, ranks [D//2, GH//2, GW//2]).
3. Full resolution (local, pointwise): two pointwise guide networks on the LDR input; trilinear
   slicing (clamped borders) of each grid and per-pixel 3x4 affine maps applied to the LDR RGB give a
   "content" and a "colour" map.
4. Fusion: both maps concatenated -> conv1x1 -> three inverted residual blocks -> conv1x1 -> sigmoid
   = the paper's network output y in [0, 1] (``forward_inner``).

Public contract: y is read as a mu-law log encoding of linear HDR with a known maximum
``hdr_max`` (in units of the clipping level): hdr = expm1(y * log1p(mu * M)) / mu, so y = 1 is M
and y = log1p(mu) / log1p(mu M) (0.41 by default) is the clipping level 1.0. Training targets map
with :meth:`UHDBilateral.hdr_to_inner`.

Tiling: ``grids = model.predict_grids(ldr_full)`` once, then ``model.apply_grids(tile, grids,
offset, full_size)`` per tile; tiles overlap by ``receptive_field`` (= number of fusion blocks) pixels.

Inference kernels (:mod:`hdrlift.kernels.uhd_bilateral`) compute the same function faster (BatchNorms
folded, the full-resolution part fused per cache-sized tile in torch or in one native C kernel, the VGG
trunk optionally in bfloat16); this module is the paper network with one forward, their reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError
from hdrlift.models.base import ExportRequirements, HDRModel, ModelSpec, SizeRequirements
from hdrlift.nn.adain import LeakyAdaIN
from hdrlift.nn.bilateral import GuideNet, slice_apply, slice_apply_whole
from hdrlift.nn.export import AA_BILINEAR, EXPM1
from hdrlift.nn.mobile import InvertedResidual
from hdrlift.nn.tucker import jacobi_projector, subspace_projector, tucker_smooth
from hdrlift.nn.vgg import VGGFeatures

__all__ = ["UHDBilateral", "SPECS"]

_VGG_CHANNELS = (64, 128, 256, 512, 512)
_N_COEFFS = 12  # 3x4 affine, row-major
_IDENTITY_COEFFS = (0, 5, 10)  # diagonal of the 3x3 part in the row-major 3x4 layout


def _gray3(x: torch.Tensor) -> torch.Tensor:
    """Gray image of sRGB-encoded RGB (Rec.601 luma) replicated to 3 channels (VGG input)."""
    y = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return y.expand(-1, 3, -1, -1)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicate borders (radius ceil(3 sigma), at most size - 1).

    Radius and channel count are Python ints and the kernels are materialised (``repeat``), so a trace
    (ONNX export, at the fixed low resolution) holds constant kernels.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """
    if sigma <= 0:
        return x
    radius = min(int(math.ceil(3.0 * sigma)), int(x.shape[-1]) - 1, int(x.shape[-2]) - 1)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = int(x.shape[1])
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                 groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                    groups=c)


class _FusionBlock(nn.Module):
    """One stride-2 dual-path block: content 3x3s2 -> 1x1 (+ LeakyAdaIN of the next VGG level) -> 1x1;
    colour 3x3s2 -> 1x1."""

    def __init__(self, c_in: int, s_in: int, width: int, c_out: int, adain_variant: str) -> None:
        super().__init__()
        self.c_down = nn.Conv2d(c_in, width, 3, 2, 1)
        self.c_up = nn.Conv2d(width, c_out, 1)
        self.adain = LeakyAdaIN(c_out, adain_variant)
        self.c_out = nn.Conv2d(c_out, c_out, 1)
        self.s_down = nn.Conv2d(s_in, width, 3, 2, 1)
        self.s_mix = nn.Conv2d(width, width, 1)

    def forward(
        self, u: torch.Tensor, v: torch.Tensor, fc: torch.Tensor, fs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(self.c_up(F.relu(self.c_down(u))))
        t = t[..., : fc.shape[-2], : fc.shape[-1]]
        u = F.relu(self.c_out(t + self.adain(fc, fs)))
        v = F.relu(self.s_mix(F.relu(self.s_down(v))))
        return u, v


class _GridHead(nn.Module):
    """Stride-2 3x3 convs down to the grid's spatial size, then 1x1 -> 12 * D coefficients."""

    def __init__(self, c_in: int, width: int, n_down: int, grid_shape: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = c_in
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, width, 3, 2, 1), nn.ReLU()]
            ch = width
        self.down = nn.Sequential(*layers)
        self.depth, self.gh, self.gw = (int(g) for g in grid_shape)
        self.out = nn.Conv2d(ch, _N_COEFFS * self.depth, 1)
        with torch.no_grad():  # start near the identity affine map (initialisation choice)
            self.out.weight.mul_(0.1)
            bias = torch.zeros(_N_COEFFS, self.depth)
            bias[list(_IDENTITY_COEFFS)] = 1.0
            assert self.out.bias is not None
            self.out.bias.copy_(bias.flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        if x.shape[-2:] != (self.gh, self.gw):
            x = F.adaptive_avg_pool2d(x, (self.gh, self.gw))
        g = self.out(x)
        return g.view(g.shape[0], _N_COEFFS, self.depth, self.gh, self.gw)


class UHDBilateral(HDRModel):
    """Collaborative bilateral network (UHD-HDR). See the module docstring for the pipeline.

    Args:
        low_res: side of the square low-resolution image the grids are predicted from.
        grid_shape: (D, GH, GW) = guide-intensity bins, grid rows, grid columns.
        vgg_levels: number of VGG19 levels used (relu1_1 .. relu{L}_1), 1-5.
        block_widths: bottleneck width of each dual-path fusion block (``vgg_levels - 1`` entries).
        head_width: channels of the stride-2 convs of the grid heads.
        guide_hidden: hidden channels of the pointwise guide networks.
        fusion_width, fusion_expand, fusion_blocks: full-resolution fusion (inverted residual blocks).
        blur_sigma: sigma (low-res pixels) of the Gaussian blur of the colour path's input.
        tucker: ``"3d"`` (paper), ``"joint"`` (one truncated HOSVD, released-code intent) or ``"none"``.
        tucker_ranks: ranks per grid mode (D, GH, GW); default [D//2, GH//2, GW//2].
        adain_variant: ``"paper"`` (Eq. 2) or ``"released"`` (the authors' code; near-zero output).
        shared_guide: one guide map for both grids (released code) instead of two (paper).
        vgg_weights: optional torchvision-layout VGG19 weights file; random init otherwise. The weights
            become part of the model's state dict, so the stored hparam is reset to ``None``.
        vgg_trainable: train the VGG trunk (default frozen: the paper uses a pre-trained VGG19 as a
            fixed feature extractor, as AdaIN does, and the released code freezes it).
        hdr_max, hdr_mu: output encoding (see :meth:`inner_to_hdr`).

    Shape:
        ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping)
    """

    arch = "uhd_bilateral"
    inside_domain = (
        "grids act on sRGB-encoded LDR; network output y in [0,1] (sigmoid) = mu-law log encoding "
        "y = log1p(mu*h)/log1p(mu*hdr_max) of linear HDR h (1.0 = clipping)"
    )

    def __init__(
        self,
        low_res: int = 256,
        grid_shape: Sequence[int] = (16, 8, 8),
        vgg_levels: int = 4,
        block_widths: Sequence[int] = (8, 16, 32),
        head_width: int = 64,
        guide_hidden: int = 16,
        fusion_width: int = 8,
        fusion_expand: int = 2,
        fusion_blocks: int = 3,
        blur_sigma: float = 2.0,
        tucker: str = "3d",
        tucker_ranks: Sequence[int] | None = None,
        adain_variant: str = "paper",
        shared_guide: bool = False,
        vgg_weights: str | None = None,
        vgg_trainable: bool = False,
        hdr_max: float = 64.0,
        hdr_mu: float = 16.0,
    ) -> None:
        grid_shape = [int(g) for g in grid_shape]
        block_widths = [int(w) for w in block_widths]
        if len(grid_shape) != 3 or min(grid_shape) < 1:
            raise ModelError(f"grid_shape must be (D, GH, GW) >= 1, got {grid_shape}")
        if not 1 <= vgg_levels <= 5 or len(block_widths) != vgg_levels - 1:
            raise ModelError(f"need 1 <= vgg_levels <= 5 and vgg_levels - 1 block widths, got "
                             f"{vgg_levels}, {block_widths}")
        if tucker not in ("3d", "joint", "none"):
            raise ModelError(f"tucker must be '3d', 'joint' or 'none', got {tucker!r}")
        if adain_variant not in ("paper", "released"):
            raise ModelError(f"adain_variant must be 'paper' or 'released', got {adain_variant!r}")
        if hdr_max <= 1.0 or hdr_mu <= 0.0:
            raise ModelError(f"need hdr_max > 1 and hdr_mu > 0, got {hdr_max}, {hdr_mu}")
        ranks = [max(1, g // 2) for g in grid_shape] if tucker_ranks is None else [int(r) for r in tucker_ranks]
        if len(ranks) != 3 or any(not 1 <= r <= g for r, g in zip(ranks, grid_shape)):
            raise ModelError(f"tucker_ranks must be 3 values in [1, grid size], got {ranks}")
        super().__init__(
            low_res=int(low_res), grid_shape=grid_shape, vgg_levels=int(vgg_levels), block_widths=block_widths,
            head_width=int(head_width), guide_hidden=int(guide_hidden), fusion_width=int(fusion_width),
            fusion_expand=int(fusion_expand), fusion_blocks=int(fusion_blocks), blur_sigma=float(blur_sigma),
            tucker=tucker, tucker_ranks=None if tucker_ranks is None else ranks, adain_variant=adain_variant,
            shared_guide=bool(shared_guide), vgg_weights=None, vgg_trainable=bool(vgg_trainable),
            hdr_max=float(hdr_max), hdr_mu=float(hdr_mu),
        )
        self.low_res = int(low_res)
        self.grid_shape = tuple(grid_shape)
        self.tucker_mode = tucker
        self.tucker_ranks = tuple(ranks)
        self.blur_sigma = float(blur_sigma)
        self.hdr_max = float(hdr_max)
        self.hdr_mu = float(hdr_mu)
        self.vgg_source = vgg_weights
        names = [f"relu{k}_1" for k in range(1, vgg_levels + 1)]
        self.vgg = VGGFeatures("vgg19", outputs=names, weights=None, normalize=True,
                               requires_grad=bool(vgg_trainable))
        if vgg_weights is None:
            for m in self.vgg.modules():  # torchvision's VGG initialisation keeps activations in scale
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    assert m.bias is not None
                    nn.init.zeros_(m.bias)
        else:
            from hdrlift.nn.vgg import load_vgg_weights

            load_vgg_weights(self.vgg, vgg_weights)
        self.vgg_names = names

        chans = _VGG_CHANNELS[:vgg_levels]
        self.blocks = nn.ModuleList()
        s_ch = chans[0]
        for k, width in enumerate(block_widths):
            self.blocks.append(_FusionBlock(chans[k], s_ch, width, chans[k + 1], adain_variant))
            s_ch = width
        res = max(1, self.low_res // 2 ** (vgg_levels - 1))
        n_down = max(0, math.ceil(math.log2(max(res / max(grid_shape[1:]), 1.0))))
        self.content_head = _GridHead(chans[-1], int(head_width), n_down, grid_shape)
        self.colour_head = _GridHead(s_ch, int(head_width), n_down, grid_shape)

        self.guide_content = GuideNet(3, int(guide_hidden))
        self.guide_colour = None if shared_guide else GuideNet(3, int(guide_hidden))
        fw = int(fusion_width)
        self.fuse_in = nn.Conv2d(6, fw, 1)
        self.fuse_blocks = nn.Sequential(*[InvertedResidual(fw, fw, int(fusion_expand)) for _ in range(fusion_blocks)])
        self.fuse_out = nn.Conv2d(fw, 3, 1)
        self.receptive_field = int(fusion_blocks)

    # ------------------------------------------------------------------ output encoding
    def inner_to_hdr(self, y: torch.Tensor) -> torch.Tensor:
        """Network output y in [0, 1] -> linear HDR: expm1(y log1p(mu M)) / mu (y=1 -> M, >= 0).

        Shape:
            any -> same
        """
        return torch.expm1(y.clamp(0.0, 1.0) * math.log1p(self.hdr_mu * self.hdr_max)) / self.hdr_mu

    def hdr_to_inner(self, hdr: torch.Tensor) -> torch.Tensor:
        """Linear HDR (1.0 = clipping) -> training target y = log1p(mu h) / log1p(mu M), clipped to [0, 1].

        Shape:
            any -> same
        """
        h = hdr.clamp(0.0, self.hdr_max)
        return torch.log1p(self.hdr_mu * h) / math.log1p(self.hdr_mu * self.hdr_max)

    # ------------------------------------------------------------------ low resolution (global)
    def vgg_inputs(self, ldr: torch.Tensor) -> torch.Tensor:
        """The VGG trunk's input: the content path's gray image and the colour path's blurred image of
        the whole image resized to ``low_res``, stacked along the batch (content first).

        Shape:
            ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (2B, 3, low_res, low_res) sRGB-encoded
        """
        self._check_input(ldr)
        # (antialiased resizing has no bfloat16 kernel: resize in float32)
        small = F.interpolate(ldr.float(), size=(self.low_res, self.low_res), mode="bilinear",
                              align_corners=False, antialias=True).to(ldr.dtype)
        return torch.cat((_gray3(small), _gaussian_blur(small, self.blur_sigma)), dim=0)

    def grids_from_features(self, feats: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
        """Dual-path fusion, grid heads and Tucker smoothing from the VGG features of :meth:`vgg_inputs`.

        Shape:
            feats: {relu<k>_1: (2B, C_k, h_k, w_k)} -> (B, 2, 12, D, GH, GW) (content, colour)
        """
        fc = [feats[n][:batch] for n in self.vgg_names]
        fs = [feats[n][batch:] for n in self.vgg_names]
        u, v = fc[0], fs[0]
        for k, block in enumerate(self.blocks):
            u, v = block(u, v, fc[k + 1], fs[k + 1])
        grids = torch.stack((self.content_head(u), self.colour_head(v)), dim=1)
        return tucker_smooth(grids, self.tucker_ranks, self.tucker_mode,
                             projector=jacobi_projector if self.export_form else subspace_projector)

    def predict_grids(self, ldr: torch.Tensor) -> torch.Tensor:
        """The two smoothed bilateral grids from the whole image downsampled to ``low_res``.

        Shape:
            ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 2, 12, D, GH, GW) (content, colour)
        """
        self._check_input(ldr)
        dev = ldr.device.type
        if dev in ("cpu", "cuda") and torch.is_autocast_enabled(dev):
            # the low-resolution branch stays float32 under autocast: trained VGG features overflow
            # float16 in the instance statistics (inf -> NaN grids, seen on a GPU), and at 256x256 it
            # costs well under a millisecond there; the full-resolution part keeps the autocast
            with torch.autocast(dev, enabled=False):
                return self.predict_grids(ldr.float())
        return self.grids_from_features(self.vgg(self.vgg_inputs(ldr)), ldr.shape[0])

    def slice_features(
        self,
        ldr: torch.Tensor,
        grids: torch.Tensor,
        offset: tuple[int, int] = (0, 0),
        full_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Guided slicing + affine application of both grids on a region (pointwise, tile-exact).

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded region, grids: (B, 2, 12, D, GH, GW) -> (B, 6, h, w)
            (content map, colour map)
        """
        fs = (int(ldr.shape[-2]), int(ldr.shape[-1])) if full_size is None else (int(full_size[0]), int(full_size[1]))
        g_c = self.guide_content(ldr)
        g_s = g_c if self.guide_colour is None else self.guide_colour(ldr)
        if self.export_form:  # whole image, positions from the traced size (see export_module)
            return torch.cat((slice_apply_whole(grids[:, 0], g_c, ldr), slice_apply_whole(grids[:, 1], g_s, ldr)), 1)
        m_c = slice_apply(grids[:, 0], g_c, ldr, offset, fs, chunk_pixels=1 << 30)
        m_s = slice_apply(grids[:, 1], g_s, ldr, offset, fs, chunk_pixels=1 << 30)
        return torch.cat((m_c, m_s), dim=1)

    def _full_res(self, ldr: torch.Tensor, grids: torch.Tensor, offset: tuple[int, int],
                  full_size: tuple[int, int] | None) -> torch.Tensor:
        x = self.fuse_in(self.slice_features(ldr, grids, offset, full_size))
        return torch.sigmoid(self.fuse_out(self.fuse_blocks(x)))

    def apply_grids_inner(
        self,
        ldr: torch.Tensor,
        grids: torch.Tensor,
        offset: tuple[int, int] = (0, 0),
        full_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Paper's [0, 1] output for a region of the full image, using the global grids.

        Pointwise except the fusion blocks' depthwise 3x3 convs (``receptive_field`` pixels), which
        zero-pad at the region's border: a region is exact ``receptive_field`` pixels inside its border.

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded LDR region, grids: (B, 2, 12, D, GH, GW) -> (B, 3, h, w) in [0, 1]
        """
        self._check_input(ldr)
        if grids.shape[0] != ldr.shape[0]:
            raise ModelError(f"grids batch {grids.shape[0]} != image batch {ldr.shape[0]}")
        h, w = ldr.shape[-2:]
        fs = (h, w) if full_size is None else (int(full_size[0]), int(full_size[1]))
        return self._full_res(ldr, grids, (int(offset[0]), int(offset[1])), fs)

    @property
    def global_max_pixels(self) -> int:
        """Pixels the global part (the low-resolution grid prediction) works on, for the memory model."""
        return int(self.low_res) ** 2

    def global_context(self, ldr: torch.Tensor) -> torch.Tensor:
        """The tiling runtime's global part: :meth:`predict_grids` on the whole image.

        Shape:
            (B, 3, H, W) sRGB LDR -> grids (see :meth:`predict_grids`)
        """
        return self.predict_grids(ldr)

    def forward_with_context(
        self, ldr: torch.Tensor, ctx: torch.Tensor, offset: tuple[int, int], full_size: tuple[int, int]
    ) -> torch.Tensor:
        """Linear HDR of one tile at ``offset`` of a ``full_size`` image from the whole image's grids.

        Shape:
            (B, 3, h, w) sRGB LDR tile -> (B, 3, h, w) linear HDR
        """
        return self.apply_grids(ldr, ctx, offset, full_size)

    def apply_grids(
        self,
        ldr: torch.Tensor,
        grids: torch.Tensor,
        offset: tuple[int, int] = (0, 0),
        full_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Linear HDR for a region (tile) of the full image, using grids of the whole image.

        ``offset`` = (row, col) of the region in the full image of size ``full_size`` (H, W).

        Shape:
            ldr: (B, 3, h, w) sRGB-encoded LDR region, grids: (B, 2, 12, D, GH, GW) -> (B, 3, h, w) linear HDR
        """
        return self.inner_to_hdr(self.apply_grids_inner(ldr, grids, offset, full_size))

    # ------------------------------------------------------------------ whole image
    def forward_inner(self, ldr: torch.Tensor) -> torch.Tensor:
        """The paper's network output (sigmoid, [0, 1]); train on it with ``hdr_to_inner`` targets.

        Shape:
            ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) in [0, 1]
        """
        return self.apply_grids_inner(ldr, self.predict_grids(ldr))

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Linear HDR of a whole image.

        Shape: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping)
        """
        return self.apply_grids(ldr, self.predict_grids(ldr))

    @staticmethod
    def _check_input(ldr: torch.Tensor) -> None:
        if ldr.dim() != 4 or ldr.shape[1] != 3:
            raise ModelError(f"uhd_bilateral expects (B, 3, H, W) input, got {tuple(ldr.shape)}")

    # ------------------------------------------------------------------ ONNX export
    #: opset 20 for the 5-D ``GridSample`` of the trilinear slicing (antialiased ``Resize`` needs 18);
    #: a fixed batch of 1, as the unrolled Jacobi sweeps have constant shapes (a dynamic batch through them
    #: makes onnxruntime's session set-up take seconds instead of a fraction of one)
    export_requirements = ExportRequirements(min_opset=20, static_batch=True, symbolics=(AA_BILINEAR, EXPM1))
    #: trace the exportable forms (set only on the copy made by :meth:`export_module`): the Tucker
    #: projectors by :func:`~hdrlift.nn.tucker.jacobi_projector` instead of ``eigh`` and whole-image
    #: slicing with positions from the traced size (:func:`~hdrlift.nn.bilateral.slice_apply_whole`)
    export_form = False

    def export_module(self) -> nn.Module:
        """A copy of this model with :attr:`export_form` set, to be traced for ONNX.

        Equal to the model up to float rounding (the Jacobi projectors agree with ``eigh`` to ~1e-12).
        Tracing never takes the inference kernels (:meth:`hdrlift.kernels.Kernel.blocked`).

        Shape:
            (1, 3, H, W) sRGB-encoded LDR in [0, 1] -> (1, 3, H, W) linear HDR >= 0
        """
        import copy

        m = copy.deepcopy(self)
        m.export_form = True
        return m


_PAPER = "Zheng et al., Ultra-High-Definition Image HDR Reconstruction via Collaborative Bilateral Learning, ICCV 2021"
_CONTEXT = ("grids predicted from the whole image downsampled to {r}x{r}; tiles slice the global grids "
            "(predict_grids once, apply_grids per tile with its offset)")

_TINY: dict[str, Any] = dict(
    low_res=64, grid_shape=[8, 4, 4], vgg_levels=2, block_widths=[8], head_width=16, guide_hidden=4,
    fusion_width=6, fusion_expand=2, fusion_blocks=3, blur_sigma=0.5,
)

SPECS = [
    ModelSpec(
        name="uhd_bilateral",
        cls=UHDBilateral,
        paper=_PAPER,
        description="dual-path VGG19 + LeakyAdaIN -> two 16x8x8 affine bilateral grids, 3D Tucker smoothing, "
                    "guided slicing at full resolution, inverted-residual fusion",
        domain=UHDBilateral.inside_domain,
        size=SizeRequirements(multiple=1, receptive_field=3, global_context=_CONTEXT.format(r=256)),
        hparams={},
    ),
    ModelSpec(
        name="uhd_bilateral_tiny",
        cls=UHDBilateral,
        paper=_PAPER,
        description="test-size variant: 64x64 low-res input, VGG19 up to relu2_1, 8x4x4 grids",
        domain=UHDBilateral.inside_domain,
        size=SizeRequirements(multiple=1, receptive_field=3, global_context=_CONTEXT.format(r=64)),
        hparams=dict(_TINY),
    ),
]
