"""Image quality metrics for linear HDR (numpy float64; torch only where differentiability is needed).

Inputs are HxWx3 arrays of linear HDR with 1.0 = the input camera's clipping level, unless a
function says otherwise (the ``ntire_*`` functions take NTIRE gamma-2.24-encoded values, the PU21
functions map to cd/m^2 with a named, reported normalisation). See :mod:`hdrlift.metrics.registry`
for the named metrics used by evaluation.
"""

from hdrlift.metrics.clipped import clipped_log_rmse, clipped_mask
from hdrlift.metrics.encoded import log_encode_pair, msssim_mu, mu_encode_pair, psnr_log, ssim_log, ssim_mu
from hdrlift.metrics.ntire import (
    fit_log_luminance_scale,
    ntire_mu_norm,
    ntire_mu_tonemap,
    ntire_psnr_l,
    ntire_psnr_mu,
    psnr,
    psnr_l,
    psnr_l_aligned,
    psnr_mu,
    psnr_mu_aligned,
)
from hdrlift.metrics.perceptual import cvvdp_available, cvvdp_score
from hdrlift.metrics.pu21 import NitsScale, nits_scale, pu_psnr, pu_psnr_with_scale, pu_ssim, pu_ssim_with_scale
from hdrlift.metrics.registry import METRIC_INFO, METRICS, available_metrics, evaluate_pair
from hdrlift.metrics.ssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_torch, ssim, ssim_components

__all__ = [
    "METRICS",
    "METRIC_INFO",
    "MS_SSIM_WEIGHTS",
    "NitsScale",
    "available_metrics",
    "clipped_log_rmse",
    "clipped_mask",
    "cvvdp_available",
    "cvvdp_score",
    "evaluate_pair",
    "fit_log_luminance_scale",
    "log_encode_pair",
    "ms_ssim",
    "ms_ssim_torch",
    "msssim_mu",
    "mu_encode_pair",
    "nits_scale",
    "ntire_mu_norm",
    "ntire_mu_tonemap",
    "ntire_psnr_l",
    "ntire_psnr_mu",
    "psnr",
    "psnr_l",
    "psnr_l_aligned",
    "psnr_log",
    "psnr_mu",
    "psnr_mu_aligned",
    "pu_psnr",
    "pu_psnr_with_scale",
    "pu_ssim",
    "pu_ssim_with_scale",
    "ssim",
    "ssim_components",
    "ssim_log",
    "ssim_mu",
]
