"""PU21 metrics exactly as the reference ``pu21_metric.m`` (Mantiuk & Azimi 2021, gfxdisp/pu21).

Reference recipe (no display model, i.e. HDR inputs in ABSOLUTE linear units, cd/m^2):

* encoding: ``banding_glare`` PU21 (:func:`hdrlift.ops.pu21.pu21_encode`), Y clamped to [0.005, 10000];
* ``PSNR``: on the PU-encoded R, G, B values (every channel encoded as if it were a luminance),
  ``psnr(T, R, 256)`` - peak 256 (:data:`~hdrlift.ops.pu21.PU21_METRIC_PEAK`), mean over all values;
* ``PSNRY``: the same on PU-encoded luminance;
* ``SSIM``: MATLAB ``ssim(T, R, 'DynamicRange', 256)`` (:func:`hdrlift.metrics.ssim.ssim_matlab`) on
  PU-encoded luminance;
* luminance ``Y = 0.212656 R + 0.715158 G + 0.072186 B`` (:data:`~hdrlift.ops.pu21.PU21_LUMA`).

The ``*_nits`` functions take absolute images and follow that recipe literally. hdrlift images are
relative (1.0 = the camera clipping level), so :func:`pu_psnr` / :func:`pu_ssim` / :func:`pu_psnr_y`
first map both images to cd/m^2 with ONE factor chosen from the reference (:func:`nits_scale`):

* ``percentile_to_nits`` (default): reference luminance 99.9th percentile -> ``nits`` (1000 cd/m^2):
  robust to a few specular pixels (ExpandNet's display-referred protocol).
* ``max_to_nits``: the reference's maximum over all pixels and channels -> ``nits`` (the PU21
  README's example: ``I_ref / max(I_ref(:)) * L_peak``).
* ``clip_to_nits``: linear 1.0 (the camera clipping level) -> ``nits``.
* ``absolute``: the inputs already are cd/m^2 (factor 1).

The factor and its derivation are returned (:class:`NitsScale`) so that every report can print it.
Earlier hdrlift versions used peak 256.38 (= PU(100), cvvdp's ``pu_psnr`` convention) and Rec.709
weights 0.2126/0.7152/0.0722 with a 'valid' SSIM window; PSNR values differ from those by
+0.0129 dB (20 log10(256.38/256)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hdrlift.errors import ConfigError
from hdrlift.metrics._common import check_pair, luminance_hwc, psnr_from_mse
from hdrlift.metrics.ssim import check_rgb_pair, ssim_matlab
from hdrlift.ops.pu21 import PU21_LUMA, PU21_METRIC_PEAK, pu21_encode

NORMALISATIONS = ("percentile_to_nits", "max_to_nits", "clip_to_nits", "absolute")
DEFAULT_NITS = 1000.0
DEFAULT_PERCENTILE = 99.9


@dataclass(frozen=True)
class NitsScale:
    """Factor mapping relative linear HDR to cd/m^2 (applied to reference and result alike)."""

    method: str
    scale: float
    description: str


def nits_scale(
    ref_lin: np.ndarray,
    method: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> NitsScale:
    """Choose the relative -> cd/m^2 factor from the reference (see module docstring).

    Domain: linear HDR (relative, or absolute with ``method="absolute"``).

    Shape:
        HxWx3 -> NitsScale
    """
    if method not in NORMALISATIONS:
        raise ConfigError(f"unknown nits normalisation {method!r}; use one of {list(NORMALISATIONS)}")
    if not nits > 0:
        raise ConfigError(f"display peak must be positive, got {nits!r} cd/m^2")
    a = np.asarray(ref_lin, dtype=np.float64)
    if method == "absolute":
        return NitsScale(method, 1.0, "absolute: inputs taken as cd/m^2 (x1)")
    if method == "clip_to_nits":
        return NitsScale(method, float(nits), f"clip_to_nits: linear 1.0 -> {nits:g} cd/m^2 (x{nits:.6g})")
    if method == "max_to_nits":
        anchor, what = float(a.max()), "max over pixels and channels"
    else:
        y = luminance_hwc(a) if a.ndim == 3 and a.shape[-1] == 3 else a
        anchor, what = float(np.percentile(y, percentile)), f"luminance P{percentile:g}"
    if anchor <= 0.0:
        anchor = 1.0
    scale = nits / anchor
    return NitsScale(
        method,
        scale,
        f"{method}: reference {what} = {anchor:.6g} -> {nits:g} cd/m^2 "
        f"(x{scale:.6g}, same factor applied to the result)",
    )


def pu21_np(nits: np.ndarray, kind: str = "banding_glare") -> np.ndarray:
    """PU21 encoding of a float64 numpy array of absolute values (cd/m^2).

    Shape:
        any -> same
    """
    return pu21_encode(torch.from_numpy(np.ascontiguousarray(nits, dtype=np.float64)), kind).numpy()


def pu21_luminance(rgb_nits: np.ndarray) -> np.ndarray:
    """Luminance with the reference's weights (0.212656, 0.715158, 0.072186); 2-D input is returned as is.

    Shape:
        HxWx3 -> HxW (HxW -> HxW)
    """
    a = np.asarray(rgb_nits, dtype=np.float64)
    if a.ndim == 3 and a.shape[-1] == 3:
        return a @ np.asarray(PU21_LUMA)
    return a


def pu21_psnr_nits(ref_nits: np.ndarray, res_nits: np.ndarray) -> float:
    """Reference ``pu21_metric(T, R, 'PSNR')``: PSNR of PU21 values over all channels, peak 256.

    Domain: absolute linear colour (cd/m^2), HxWx3 or HxW.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_nits, res_nits)
    return psnr_from_mse(float(np.mean((pu21_np(r) - pu21_np(t)) ** 2)), PU21_METRIC_PEAK)


