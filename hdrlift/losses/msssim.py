"""MS-SSIM loss ``1 - MS-SSIM`` (torch, differentiable) for the two-stage network's stage I.

``variant="standard"`` (default, the paper's "multi-scale variant of SSIM"): Wang et al. 2003 -
Gaussian window 11, sigma 1.5, K = (0.01, 0.03), 5 scales with weights (0.0448, 0.2856, 0.3001,
0.2363, 0.1333), MS-SSIM = prod_{j<M} cs_j^{w_j} * ssim_M^{w_M}, per sample then averaged over the
batch; fewer scales (renormalised weights) for images too small for 5 (see
:mod:`hdrlift.metrics.ssim`).

``variant="twostage_release"`` reproduces the authors' released loss (``loss/pytorch_msssim`` of
sharif-apu/twostageHDR_NTIRE21, a known-buggy package): always 5 levels (2x2 average pooling, the
window shrinks to the image size), batch-averaged ssim/cs per level, ``normalize=True`` maps
ssim, cs -> (x + 1) / 2, and the combination is prod_{j<5}(cs_j^{w_j} * ssim_5^{w_5}) over the
first four levels (so ssim_5 enters with exponent 4 w_5). With ``data_range=None`` the range is
guessed from ``pred`` like the package (255 if max > 128 else 1; minus -1 if min < -0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.metrics.ssim import MS_SSIM_WEIGHTS, ms_ssim_torch, ssim_components

VARIANTS = ("standard", "twostage_release")


def _guess_range(x: torch.Tensor) -> float:
    hi = 255.0 if float(x.detach().max()) > 128 else 1.0
    lo = -1.0 if float(x.detach().min()) < -0.5 else 0.0
    return hi - lo


def _ms_ssim_release(pred: torch.Tensor, target: torch.Tensor, data_range: float | None) -> torch.Tensor:
    """The released two-stage MS-SSIM (scalar over the batch), faithful to its combination bug."""
    rng = _guess_range(pred) if data_range is None else data_range
    w = torch.tensor(MS_SSIM_WEIGHTS, dtype=pred.dtype, device=pred.device)
    sims, css = [], []
    x, y = pred, target
    for _ in range(len(MS_SSIM_WEIGHTS)):
        s, cs = ssim_components(x, y, rng, odd_window=False)
        sims.append(s.mean())
        css.append(cs.mean())
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    mssim = (torch.stack(sims) + 1) / 2
    mcs = (torch.stack(css) + 1) / 2
    return torch.prod(mcs[:-1] ** w[:-1] * mssim[-1] ** w[-1])


def ms_ssim_loss(
    pred: torch.Tensor, target: torch.Tensor, data_range: float | None = 1.0, variant: str = "standard"
) -> torch.Tensor:
    """``1 - MS-SSIM(pred, target)``.

    Domain: display-range images (the two-stage net uses it on the 8-bit-target domain [0, 1]);
    ``data_range`` is their range (None = guess, release variant only).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown MS-SSIM variant {variant!r}; use one of {list(VARIANTS)}")
    if variant == "twostage_release":
        return 1.0 - _ms_ssim_release(pred, target, data_range)
    if data_range is None:
        raise ValueError("data_range=None (guessing) is only supported by variant='twostage_release'")
    return 1.0 - ms_ssim_torch(pred, target, data_range).mean()


class MSSSIMLoss(nn.Module):
    """Module form of :func:`ms_ssim_loss`.

    Args:
        data_range: dynamic range of the inputs (1.0 for [0, 1] images).
        variant: ``"standard"`` (paper) or ``"twostage_release"`` (authors' buggy package).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """

    def __init__(self, data_range: float | None = 1.0, variant: str = "standard") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown MS-SSIM variant {variant!r}; use one of {list(VARIANTS)}")
        self.data_range = data_range
        self.variant = variant

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ms_ssim_loss(pred, target, self.data_range, self.variant)
