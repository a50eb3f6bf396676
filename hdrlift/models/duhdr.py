"""DuHDR: single-image HDR reconstruction by dual learning of the camera imaging process (She et al. 2023).

Primary path (inference): ``L -> Dnet -> I_n -> INnet (inverse CRF) -> I_clip (= B) -> ITnet -> H
-> OOnet -> H_OO``. Secondary path (training only): truncation C, Nnet (forward CRF) and quantisation
Q (in :mod:`hdrlift.losses.duhdr`). Nnet is a submodule (trained and saved) but never runs at inference.

Inside domain: the input LDR is used as given (any camera curve: INnet estimates it); everything after
INnet is linear with 1.0 = the camera's clipping level (B = INnet's output is clipped at 1), which is
the project's output convention, so no conversion is needed at the boundary. The released code's
mean-0.5 normalisation of HDR targets is a loss option (``oo_loss="released"``), not a model domain.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError
from hdrlift.models.base import HDRModel, ModelSpec, SizeRequirements
from hdrlift.models.duhdr_parts import CRFNet, Dnet, ITnet, OOnet, apply_curves
from hdrlift.nn.export import dynamic_pad
from hdrlift.ops.padding import crop_to, pad_to_multiple

_MULTIPLE = 32


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ModelError(f"duhdr: {message}")


#: long side (pixels) of the image the camera curve is estimated on in tiled inference (global_context)
CRF_ESTIMATE_SIDE = 512


class DuHDR(HDRModel):
    """DuHDR (Dnet, INnet, Nnet, ITnet, OOnet).

    Args:
        dnet_width: Dnet base width (16 in the released code).
        crf_k: number of response-basis coefficients (11).
        crf_samples: samples per curve (1024).
        crf_block, crf_layers, crf_width: CRF trunk; ``"basic", [2, 2, 2, 2], 64`` = ResNet-18 (paper);
            ``"bottleneck", [3, 2], 64`` = ResNet-50 cut after res3b (released code).
        it_width: ITnet base width (64 = VGG16; only then can VGG16 weights be loaded).
        it_alpha: ITnet mask threshold (paper 0.95; released code 0.88).
        it_mask: ``"channel"`` (paper formula per channel) or ``"max"`` (max over channels, code).
        oo_width: OOnet base width (16).
        oo_units: MS-SE units in the OOnet bottleneck (3 in the code).
        oo_rfb_scale: RFB branch fusion coefficient (0.1).
        oo_inputs: ``"paper"`` feeds ``[H, B, I_n]`` and adds the residual to H (Eq. 21);
            ``"released"`` feeds ``[L, B, I_n]`` and adds it to the LDR input L (ITnet unused).
    """

    arch = "duhdr"
    #: inference on the CPU runs with channels-last weights (set by the Predictor): 2.3x faster in bf16,
    #: 1.3x in fp32 at 512 px tiles (NCHW makes oneDNN reorder every activation to its blocked layout)
    cpu_channels_last = True
    inside_domain = "LDR as given (CRF estimated by INnet); linear HDR after INnet, 1.0 = clipping level"

    def __init__(
        self,
        dnet_width: int = 16,
        crf_k: int = 11,
        crf_samples: int = 1024,
        crf_block: str = "basic",
        crf_layers: Sequence[int] = (2, 2, 2, 2),
        crf_width: int = 64,
        it_width: int = 64,
        it_alpha: float = 0.95,
        it_mask: str = "channel",
        oo_width: int = 16,
        oo_units: int = 3,
        oo_rfb_scale: float = 0.1,
        oo_inputs: str = "paper",
    ) -> None:
        crf_layers = [int(n) for n in crf_layers]
        super().__init__(
            dnet_width=dnet_width, crf_k=crf_k, crf_samples=crf_samples, crf_block=crf_block,
            crf_layers=crf_layers, crf_width=crf_width, it_width=it_width, it_alpha=it_alpha,
            it_mask=it_mask, oo_width=oo_width, oo_units=oo_units, oo_rfb_scale=oo_rfb_scale,
            oo_inputs=oo_inputs,
        )
        _check(oo_inputs in ("paper", "released"), f"oo_inputs must be 'paper' or 'released', got {oo_inputs!r}")
        _check(it_mask in ("channel", "max"), f"it_mask must be 'channel' or 'max', got {it_mask!r}")
        _check(crf_block in ("basic", "bottleneck"), f"crf_block must be 'basic' or 'bottleneck', got {crf_block!r}")
        _check(0.0 <= it_alpha < 1.0, f"it_alpha must be in [0, 1), got {it_alpha}")
        _check(len(crf_layers) > 0 and min(crf_layers) >= 1, f"crf_layers must be positive, got {crf_layers}")
        _check(min(dnet_width, crf_width, it_width, oo_width, crf_k) >= 1, "widths and crf_k must be >= 1")
        self.oo_inputs = oo_inputs
        self.dnet = Dnet(dnet_width)
        self.innet = CRFNet(True, crf_k, crf_samples, crf_block, crf_layers, crf_width)
        self.nnet = CRFNet(False, crf_k, crf_samples, crf_block, crf_layers, crf_width)
        self.itnet = ITnet(it_width, it_alpha, it_mask)
        self.oonet = OOnet(oo_width, oo_units, oo_rfb_scale)

    # -- stages (any H, W: each pads to its own multiple and crops back) ---------------------------

    def dequantize(self, ldr: torch.Tensor) -> torch.Tensor:
        """Dnet: quantised LDR -> dequantised LDR ``I_n``. Shape: (B, 3, H, W) -> (B, 3, H, W), [0, 1]"""
        x, size = pad_to_multiple(ldr, _MULTIPLE)  # same padding as forward_all (exact equality)
        return crop_to(self.dnet(x), size)

    def estimate_crf(self, ldr: torch.Tensor) -> torch.Tensor:
        """Inverse camera curve of the whole image (Dnet then INnet's global estimate).

        Call it once on a whole (possibly downsampled) image and pass the result to
        ``forward(tile, crf=...)`` for tiled inference.

        Shape:
            (B, 3, H, W) sRGB/LDR in [0, 1] -> (B, crf_samples) non-decreasing, 0 -> 0, 1 -> 1
        """
        return self.innet.curve(self.dequantize(ldr))

    def linearize(self, i_n: torch.Tensor, crf: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """INnet: dequantised LDR -> linear clipped ``I_clip`` (Eq. 9), with the inverse curve used.

        Shape:
            (B, 3, H, W) in [0, 1] -> ((B, 3, H, W) linear in [0, 1], (B, crf_samples))
        """
        if crf is None:
            crf = self.innet.curve(i_n)
        return apply_curves(i_n, crf), crf

    def nonlinearize(self, x_clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nnet (secondary, training only): linear clipped -> non-linear LDR (Eq. 10), with its curve.

        Shape:
            (B, 3, H, W) linear in [0, 1] -> ((B, 3, H, W) in [0, 1], (B, crf_samples))
        """
        return self.nnet(x_clip)

    def hallucinate(self, x_clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ITnet (Eq. 15): linear clipped -> linear HDR, and the over-exposure mask.

        Shape:
            (B, 3, H, W) linear in [0, 1] -> ((B, 3, H, W) linear >= 0, (B, 3 or 1, H, W))
        """
        x, size = pad_to_multiple(x_clip, _MULTIPLE)
        h, m = self.itnet(x)
        return crop_to(h, size), crop_to(m, size)

    def refine(self, h: torch.Tensor, i_clip: torch.Tensor, i_n: torch.Tensor,
               ldr: torch.Tensor | None = None) -> torch.Tensor:
        """OOnet (Eq. 21): ``[H, I_clip, I_n]`` (or ``[L, I_clip, I_n]`` when oo_inputs='released').

        Shape:
            each (B, 3, H, W) -> (B, 3, H, W) linear HDR >= 0
        """
        first = h
        if self.oo_inputs == "released":
            if ldr is None:
                raise ValueError("oo_inputs='released' needs the LDR input")
            first = ldr
        x, size = pad_to_multiple(torch.cat([first, i_clip, i_n], dim=1), _MULTIPLE)
        return crop_to(self.oonet(x), size)

    # -- public ------------------------------------------------------------------------------------

    def forward_all(self, ldr: torch.Tensor, crf: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every intermediate of the primary path, cropped to the input size.

        Keys: ``dequantized`` (I_n, Dnet), ``icrf`` (inverse curve (B, n)), ``linear`` (I_clip = B,
        INnet), ``mask`` (ITnet over-exposure mask), ``hallucinated`` (H = A, ITnet), ``hdr`` (final,
        OOnet). All images linear with 1.0 = clipping level except ``dequantized`` (non-linear LDR).

        Shape:
            (B, 3, H, W) sRGB LDR in [0, 1] -> dict of (B, 3, H, W) tensors (icrf (B, n); mask (B, 3|1, H, W))
        """
        x, size = pad_to_multiple(ldr, _MULTIPLE)
        i_n = self.dnet(x)
        if crf is None:
            crf = self.innet.curve(crop_to(i_n, size))
        b = apply_curves(i_n, crf)
        h, m = self.itnet(b)
        first = h if self.oo_inputs == "paper" else x
        out = self.oonet(torch.cat([first, b, i_n], dim=1))
        return {
            "dequantized": crop_to(i_n, size), "icrf": crf, "linear": crop_to(b, size),
            "mask": crop_to(m, size), "hallucinated": crop_to(h, size), "hdr": crop_to(out, size),
        }

    #: pixels the global part (the camera-curve estimate) works on at most, for the runtime's memory model
    global_max_pixels = CRF_ESTIMATE_SIDE**2

    def global_context(self, ldr: torch.Tensor) -> torch.Tensor:
        """The tiling runtime's global part: :meth:`estimate_crf` once on the whole image, down-scaled to
        :data:`CRF_ESTIMATE_SIDE` on its long side when larger (antialiased bilinear).

        Shape:
            (B, 3, H, W) sRGB LDR -> the inverse curve(s) that :meth:`forward_with_context` takes
        """
        h, w = ldr.shape[-2:]
        if max(h, w) > CRF_ESTIMATE_SIDE:
            s = CRF_ESTIMATE_SIDE / max(h, w)
            size = (max(int(round(h * s)), 4), max(int(round(w * s)), 4))
            # (antialiased resizing has no bfloat16 kernel: resize in float32)
            ldr = F.interpolate(ldr.float(), size=size, mode="bilinear", align_corners=False,
                                antialias=True).clamp(0, 1).to(ldr.dtype)
        return self.estimate_crf(ldr)

    def forward_with_context(
        self, ldr: torch.Tensor, ctx: torch.Tensor, offset: tuple[int, int], full_size: tuple[int, int]
    ) -> torch.Tensor:
        """Linear HDR of one tile given :meth:`global_context` of the whole image (offset unused).

        Shape:
            (B, 3, h, w) sRGB LDR tile -> (B, 3, h, w) linear HDR
        """
        return self(ldr, crf=ctx)

    def forward(self, ldr: torch.Tensor, crf: torch.Tensor | None = None) -> torch.Tensor:
        """LDR -> HDR. ``crf``: an inverse curve from :meth:`estimate_crf` (else estimated here).

        Shape:
            (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping)
        """
        return self.forward_all(ldr, crf)["hdr"]

    def load_itnet_vgg_weights(self, path: str) -> None:
        """Initialise ITnet's encoder from a torchvision-layout VGG16 file (``features.<i>.*``).

        Only for ``it_width=64``. Without it the encoder is randomly initialised.
        """
        from hdrlift.nn.vgg import VGGFeatures

        if self.itnet.sae.width != 64:
            raise ModelError(f"VGG16 weights need it_width=64 (this model has {self.itnet.sae.width})")
        vgg = VGGFeatures("vgg16", outputs=("relu5_3",), weights=path, normalize=False)
        own = self.itnet.sae.encoder
        own.load_state_dict(vgg.features.state_dict(), strict=True)

    def export_module(self) -> nn.Module:
        """Exportable form: the primary path with dynamic padding to 32 (:class:`DuHDRExport`).

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0
        """
        return DuHDRExport(self)


class DuHDRExport(nn.Module):
    """DuHDR's primary path (:meth:`DuHDR.forward_all`) with the padding to 32 done by shape-dependent
    ops (:func:`~hdrlift.nn.export.dynamic_pad`), so a trace pads any size.

    Same order of operations as ``forward_all``: the inverse camera curve is estimated on the un-padded
    dequantised image; the sub-networks' own ops are exportable as they are (``crf_features`` keeps the
    channel count constant and ``make_monotonic`` uses a slice difference).

    Shape:
        (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0
    """

    def __init__(self, model: DuHDR) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2], x.shape[-1]
        xp = dynamic_pad(x, _MULTIPLE)
        i_n = m.dnet(xp)
        crf = m.innet.curve(i_n[..., :h, :w])
        b = apply_curves(i_n, crf)
        hal, _ = m.itnet(b)
        first = hal if m.oo_inputs == "paper" else xp
        return m.oonet(torch.cat([first, b, i_n], dim=1))[..., :h, :w]


_GLOBAL = (
    "INnet estimates one inverse camera curve from the whole image (global average pooling): tiled "
    "inference calls estimate_crf() once on the whole (or downsampled) image and passes crf= to each "
    "tile. OOnet's MS-SE squeeze-excitation also averages over the tile (not preserved by tiling)."
)

_PAPER = "She et al., Single-image HDR reconstruction by dual learning the camera imaging process, EAAI 2023"

SPECS = [
    ModelSpec(
        name="duhdr", cls=DuHDR, paper=_PAPER,
        description="Dnet U-Net + ResNet-18 inverse/forward CRF nets + VGG16 skip auto-encoder + RFB/MS-SE U-Net",
        domain=DuHDR.inside_domain,
        size=SizeRequirements(multiple=_MULTIPLE, receptive_field=0, global_context=_GLOBAL, min_size=4),
        hparams={},
    ),
    ModelSpec(
        name="duhdr_tiny", cls=DuHDR, paper=_PAPER,
        description="tiny DuHDR for tests (same structure, widths / 4 to / 16, one block per ResNet stage)",
        domain=DuHDR.inside_domain,
        size=SizeRequirements(multiple=_MULTIPLE, receptive_field=0, global_context=_GLOBAL, min_size=4),
        hparams=dict(dnet_width=4, crf_layers=[1, 1, 1, 1], crf_width=8, it_width=4, oo_width=4, oo_units=1),
    ),
]
