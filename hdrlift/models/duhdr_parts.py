"""Sub-networks of DuHDR (She et al. 2023): Dnet, CRF networks (INnet / Nnet), ITnet, OOnet.

Domains: Dnet maps an 8-bit non-linear LDR image in [0, 1] to a dequantised one; INnet estimates an
inverse camera response curve and maps that image to linear values clipped at 1 (1 = clipping level);
Nnet estimates a forward curve (linear -> non-linear); ITnet hallucinates values above 1 in the
over-exposed region; OOnet refines the linear HDR result. See docs/models.md (DuHDR).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.nn.resnet import ResNetTrunk
from hdrlift.nn.rfb import MSSE, RFBDown
from hdrlift.nn.unet import DoubleConv, UNetDown, UNetUp, conv_act

#: bin counts of the soft histograms fed to the CRF networks (3 * (5 + 9 + 17) = 93 channels)
HIST_BINS = (4, 8, 16)
#: channels of :func:`crf_features`: RGB 3 + Sobel 6 + soft histograms 93
CRF_FEATURE_CHANNELS = 3 + 6 + 3 * sum(b + 1 for b in HIST_BINS)


def crf_features(x: torch.Tensor) -> torch.Tensor:
    """The CRF networks' pre-op (Eq. 7): image, Sobel edges and per-pixel soft histograms.

    Sobel: (d/dy, d/dx) per channel, 3x3 kernels, reflect padding (replicate for 1-px images).
    Soft histogram with ``b`` bins: for i = 0..b, ``relu(1 - |x - i/b| * b)`` per channel.

    Shape:
        (B, 3, H, W) values in [0, 1] (non-linear LDR for INnet, linear clipped for Nnet)
        -> (B, 102, H, W)
    """
    # the channel count and the border mode are Python constants and the histograms are flattened, not
    # reshaped to the size: a trace (ONNX export) keeps the spatial size dynamic
    c = int(x.shape[1])
    ky = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]], dtype=x.dtype, device=x.device)
    kernel = torch.stack([ky, ky.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2c, 1, 3, 3)
    mode = "reflect" if min(int(x.shape[-2]), int(x.shape[-1])) >= 2 else "replicate"
    edges = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), kernel, groups=c)
    hists = []
    for bins in HIST_BINS:
        centers = torch.arange(bins + 1, dtype=x.dtype, device=x.device) / bins
        d = (x.unsqueeze(2) - centers.view(1, 1, -1, 1, 1)).abs() * bins  # (B, c, bins+1, H, W)
        hists.append(torch.relu(1.0 - d).flatten(1, 2))
    return torch.cat([x, edges, *hists], dim=1)


class Dnet(nn.Module):
    """Dequantisation U-Net: ``clip(x + tanh(unet(x)), 0, 1)``; the last convolution starts at zero
    (identity).

    Widths w, 2w, 4w, 8w, 16w (w = 16 in the paper's code); level 1 uses 7x7 convs, level 2 5x5, the
    rest 3x3; LeakyReLU 0.1; average-pool down, bilinear up.

    Shape:
        (B, 3, H, W) LDR in [0, 1], H and W multiples of 16 -> (B, 3, H, W) in [0, 1]
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.inc = DoubleConv(3, w, 7)
        self.down = nn.ModuleList(
            [UNetDown(w, 2 * w, 5), UNetDown(2 * w, 4 * w), UNetDown(4 * w, 8 * w), UNetDown(8 * w, 16 * w)]
        )
        self.up = nn.ModuleList(
            [UNetUp(16 * w, 8 * w), UNetUp(8 * w, 4 * w), UNetUp(4 * w, 2 * w), UNetUp(2 * w, w)]
        )
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        # starts as the identity: an untrained dequantiser must not move the image (this project's
        # initialisation; the paper does not give one)
        assert self.out.bias is not None
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for u in self.up:
            y = u(y, skips.pop())
        return (x + torch.tanh(self.out(y))).clamp(0.0, 1.0)


class CRFNet(nn.Module):
    """INnet / Nnet: coefficients of a k-dimensional response basis from a ResNet trunk (Eq. 7-10).

    ``c = fc(GAP(ResNet(crf_features(x))))``; curve = ``make_monotonic(mean + c @ basis)`` sampled at
    ``n`` points of [0, 1] (f(0) = 0, f(1) = 1, non-decreasing). The basis (``inverse=True``: inverse
    responses, for INnet; ``False``: forward responses, for Nnet) comes from
    :func:`hdrlift.degrade.crf_basis.crf_basis` and is stored as non-trainable buffers ``mean`` (n,) and
    ``basis`` (k, n), so a checkpoint is self-contained.

    Shape:
        curve(x): (B, 3, H, W) in [0, 1] -> (B, n);  forward(x): (B, 3, H, W) -> ((B, 3, H, W), (B, n))
    """

    mean: torch.Tensor  # buffers, registered in __init__
    basis: torch.Tensor

    def __init__(self, inverse: bool, k: int = 11, n: int = 1024, block: str = "basic",
                 layers: Sequence[int] = (2, 2, 2, 2), width: int = 64) -> None:
        super().__init__()
        from hdrlift.degrade.crf_basis import crf_basis

        basis = crf_basis(k=k, n=n, inverse=inverse)
        self.register_buffer("mean", torch.tensor(basis.mean.tolist(), dtype=torch.float32))
        self.register_buffer("basis", torch.tensor(basis.basis.tolist(), dtype=torch.float32))
        self.trunk = ResNetTrunk(CRF_FEATURE_CHANNELS, block, layers, width)
        self.fc = nn.Linear(self.trunk.out_channels, k)
        nn.init.normal_(self.fc.weight, std=1e-2)
        nn.init.zeros_(self.fc.bias)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Basis coefficients ``c``. Shape: (B, 3, H, W) -> (B, k)"""
        feat = self.trunk(crf_features(x))
        return self.fc(feat.mean(dim=(2, 3)))

    def curve(self, x: torch.Tensor) -> torch.Tensor:
        """Monotonic response curve estimated from ``x``. Shape: (B, 3, H, W) -> (B, n)"""
        from hdrlift.degrade.crf import make_monotonic

        raw = self.mean.unsqueeze(0) + self.coefficients(x) @ self.basis
        return make_monotonic(raw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        curve = self.curve(x)
        return apply_curves(x, curve), curve


def apply_curves(x: torch.Tensor, curves: torch.Tensor) -> torch.Tensor:
    """Map each image of a batch through its own sampled curve (linear interpolation), clipped to [0, 1].

    Shape:
        x (B, C, H, W) in [0, 1], curves (B, n) or (n,) -> (B, C, H, W)
    """
    from hdrlift.degrade.crf import apply_curve

    return apply_curve(x.clamp(0.0, 1.0), curves).clamp(0.0, 1.0)


#: VGG16 layer layout (torchvision ``features`` indices) in units of the base width
_VGG16: list[int | str] = [1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"]
#: indices of the pre-pool activations relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_VGG16_SKIPS = (3, 8, 15, 22, 29)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2), nn.BatchNorm2d(out_ch), nn.ReLU())


def _fusion_conv(ch: int) -> nn.Conv2d:
    """1x1 conv on ``cat(a, b)`` (2*ch -> ch) initialised to ``a + b``."""
    conv = nn.Conv2d(2 * ch, ch, 1)
    with torch.no_grad():
        eye = torch.eye(ch).view(ch, ch, 1, 1)
        conv.weight.copy_(torch.cat([eye, eye], dim=1))
        assert conv.bias is not None
        conv.bias.zero_()
    return conv


class SkipAutoencoder(nn.Module):
    """ITnet's skip auto-encoder (HDRCNN-derived, as in SingleHDR / DuHDR).

    Encoder: VGG16 conv trunk (torchvision index layout in ``encoder``; widths scaled by ``width/64``)
    on ImageNet-normalised input, then conv3x3 + BN + ReLU at 1/32. Decoder: 5 x [nearest x2 ->
    conv3x3 + BN + ReLU -> 1x1 fusion with the matching pre-pool encoder feature, initialised as an
    addition]; conv1x1 -> 3 + BN + ReLU; 1x1 fusion with the input (initialised as an addition).

    Shape:
        (B, 3, H, W) linear clipped [0, 1], H and W multiples of 32 -> (B, 3, H, W)
    """

    img_mean: torch.Tensor  # buffers, registered in __init__
    img_std: torch.Tensor

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.width = width
        layers: list[nn.Module] = []
        in_ch = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(v) * width, 3, padding=1), nn.ReLU()]
                in_ch = int(v) * width
        self.encoder = nn.Sequential(*layers)
        self.register_buffer("img_mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("img_std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        w8 = 8 * width
        self.bottom = _conv_bn_relu(w8, w8)
        chans = [w8, w8, 4 * width, 2 * width, width]
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        prev = w8
        for ch in chans:
            self.up.append(_conv_bn_relu(prev, ch))
            self.fuse.append(_fusion_conv(ch))
            prev = ch
        self.head = _conv_bn_relu(width, 3, 1)
        self.fuse_in = _fusion_conv(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.img_mean) / self.img_std
        skips = []
        for i, layer in enumerate(self.encoder):
            y = layer(y)
            if i in _VGG16_SKIPS:
                skips.append(y)
        y = self.bottom(y)
        for up, fuse in zip(self.up, self.fuse):
            skip = skips.pop()
            y = up(F.interpolate(y, size=skip.shape[-2:], mode="nearest"))
            y = fuse(torch.cat([y, skip], dim=1))
        y = self.head(y)
        return self.fuse_in(torch.cat([y, x], dim=1))


class ITnet(nn.Module):
    """Inverse truncation (Eq. 15): ``H = x + mask * ReLU(SAE(x))``, ``mask = max(0, x - a) / (1 - a)``.

    ``mask_mode="channel"`` applies the mask formula per channel (the paper's literal formula);
    ``"max"`` uses the maximum over channels for all three (HDRCNN / released code). The ReLU on the
    auto-encoder output (released code) keeps the hallucinated part non-negative.

    Shape:
        (B, 3, H, W) linear clipped [0, 1], H and W multiples of 32 -> ((B, 3, H, W) HDR, (B, 3|1, H, W) mask)
    """

    def __init__(self, width: int = 64, alpha: float = 0.95, mask_mode: str = "channel") -> None:
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"ITnet alpha must be in [0, 1), got {alpha}")
        if mask_mode not in ("channel", "max"):
            raise ValueError(f"ITnet mask_mode must be 'channel' or 'max', got {mask_mode!r}")
        self.alpha = float(alpha)
        self.mask_mode = mask_mode
        self.sae = SkipAutoencoder(width)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Over-exposure mask in [0, 1]. Shape: (B, 3, H, W) -> (B, 3, H, W) or (B, 1, H, W)"""
        if self.mask_mode == "max":
            x = x.amax(dim=1, keepdim=True)
        return ((x - self.alpha) / (1.0 - self.alpha)).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.mask(x)
        return x + m * torch.relu(self.sae(x)), m


class OOnet(nn.Module):
    """Overall optimisation U-Net: conv level, 4 RFB DownBlocks, MS-SE, 4 UpBlocks, conv (Fig. 4).

    Input: 9 channels (three images concatenated); output = first image + predicted residual, ReLU.
    Widths w, 2w, 4w, 8w, 8w (w = 16 in the paper's code).

    Shape:
        (B, 9, H, W), H and W multiples of 32 -> (B, 3, H, W) linear HDR >= 0
    """

    def __init__(self, width: int = 16, msse_units: int = 3, rfb_scale: float = 0.1) -> None:
        super().__init__()
        w = width
        self.inc = nn.Sequential(conv_act(9, w, 7), conv_act(w, w, 7))
        self.down = nn.ModuleList([
            RFBDown(w, 2 * w, rfb_scale), RFBDown(2 * w, 4 * w, rfb_scale),
            RFBDown(4 * w, 8 * w, rfb_scale), RFBDown(8 * w, 8 * w, rfb_scale),
        ])
        self.msse = MSSE(8 * w, msse_units)
        self.up = nn.ModuleList([
            UNetUp(8 * w, 8 * w), UNetUp(8 * w, 4 * w), UNetUp(4 * w, 2 * w), UNetUp(2 * w, w),
        ])
        self.out = nn.Conv2d(w, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = self.msse(skips.pop())
        for u in self.up:
            y = u(y, skips.pop())
        return torch.relu(x[:, :3] + self.out(y))
