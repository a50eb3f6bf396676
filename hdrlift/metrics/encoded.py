"""PSNR / SSIM / MS-SSIM of linear HDR after a tone encoding (numpy float64).

* mu domain: the NTIRE tone curve T(x) = log(1 + 5000 tanh(x / n)) / log(1 + 5000) with n the 99th
  percentile of the linear reference (the same T as :func:`hdrlift.metrics.ntire.psnr_mu`), values
  in [0, 1), data range 1. ``ssim_mu`` / ``msssim_mu`` are SSIM / MS-SSIM of T(ref), T(res).
* log domain: E(x) = (log2(max(x, 1e-6)) - lo) / (hi - lo) with lo = log2(max(min(ref), 1e-6)) and
  hi = log2(max(ref)) over all pixels and channels of the reference, i.e. the reference's range in
  stops mapped to [0, 1] (the result may fall outside). ``psnr_log`` = PSNR with peak 1,
  ``ssim_log`` = SSIM with data range 1 of E(ref), E(res).
"""

from __future__ import annotations

import numpy as np

from hdrlift.metrics._common import psnr_from_mse
from hdrlift.metrics.ntire import ntire_mu_norm, ntire_mu_tonemap
from hdrlift.metrics.ssim import check_rgb_pair, ms_ssim, ssim

LOG_FLOOR = 1e-6


def mu_encode_pair(ref_lin: np.ndarray, res_lin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NTIRE mu-tonemapped (ref, res) with n from the reference (linear HDR in, [0, 1) out).

    Shape:
        HxWx3, HxWx3 -> HxWx3, HxWx3
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    n = ntire_mu_norm(np.maximum(r, 0.0))
    return ntire_mu_tonemap(r, n), ntire_mu_tonemap(t, n)


def log_encode_pair(ref_lin: np.ndarray, res_lin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log2 encoding mapped over the reference's range (see module docstring).

    Shape:
        HxWx3, HxWx3 -> HxWx3, HxWx3
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    lr = np.log2(np.maximum(r, LOG_FLOOR))
    lt = np.log2(np.maximum(t, LOG_FLOOR))
    lo, hi = float(lr.min()), float(lr.max())
    span = hi - lo if hi > lo else 1.0
    return (lr - lo) / span, (lt - lo) / span


def ssim_mu(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """SSIM of NTIRE mu-tonemapped linear HDR (data range 1).

    Shape:
        HxWx3, HxWx3 -> float
    """
    return ssim(*mu_encode_pair(ref_lin, res_lin), data_range=1.0)


def msssim_mu(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """MS-SSIM of NTIRE mu-tonemapped linear HDR (data range 1; scales reduced for small images).

    Shape:
        HxWx3, HxWx3 -> float
    """
    return ms_ssim(*mu_encode_pair(ref_lin, res_lin), data_range=1.0)


def psnr_log(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """PSNR (peak 1) of the log2 encoding mapped over the reference's range.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = log_encode_pair(ref_lin, res_lin)
    return psnr_from_mse(float(np.mean((r - t) ** 2)))


def ssim_log(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """SSIM (data range 1) of the log2 encoding mapped over the reference's range.

    Shape:
        HxWx3, HxWx3 -> float
    """
    return ssim(*log_encode_pair(ref_lin, res_lin), data_range=1.0)
