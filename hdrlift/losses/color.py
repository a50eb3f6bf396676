"""Stage-II loss of the two-stage network: L1 + CIEDE2000 perceptual colour loss (Eq. 7-9).

    L_S2 = || I_G - I_H ||_1 + ΔE00(I_G, I_H)

ΔE00 is the per-pixel CIEDE2000 difference averaged over the image, computed with the
differentiable :func:`hdrlift.ops.color.ciede2000` (the released code's ΔE term has no gradient:
it goes through NumPy/skimage and returns a fresh leaf tensor - see reference-code.md, two-stage
BUG; here it trains). Images are converted to CIELAB from the domain named by ``domain``:

* ``"srgb"`` (default): values are display-encoded and decoded with the sRGB curve, which is what
  the release's ``skimage.color.rgb2lab`` assumes (the NTIRE gamma-2.24 values are treated alike);
* ``"gamma"``: decoded with ``x ** 2.24`` (NTIRE gamma domain, exact);
* ``"linear"``: already linear RGB.

HDR values above 1 give L* > 100, which CIEDE2000 accepts. ``delta_e_weight`` scales the ΔE term
(1.0 = the paper's Eq. 9; the release divided ΔE by 255 before it was discarded: 1/255).
"""

from __future__ import annotations

import torch
from torch import nn

from hdrlift.ops.color import ciede2000, rgb_to_lab
from hdrlift.ops.transfer import NTIRE_GAMMA, gamma_decode, srgb_to_linear

DOMAINS = ("srgb", "gamma", "linear")


def to_lab(img: torch.Tensor, domain: str = "srgb") -> torch.Tensor:
    """RGB image in the named domain -> CIELAB (channel dim 1).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if domain == "srgb":
        lin = srgb_to_linear(img)
    elif domain == "gamma":
        lin = gamma_decode(img, NTIRE_GAMMA)
    elif domain == "linear":
        lin = img
    else:
        raise ValueError(f"unknown colour domain {domain!r}; use one of {list(DOMAINS)}")
    return rgb_to_lab(lin, dim=1)


def delta_e_loss(pred: torch.Tensor, target: torch.Tensor, domain: str = "srgb") -> torch.Tensor:
    """Mean CIEDE2000 between two RGB images (differentiable).

    Domain: as named by ``domain`` (see module docstring).

    Shape:
        (B, 3, H, W), (B, 3, H, W) -> ()
    """
    return ciede2000(to_lab(pred, domain), to_lab(target, domain), dim=1).mean()


class ColorLoss(nn.Module):
    """L1 + ``delta_e_weight`` * mean CIEDE2000 (two-stage stage II).

    Args:
        domain: ``"srgb"``, ``"gamma"`` or ``"linear"`` - how RGB values are decoded before Lab.
        l1_weight: weight of the L1 term (paper: 1).
        delta_e_weight: weight of the ΔE00 term (paper: 1; release's inert scale 1/255).

    Shape:
        (B, 3, H, W), (B, 3, H, W) -> ()
    """

    def __init__(self, domain: str = "srgb", l1_weight: float = 1.0, delta_e_weight: float = 1.0) -> None:
        super().__init__()
        if domain not in DOMAINS:
            raise ValueError(f"unknown colour domain {domain!r}; use one of {list(DOMAINS)}")
        self.domain = domain
        self.l1_weight = l1_weight
        self.delta_e_weight = delta_e_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.l1_weight * (pred - target).abs().mean()
        if self.delta_e_weight:
            loss = loss + self.delta_e_weight * delta_e_loss(pred, target, self.domain)
        return loss
