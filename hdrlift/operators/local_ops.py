"""Local (bilateral-filter based) expansion operators: Huo 2014 and Kovaleski & Oliveira 2014.

Both use the O(N) bilateral grid of :mod:`hdrlift.operators.bilateral` instead of a brute-force
bilateral filter. Formulas and defaults follow the HDR Toolbox (Banterle et al., *Advanced High
Dynamic Range Imaging*, 2nd ed., 2017).
"""

from __future__ import annotations

import torch

from hdrlift.operators.base import (
    change_luminance,
    check_ldr,
    image_stat,
    linearize,
    to_project_scale,
)
from hdrlift.operators.bilateral import bilateral_grid_filter
from hdrlift.ops.transfer import luminance


def huo(ldr: torch.Tensor, s: float = 1.6, theta: float = 1e-5, sigma_s: float = 16.0,
        sigma_r: float = 3.0 / 255.0, gamma: str | float = "srgb", normalize: bool = True) -> torch.Tensor:
    """Huo, Yang, Dong, Brost 2014, "Physiological inverse tone mapping based on retina response"
    (The Visual Computer 30) / Huo, Yang, Brost 2013, "Dodging and burning inspired inverse tone
    mapping algorithm" (JCIS 9(9)), as in the toolbox's ``HuoEO``:
    ``Lm = 10^-s L / (Lavg (1 - L + theta))``, ``Lla = bilateral(L, sigma_s 16, sigma_r 3/255)``,
    output ``RGB * Lm / Lla``.

    ``theta`` drives the peak: a pixel at L = 1 gains about 1 / theta relative to the mid-tones, so
    with the default 1e-5 clipped areas come out thousands of times brighter than the clipping
    level; raise ``theta`` (e.g. 0.05) for a milder expansion.

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if theta <= 0:
        raise ValueError("huo: theta must be positive")
    x = check_ldr(ldr)
    lin = linearize(x, gamma)
    lum = luminance(lin)
    lavg = image_stat(torch.mean, lum).clamp(min=1e-8)
    lm = (10.0 ** (-s)) * lum / (lavg * (1.0 - lum + theta).clamp(min=theta))
    lla = bilateral_grid_filter(lum, lum, sigma_s, sigma_r).clamp(min=1e-6)
    gain = lm / lla
    out = lin * gain
    return to_project_scale(out, lum * gain, lum, x) if normalize else out


def kovaleski(ldr: torch.Tensor, sigma_s: float = 150.0, sigma_r: float = 25.0 / 255.0,
              threshold: float = 254.0 / 255.0, display_min: float = 0.3, display_max: float = 1200.0,
              gamma: str | float = "srgb", normalize: bool = True) -> torch.Tensor:
    """Kovaleski & Oliveira 2014, "High-quality reverse tone mapping for a wide range of exposures"
    (SIBGRAPI 2014): a brightness expand map from one cross-bilateral filter.

    mask = max(R, G, B) > threshold (254/255 for images, 230/255 for video), E = 1 + 3 *
    crossBilateral(mask, guide = luminance, sigma_s 150 px, sigma_r 25/255) in [1, 4],
    ``L_exp = (L (Dmax - Dmin) + Dmin) * E`` (toolbox display defaults 0.3 / 1200 cd/m^2).
    Clipped regions and their smooth surroundings therefore reach up to 4x the mid-tone gain.
    The filter guide is the *encoded* luminance with sigma_r in code values (as in the paper, which
    works on the 8-bit image); the toolbox instead raises sigma_r and the threshold to the removed
    gamma and filters the linear luminance. The threshold is compared on the encoded max channel.

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if display_max <= display_min or display_min < 0:
        raise ValueError("kovaleski: need 0 <= display_min < display_max")
    x = check_ldr(ldr)
    lin = linearize(x, gamma)
    lum = luminance(lin)
    lum_enc = luminance(x)
    mask = (x.amax(dim=1, keepdim=True) > threshold).to(lin.dtype)
    e_map = 1.0 + 3.0 * bilateral_grid_filter(mask, lum_enc, sigma_s, sigma_r).clamp(0.0, 1.0)
    lexp = (lum * (display_max - display_min) + display_min) * e_map
    out = change_luminance(lin, lum, lexp)
    return to_project_scale(out, lexp, lum, x) if normalize else out
