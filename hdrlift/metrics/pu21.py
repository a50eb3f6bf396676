"""PU21 metrics of relative linear HDR (Mantiuk & Azimi 2021; gfxdisp/pu21 ``pu21_metric``).

PU21 needs absolute luminance (cd/m^2) while hdrlift images are relative (1.0 = clipping level), so
every call maps both images to nits with ONE factor chosen from the reference by a named
normalisation (:func:`nits_scale`); the factor and its derivation are returned as a description
(:class:`NitsScale`) so that reports can print it:

* ``percentile_to_nits`` (default): the reference's luminance 99.9th percentile -> ``nits``
  (1000 cd/m^2 by default: an HDR display's peak; ExpandNet's display-referred protocol).
* ``max_to_nits``: the reference's maximum luminance -> ``nits``.
* ``clip_to_nits``: linear 1.0 (the camera clipping level) -> ``nits``.
* ``absolute``: the inputs already are cd/m^2 (factor 1).

Then (``banding_glare`` parameters, Y clamped to [0.005, 10000] cd/m^2):
* PU-PSNR: PSNR of PU21-encoded R, G, B (each channel encoded as a luminance), peak PU(100 cd/m^2)
  = 256.38 (the SDR white; cvvdp's convention, equal to the MATLAB ``psnr(T, R, 256)`` up to 0.01 dB).
* PU-SSIM: SSIM of PU21-encoded luminance Y = 0.2126 R + 0.7152 G + 0.0722 B, data range 256.38.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hdrlift.errors import ConfigError
from hdrlift.metrics._common import luminance_hwc, psnr_from_mse
from hdrlift.metrics.ssim import check_rgb_pair, ssim
from hdrlift.ops.pu21 import pu21_encode, pu21_peak

NORMALISATIONS = ("percentile_to_nits", "max_to_nits", "clip_to_nits", "absolute")


@dataclass(frozen=True)
class NitsScale:
    """Factor mapping relative linear HDR to cd/m^2 (applied to reference and result alike)."""

    method: str
    scale: float
    description: str


def nits_scale(
    ref_lin: np.ndarray, method: str = "percentile_to_nits", nits: float = 1000.0, percentile: float = 99.9
) -> NitsScale:
    """Choose the relative -> cd/m^2 factor from the reference (see module docstring).

    Shape:
        HxWx3 -> NitsScale
    """
    if method not in NORMALISATIONS:
        raise ConfigError(f"unknown nits normalisation {method!r}; use one of {list(NORMALISATIONS)}")
    y = luminance_hwc(np.asarray(ref_lin, dtype=np.float64))
    if method == "absolute":
        return NitsScale(method, 1.0, "absolute: inputs taken as cd/m^2 (x1)")
    if method == "clip_to_nits":
        return NitsScale(method, float(nits), f"clip_to_nits: linear 1.0 -> {nits:g} cd/m^2 (x{nits:.6g})")
    if method == "max_to_nits":
        anchor, what = float(y.max()), "max"
    else:
        anchor, what = float(np.percentile(y, percentile)), f"P{percentile:g}"
    if anchor <= 0.0:
        anchor = 1.0
    scale = nits / anchor
    return NitsScale(
        method,
        scale,
        f"{method}: reference luminance {what} = {anchor:.6g} -> {nits:g} cd/m^2 "
        f"(x{scale:.6g}, same factor applied to the result)",
    )


def _pu(x: np.ndarray) -> np.ndarray:
    return pu21_encode(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def pu_psnr_with_scale(
    ref_lin: np.ndarray, res_lin: np.ndarray, normalisation: str = "percentile_to_nits", nits: float = 1000.0
) -> tuple[float, NitsScale]:
    """PU21-PSNR on RGB and the normalisation used.

    Shape:
        HxWx3, HxWx3 -> (float dB, NitsScale)
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    ns = nits_scale(r, normalisation, nits)
    pr, pt = _pu(r * ns.scale), _pu(t * ns.scale)
    return psnr_from_mse(float(np.mean((pr - pt) ** 2)), pu21_peak()), ns


def pu_ssim_with_scale(
    ref_lin: np.ndarray, res_lin: np.ndarray, normalisation: str = "percentile_to_nits", nits: float = 1000.0
) -> tuple[float, NitsScale]:
    """PU21-SSIM on luminance and the normalisation used.

    Shape:
        HxWx3, HxWx3 -> (float, NitsScale)
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    ns = nits_scale(r, normalisation, nits)
    yr, yt = _pu(luminance_hwc(r) * ns.scale), _pu(luminance_hwc(t) * ns.scale)
    return ssim(yr, yt, data_range=pu21_peak()), ns


def pu_psnr(
    ref_lin: np.ndarray, res_lin: np.ndarray, normalisation: str = "percentile_to_nits", nits: float = 1000.0
) -> float:
    """PU21-PSNR (dB) of linear HDR on RGB, after the named nits normalisation.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    return pu_psnr_with_scale(ref_lin, res_lin, normalisation, nits)[0]


def pu_ssim(
    ref_lin: np.ndarray, res_lin: np.ndarray, normalisation: str = "percentile_to_nits", nits: float = 1000.0
) -> float:
    """PU21-SSIM of linear HDR on luminance, after the named nits normalisation.

    Shape:
        HxWx3, HxWx3 -> float
    """
    return pu_ssim_with_scale(ref_lin, res_lin, normalisation, nits)[0]
