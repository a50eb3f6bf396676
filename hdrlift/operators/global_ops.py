"""Global expansion operators: plain linearisation, Akyuz 2007, Landis 2002, Masia 2009/2017.

Formulas follow the HDR Toolbox (Banterle, Artusi, Debattista, Chalmers, *Advanced High Dynamic
Range Imaging*, 2nd ed., CRC Press 2017) as summarised in the project's ecosystem notes; outputs
are converted to the project convention by :func:`hdrlift.operators.base.to_project_scale`.
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


def linear(ldr: torch.Tensor, gamma: str | float = "srgb") -> torch.Tensor:
    """Plain linearisation (gamma removal only) - the "do nothing smart" baseline.

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR (here never above 1).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    return linearize(check_ldr(ldr), gamma)


def akyuz(ldr: torch.Tensor, a_gamma: float = 1.0, max_output: float = 3000.0, gamma: str | float = "srgb",
          normalize: bool = True) -> torch.Tensor:
    """Akyuz et al. 2007, "Do HDR displays support LDR content? A psychophysical evaluation"
    (ACM TOG 26(3)): ``L_exp = Max * ((L - Lmin) / (Lmax - Lmin)) ** a_gamma``, per image.

    ``a_gamma = 1`` (the paper's finding for well-exposed content) is a linear stretch, so in the
    project convention the output stays close to the linearised input (no highlight expansion).
    ``max_output`` (cd/m^2; 3000 = the paper's DR-37P display) only matters with ``normalize=False``.

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if a_gamma <= 0 or max_output <= 0:
        raise ValueError("akyuz: a_gamma and max_output must be positive")
    x = check_ldr(ldr)
    lin = linearize(x, gamma)
    lum = luminance(lin)
    lmin = image_stat(torch.min, lum)
    lmax = image_stat(torch.max, lum)
    lexp = max_output * ((lum - lmin) / (lmax - lmin).clamp(min=1e-8)).clamp(min=0.0) ** a_gamma
    out = change_luminance(lin, lum, lexp)
    return to_project_scale(out, lexp, lum, x) if normalize else out


def landis(ldr: torch.Tensor, alpha: float = 2.0, threshold: float = 0.5, max_output: float = 10.0,
           gamma: str | float = "srgb", normalize: bool = True) -> torch.Tensor:
    """Landis 2002, "Production-ready global illumination" (SIGGRAPH course notes 16): power
    expansion of the luminance above a threshold R,
    ``w = ((L - R) / (Lmax - R)) ** alpha``, ``L_exp = L (1 - w) + Max * L * w`` for L >= R.

    Below R the luminance is untouched, so ``max_output`` is directly the peak expansion ratio
    (the brightest pixel comes out ``max_output`` times brighter). Default 10 (a 1000-nit display
    with a 100-nit SDR white); the toolbox default 3000 (cd/m^2, with mid-tones left in [0, 1])
    gives a 3000x ratio - pass ``max_output=3000`` to reproduce it. ``threshold <= 0`` uses the
    mean luminance, as described by the toolbox (whose code never reaches that branch).

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if alpha <= 0 or max_output <= 0:
        raise ValueError("landis: alpha and max_output must be positive")
    x = check_ldr(ldr)
    lin = linearize(x, gamma)
    lum = luminance(lin)
    r = image_stat(torch.mean, lum) if threshold <= 0 else torch.full_like(lum[:, :, :1, :1], threshold)
    lmax = image_stat(torch.max, lum)
    w = ((lum - r) / (lmax - r).clamp(min=1e-8)).clamp(0.0, 1.0) ** alpha
    lexp = torch.where(lum >= r, lum * (1 - w) + max_output * lum * w, lum)
    out = change_luminance(lin, lum, lexp)
    return to_project_scale(out, lexp, lum, x) if normalize else out


def _log_mean(lum: torch.Tensor, delta: float = 1e-6) -> torch.Tensor:
    return image_stat(lambda v: torch.exp(torch.log(v + delta).mean()), lum)


def masia_gamma(lum: torch.Tensor, formula: str = "2017") -> torch.Tensor:
    """Masia's automatic gamma of each image (before clamping).

    key k = (log Lav - log Lmin) / (log Lmax - log Lmin) with Lav the log-mean and Lmin / Lmax the
    1 % / 99 % percentiles of the linear luminance. ``"2009"``: gamma = 10.44 k - 6.282
    (<= 0 for k < 0.602, the toolbox's "false colour" case); ``"2017"``: gamma = 2.4379 +
    0.2319 ln Lav - 1.1228 k + 0.0085 p_ov, p_ov = percentage of pixels with 255 L >= 254.

    Shape:
        lum (B, 1, H, W) linear luminance -> (B, 1, 1, 1)
    """
    delta = 1e-6
    lav = _log_mean(lum, delta)
    lo = image_stat(lambda v: torch.quantile(v.double(), 0.01) if v.numel() < 16_000_000 else v.min(), lum)
    hi = image_stat(lambda v: torch.quantile(v.double(), 0.99) if v.numel() < 16_000_000 else v.max(), lum)
    llo, lhi, lav_l = torch.log(lo + delta), torch.log(hi + delta), torch.log(lav)
    key = ((lav_l - llo) / (lhi - llo).clamp(min=1e-6)).clamp(0.0, 1.0)
    if formula == "2009":
        return 10.44 * key - 6.282
    if formula == "2017":
        p_ov = image_stat(lambda v: (v * 255 >= 254).double().mean() * 100.0, lum)
        return 2.4379 + 0.2319 * lav_l - 1.1228 * key + 0.0085 * p_ov
    raise ValueError(f"masia: formula must be '2009' or '2017', got {formula!r}")


def masia(ldr: torch.Tensor, formula: str = "2017", gamma_range: tuple[float, float] = (1.0, 3.0),
          noise_handling: bool = True, sigma_s: float = 32.0, sigma_r: float = 0.01,
          max_output: float = 3000.0, gamma: str | float = "srgb", normalize: bool = True) -> torch.Tensor:
    """Masia et al. automatic gamma expansion ``L_exp = Max * L ** g``.

    ``formula="2017"`` (default): Masia, Serrano, Gutierrez 2017, "Dynamic range expansion based on
    image statistics" (Multimedia Tools and Applications 76), multilinear gamma; ``"2009"``:
    Masia et al., "Evaluation of reverse tone mapping through varying exposure conditions"
    (SIGGRAPH Asia 2009). The gamma is clamped to ``gamma_range`` ([1, 3]) - the 2009 fit goes
    negative on dark images. With ``noise_handling`` the gamma acts on a bilateral base layer and the
    detail is kept: ``L_exp = (L / base) * base ** g * Max`` (base = bilateral(L, sigma_s 32,
    sigma_r 0.01)).

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    lo_g, hi_g = gamma_range
    if not 0 < lo_g <= hi_g:
        raise ValueError(f"masia: bad gamma_range {gamma_range}")
    x = check_ldr(ldr)
    lin = linearize(x, gamma)
    lum = luminance(lin)
    g = masia_gamma(lum, formula).clamp(lo_g, hi_g)
    if noise_handling:
        base = bilateral_grid_filter(lum, lum, sigma_s, sigma_r).clamp(min=1e-8)
        lexp = max_output * (lum / base) * base**g
    else:
        lexp = max_output * lum.clamp(min=0.0) ** g
    out = change_luminance(lin, lum, lexp)
    return to_project_scale(out, lexp, lum, x) if normalize else out