def pu21_psnr_y_nits(ref_nits: np.ndarray, res_nits: np.ndarray) -> float:
    """Reference ``pu21_metric(T, R, 'PSNRY')``: PSNR of PU21-encoded luminance, peak 256.

    Domain: absolute linear colour (cd/m^2).

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_nits, res_nits)
    pr, pt = pu21_np(pu21_luminance(r)), pu21_np(pu21_luminance(t))
    return psnr_from_mse(float(np.mean((pr - pt) ** 2)), PU21_METRIC_PEAK)


def pu21_ssim_nits(ref_nits: np.ndarray, res_nits: np.ndarray) -> float:
    """Reference ``pu21_metric(T, R, 'SSIM')``: MATLAB SSIM (dynamic range 256) of PU21 luminance.

    Domain: absolute linear colour (cd/m^2).

    Shape:
        HxWx3, HxWx3 -> float
    """
    r, t = check_pair(ref_nits, res_nits)
    return ssim_matlab(pu21_np(pu21_luminance(r)), pu21_np(pu21_luminance(t)), data_range=PU21_METRIC_PEAK)


def _scaled(ref_lin: np.ndarray, res_lin: np.ndarray, normalisation: str, nits: float,
            percentile: float) -> tuple[np.ndarray, np.ndarray, NitsScale]:
    r, t = check_rgb_pair(ref_lin, res_lin)
    ns = nits_scale(r, normalisation, nits, percentile)
    return r * ns.scale, t * ns.scale, ns


def pu_psnr_with_scale(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    normalisation: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> tuple[float, NitsScale]:
    """PU21-PSNR (RGB, peak 256) of relative linear HDR and the nits mapping used.

    Shape:
        HxWx3, HxWx3 -> (float dB, NitsScale)
    """
    r, t, ns = _scaled(ref_lin, res_lin, normalisation, nits, percentile)
    return pu21_psnr_nits(r, t), ns


def pu_ssim_with_scale(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    normalisation: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> tuple[float, NitsScale]:
    """PU21-SSIM (luminance, MATLAB SSIM, range 256) of relative linear HDR and the nits mapping used.

    Shape:
        HxWx3, HxWx3 -> (float, NitsScale)
    """
    r, t, ns = _scaled(ref_lin, res_lin, normalisation, nits, percentile)
    return pu21_ssim_nits(r, t), ns


def pu_psnr(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    normalisation: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> float:
    """PU21-PSNR (dB) of relative linear HDR on RGB, after the named nits mapping.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    return pu_psnr_with_scale(ref_lin, res_lin, normalisation, nits, percentile)[0]


def pu_psnr_y(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    normalisation: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> float:
    """PU21-PSNR (dB) of relative linear HDR on luminance, after the named nits mapping.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t, _ = _scaled(ref_lin, res_lin, normalisation, nits, percentile)
    return pu21_psnr_y_nits(r, t)


def pu_ssim(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    normalisation: str = "percentile_to_nits",
    nits: float = DEFAULT_NITS,
    percentile: float = DEFAULT_PERCENTILE,
) -> float:
    """PU21-SSIM of relative linear HDR on luminance, after the named nits mapping.

    Shape:
        HxWx3, HxWx3 -> float
    """
    return pu_ssim_with_scale(ref_lin, res_lin, normalisation, nits, percentile)[0]


@dataclass(frozen=True)
class Display:
    """How relative HDR is put on a display for the absolute metrics (PU21, Delta E_ITP, cvvdp).

    ``nits_map`` is one of :data:`NORMALISATIONS`; ``peak_nits`` the cd/m^2 the anchor maps to;
    ``percentile`` the anchor percentile of ``percentile_to_nits``.
    """

    nits_map: str = "percentile_to_nits"
    peak_nits: float = DEFAULT_NITS
    percentile: float = DEFAULT_PERCENTILE

    def __post_init__(self) -> None:
        if self.nits_map not in NORMALISATIONS:
            raise ConfigError(f"unknown nits mapping {self.nits_map!r}; use one of {list(NORMALISATIONS)}")
        if not self.peak_nits > 0:
            raise ConfigError(f"display peak must be positive, got {self.peak_nits!r} cd/m^2")
        if not 0 < self.percentile <= 100:
            raise ConfigError(f"percentile must be in (0, 100], got {self.percentile!r}")

    def scale(self, ref_lin: np.ndarray) -> NitsScale:
        """The factor for this reference (:func:`nits_scale`)."""
        return nits_scale(ref_lin, self.nits_map, self.peak_nits, self.percentile)

    def describe(self) -> str:
        """One line for table headers."""
        if self.nits_map == "absolute":
            return "inputs in cd/m^2 (absolute)"
        if self.nits_map == "clip_to_nits":
            return f"linear 1.0 (clipping level) -> {self.peak_nits:g} cd/m^2"
        if self.nits_map == "max_to_nits":
            return f"reference max -> {self.peak_nits:g} cd/m^2 (one factor per image, both images)"
        return (f"reference luminance P{self.percentile:g} -> {self.peak_nits:g} cd/m^2 "
                "(one factor per image, both images)")

    def to_dict(self) -> dict[str, object]:
        return {"nits_map": self.nits_map, "peak_nits": self.peak_nits, "percentile": self.percentile}
