"""CurveNet: the camera curve of one photo, estimated from the photo (hdrlift's own method, issue #22).

Plain sRGB decoding assumes every photo was encoded with the sRGB curve. Real cameras' curves are
not sRGB (the 201 measured DoRF curves), and on photos from them most of the error after exposure
alignment is in the *mid-tones*: on the generalisation suite (:mod:`hdrlift.tools.suite`) an
oracle that knows one exponent ``g`` per photo (``linear = srgb_to_linear(x) ** g``) gains +2.4 dB
PSNR-mu over sRGB decoding on the default and the held-out cameras, and nothing on sRGB photos
(``g = 1``). CurveNet predicts that exponent from the image itself: a small CNN on a fixed-size
thumbnail plus per-channel code-value histograms, trained to regress the oracle exponent of
captures made by many camera curves (sRGB included, so that ``g = 1`` stays the answer for sRGB
photos). It is the ``--camera estimate`` decoder of :mod:`hdrlift.ops.blend` (the "decoded photo"
the networks' outputs are blended with) and, alone, an LDR -> HDR method that only linearises.

The output keeps 1.0 as the clipping level (``1 ** g = 1``), so the networks' highlights join it
without a seam. Tiled inference estimates ``g`` once on the whole image (:meth:`global_context`).

**Degradation branch** (``detail_width > 0``): the rest of "the camera" - was the photo written with
noise or JPEG artefacts? Both are looked for in native-resolution crops (a thumbnail averages noise
and block edges away): a second small CNN regresses the relative noise at mid-grey
(``log10(sigma / x + 0.003)`` at ``x = 0.18``), and :func:`jpeg_grid_statistic` (no weights) finds the
8x8 grid of a JPEG by its zeroed high-frequency DCT coefficients; :meth:`CurveNet.detail_weight` maps the
two through a 3-number logistic calibration (``detail_gate``) to the weight of the network's fine
detail in the blend
(:func:`hdrlift.ops.blend.blend_with_decoded`, ``detail``): a clean photo keeps its own pixels, a noisy
or compressed one takes the network's restored detail under the photo's local tone.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.models.base import ExportRequirements, HDRModel, ModelSpec, SizeRequirements
from hdrlift.nn.export import AA_BILINEAR
from hdrlift.ops.transfer import srgb_to_linear


def thumbnail(ldr: torch.Tensor, side: int) -> torch.Tensor:
    """The fixed-size thumbnail CurveNet looks at (antialiased bilinear, aspect ratio not kept).

    Domain: sRGB-encoded LDR in [0, 1].

    Shape:
        (B, 3, H, W) -> (B, 3, side, side)
    """
    if ldr.shape[-2:] == (side, side):
        return ldr
    aa = ldr.shape[-2] > side or ldr.shape[-1] > side
    return F.interpolate(ldr, size=(side, side), mode="bilinear", align_corners=False, antialias=aa).clamp(0, 1)


def detail_crops(ldr: torch.Tensor, size: int, count: int) -> torch.Tensor:
    """Up to ``count`` native-resolution crops of ``size`` px on a regular grid (overlapping where the
    image is small; the whole side where it is shorter than ``size``), stacked along the batch.

    Domain: sRGB-encoded LDR in [0, 1].

    Shape:
        (B, 3, H, W) -> (B * n, 3, min(size, H), min(size, W)), n <= count (the same n for every image)
    """
    h, w = ldr.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    ny = 1 if h <= ch else min(max(1, int(count**0.5)), -(-h // ch))
    nx = 1 if w <= cw else min(max(1, count // ny), -(-w // cw))
    ys = [round(i * (h - ch) / max(1, ny - 1)) for i in range(ny)] if ny > 1 else [(h - ch) // 2]
    xs = [round(j * (w - cw) / max(1, nx - 1)) for j in range(nx)] if nx > 1 else [(w - cw) // 2]
    crops = [ldr[:, :, y:y + ch, x:x + cw] for y in ys for x in xs]
    return torch.stack(crops, 1).reshape(-1, ldr.shape[1], ch, cw)


def _dct8() -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix (rows: frequencies)."""
    k = torch.arange(8, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m.float()


def jpeg_grid_statistic(ldr: torch.Tensor) -> torch.Tensor:
    """How much more often the high-frequency 8x8 DCT coefficients of the luma (in code values 0-255) are
    zero on the best-aligned 8x8 grid than on a typical one: about 0 for an image that was never JPEG
    compressed, 0.15-0.5 for JPEG quality 60-97 (its quantisation zeroes them on the grid it used), whatever
    the scene. Every one of the 64 grid offsets is tried, so a crop of a JPEG is found too.

    Domain: sRGB-encoded LDR in [0, 1] (the code values as written).

    Shape:
        (B, 3, H, W) -> (B,); 0 where H or W < 16
    """
    b, _, h, w = ldr.shape
    if h < 16 or w < 16:
        return torch.zeros(b, dtype=ldr.dtype, device=ldr.device)
    x = ldr.float()
    y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]) * 255.0
    d = _dct8().to(y.device)
    u = torch.arange(8, device=y.device)
    high = (u[:, None] + u[None, :]) >= 6
    fracs = []
    for py in range(8):
        for px in range(8):
            hh, ww = (h - py) // 8 * 8, (w - px) // 8 * 8
            blk = y[:, py:py + hh, px:px + ww].reshape(b, hh // 8, 8, ww // 8, 8).transpose(2, 3)
            c = d @ blk @ d.T
            fracs.append((c[..., high].abs() < 0.5).float().mean(dim=(1, 2, 3)))
    f = torch.stack(fracs, 1)
    return (f.amax(1) - f.median(1).values).to(ldr.dtype)


def code_histograms(thumb: torch.Tensor, bins: int) -> torch.Tensor:
    """Per-channel histograms of the code values (fractions of pixels; linear-interpolated bins).

    Domain: sRGB-encoded LDR in [0, 1].

    Shape:
        (B, 3, h, w) -> (B, 3 * bins)
    """
    b, c = thumb.shape[:2]
    pos = thumb.reshape(b, c, -1).clamp(0, 1) * (bins - 1)
    lo = pos.floor().clamp(max=bins - 2)
    frac = pos - lo
    hist = torch.zeros(b, c, bins, dtype=thumb.dtype, device=thumb.device)
    hist.scatter_add_(2, lo.long(), 1.0 - frac)
    hist.scatter_add_(2, lo.long() + 1, frac)
    return (hist / pos.shape[-1]).reshape(b, c * bins)


class CurveNet(HDRModel):
    """Per-photo exponent over sRGB decoding, estimated by a small CNN + histogram MLP.

    Args:
        width: base channel width of the CNN (4 stride-2 convolutions: width, 2w, 4w, 4w).
        hist_bins: bins of each channel's code-value histogram.
        side: side of the thumbnail the estimate is made on.
        log_range: the exponent lies in ``exp(+-log_range)`` (``tanh`` bounded).
        gate: a second output ``p`` (sigmoid), the belief that the photo is plain sRGB:
            ``g = g_net ** (1 - p)``, so the network can say "sRGB, exactly" (``g = 1``) where it
            recognises one - on clean sRGB photos even a 1 % exponent error costs decibels.
        strength: the exponent applied is ``g ** strength`` (1 = as estimated, 0 = sRGB decoding): a
            calibration of a trained estimator, chosen on validation and stored with the weight.
        detail_width: channels of the degradation branch (0 = none; see the module docstring).
        detail_crop, detail_crops: side and number of the native-resolution crops it looks at.
        detail_gate: ``(a, b_noise, b_jpeg)``: ``detail = sigmoid(a + b_noise * noise + b_jpeg * jpeg)``
            (``noise`` regressed, ``jpeg`` the grid statistic; :meth:`degradation`).
    """

    arch = "curvenet"
    inside_domain = "sRGB decoding raised to one per-image exponent (estimated on a thumbnail)"
    #: the thumbnail is an antialiased resize (ONNX Resize with antialias, opset 18)
    export_requirements = ExportRequirements(min_opset=18, symbolics=(AA_BILINEAR,))

    def __init__(self, width: int = 16, hist_bins: int = 32, side: int = 128, log_range: float = 0.9,
                 gate: bool = False, strength: float = 1.0, detail_width: int = 0, detail_crop: int = 96,
                 detail_crops: int = 16,
                 detail_gate: tuple[float, float, float] | list[float] = (0.0, 0.0, 0.0)) -> None:
        super().__init__(width=width, hist_bins=hist_bins, side=side, log_range=log_range, gate=gate,
                         strength=strength, detail_width=detail_width, detail_crop=detail_crop,
                         detail_crops=detail_crops, detail_gate=[float(v) for v in detail_gate])
        if not 0.0 <= float(strength) <= 2.0:
            raise ValueError(f"strength must lie in [0, 2], got {strength}")
        self.strength = float(strength)
        self.side, self.hist_bins, self.log_range, self.gate = int(side), int(hist_bins), float(log_range), bool(gate)
        w = int(width)
        chans = [3, w, 2 * w, 4 * w, 4 * w]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.LeakyReLU(0.1)]
        self.cnn = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(2 * chans[-1] + 3 * self.hist_bins, 64), nn.LeakyReLU(0.1), nn.Linear(64, 2 if gate else 1)
        )
        out_layer = self.head[-1]
        assert isinstance(out_layer, nn.Linear)
        nn.init.zeros_(out_layer.weight)  # untrained: g = 1, plain sRGB decoding
        nn.init.zeros_(out_layer.bias)
        if len(detail_gate) != 3:
            raise ValueError(f"detail_gate must be 3 numbers (a, b_noise, b_jpeg), got {detail_gate}")
        self.detail_gate = tuple(float(v) for v in detail_gate)
        self.detail_crop, self.detail_crops = int(detail_crop), int(detail_crops)
        self.detail_net: nn.Module | None = None
        dw = int(detail_width)
        if dw > 0:
            self.detail_net = nn.Sequential(
                nn.Conv2d(6, dw, 3, padding=1), nn.LeakyReLU(0.1),
                nn.Conv2d(dw, dw, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                nn.Conv2d(dw, 2 * dw, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                nn.Conv2d(2 * dw, 2 * dw, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            )
            self.detail_head = nn.Sequential(nn.Linear(4 * dw, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))

    @property
    def has_detail(self) -> bool:
        """Whether this estimator has the degradation branch (:meth:`detail_weight` works)."""
        return self.detail_net is not None

    def noise_of_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """The regressed relative noise at mid-grey of each crop (the module docstring's target).

        Domain: sRGB-encoded LDR in [0, 1], native resolution.

        Shape:
            (N, 3, h, w) -> (N,)
        """
        if self.detail_net is None:
            raise ValueError("this CurveNet has no degradation branch (detail_width = 0)")
        x = crops.float()
        hp = (x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)) * 10.0
        f = self.detail_net(torch.cat([x - 0.5, hp], 1))
        return self.detail_head(torch.cat([f.mean(dim=(-2, -1)), f.amax(dim=(-2, -1))], 1))[:, 0]

    def degradation(self, ldr: torch.Tensor) -> torch.Tensor:
        """``(noise, jpeg)`` of each whole image: the means over its :func:`detail_crops` of
        :meth:`noise_of_crops` and of :func:`jpeg_grid_statistic`.

        Domain: sRGB-encoded LDR in [0, 1].

        Shape:
            (B, 3, H, W) -> (B, 2)
        """
        crops = detail_crops(ldr.float(), self.detail_crop, self.detail_crops)
        per = torch.stack([self.noise_of_crops(crops), jpeg_grid_statistic(crops)], 1)
        return per.reshape(ldr.shape[0], -1, 2).mean(1)

    def detail_weight(self, ldr: torch.Tensor) -> torch.Tensor:
        """Weight in [0, 1] of the network's fine detail for each image (0: a clean photo, keep its pixels).

        Domain: sRGB-encoded LDR in [0, 1].

        Shape:
            (B, 3, H, W) -> (B,)
        """
        d = self.degradation(ldr)
        a, bn, bj = self.detail_gate
        return torch.sigmoid(a + bn * d[:, 0] + bj * d[:, 1]).to(ldr.dtype)

    #: pixels the global part (the estimate on the thumbnail) works on, for the runtime's memory model
    @property
    def global_max_pixels(self) -> int:
        return self.side * self.side

    def estimate_from_thumbnail(self, thumb: torch.Tensor) -> torch.Tensor:
        """Exponent ``g`` of each image from its :func:`thumbnail`.

        Domain: sRGB-encoded LDR in [0, 1].

        Shape:
            (B, 3, side, side) -> (B,)
        """
        f = self.cnn(thumb - 0.5)
        feats = torch.cat([f.mean(dim=(-2, -1)), f.amax(dim=(-2, -1)), code_histograms(thumb, self.hist_bins)], 1)
        out = self.head(feats)
        log_g = self.log_range * torch.tanh(out[:, 0])
        if self.gate:
            log_g = log_g * (1.0 - torch.sigmoid(out[:, 1]))
        return torch.exp(self.strength * log_g)

    def estimate(self, ldr: torch.Tensor) -> torch.Tensor:
        """Exponent ``g`` of each whole image (1 = sRGB decoding is right).

        Domain: sRGB-encoded LDR in [0, 1].

        Shape:
            (B, 3, H, W) -> (B,)
        """
        return self.estimate_from_thumbnail(thumbnail(ldr.float(), self.side)).to(ldr.dtype)

    def global_context(self, ldr: torch.Tensor) -> torch.Tensor:
        """The tiling runtime's global part: :meth:`estimate` once on the whole image.

        Shape:
            (B, 3, H, W) sRGB LDR -> (B,) exponents
        """
        return self.estimate(ldr)

    def forward_with_context(
        self, ldr: torch.Tensor, ctx: torch.Tensor, offset: tuple[int, int], full_size: tuple[int, int]
    ) -> torch.Tensor:
        """Linear HDR of one tile given the whole image's exponents (offset unused: exact tiling).

        Shape:
            (B, 3, h, w) sRGB LDR tile, (B,) -> (B, 3, h, w) linear HDR
        """
        return self(ldr, g=ctx)

    def forward(self, ldr: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """sRGB decoding raised to the estimated (or given) exponent.

        Shape:
            (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping)
        """
        if g is None:
            g = self.estimate(ldr)
        lin = srgb_to_linear(ldr.clamp(0, 1))  # a new tensor: raised in place
        return lin.clamp_(min=1e-8).pow_(g.to(lin.dtype).view(-1, 1, 1, 1))


_GLOBAL = (
    "one exponent per image, estimated on a fixed-size thumbnail of the whole image: tiled inference "
    "calls global_context() once and passes it to every tile (exact)"
)
_PAPER = "hdrlift (issue #22): per-photo camera-curve exponent over sRGB decoding"


def _spec(name: str, description: str, **hparams: Any) -> ModelSpec:
    return ModelSpec(name=name, cls=CurveNet, paper=_PAPER, description=description,
                     domain=CurveNet.inside_domain,
                     size=SizeRequirements(multiple=1, receptive_field=0, global_context=_GLOBAL, min_size=2,
                                           pointwise=True),
                     hparams=hparams)


SPECS = [
    _spec("curvenet", "4-conv CNN on a 128 px thumbnail + code-value histograms -> one exponent"),
    _spec("curvenet_tiny", "tiny CurveNet for tests (width 4, 8 bins, 32 px thumbnail, a 4-channel degradation branch)",
          width=4, hist_bins=8, side=32, detail_width=4, detail_crop=16, detail_crops=4),
]
