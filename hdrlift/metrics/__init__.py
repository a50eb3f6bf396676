"""Image quality metrics for linear HDR (numpy float64; torch only where differentiability is needed).

Inputs are HxWx3 arrays of linear HDR with 1.0 = the input camera's clipping level, unless a
function says otherwise (the ``ntire_*`` functions take NTIRE gamma-2.24-encoded values, the PU21
functions map to cd/m^2 with a named, reported normalisation). See :mod:`hdrlift.metrics.registry`
for the named metrics used by evaluation.
"""

from hdrlift.metrics.align import crf_correction, fit_scale_unclipped
from hdrlift.metrics.clipped import clipped_log_rmse, clipped_mask
from hdrlift.metrics.encoded import log_encode_pair, msssim_mu, mu_encode_pair, psnr_log, ssim_log, ssim_mu
from hdrlift.metrics.itp import delta_e_itp_map, delta_e_itp_nits, rgb709_to_ictcp
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
from hdrlift.metrics.pu21 import (
    Display,
    NitsScale,
    nits_scale,
    pu21_psnr_nits,
    pu21_psnr_y_nits,
    pu21_ssim_nits,
    pu_psnr,
    pu_psnr_with_scale,
    pu_psnr_y,
    pu_ssim,
    pu_ssim_with_scale,
)
from hdrlift.metrics.registry import (
    ALL_METRIC_SPECS,
    METRIC_INFO,
    METRIC_SPECS,
    METRICS,
    MetricSpec,
    available_metrics,
    evaluate_pair,
    get_metric,
)
from hdrlift.metrics.ssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_torch, ssim, ssim_components, ssim_matlab

__all__ = [
    "ALL_METRIC_SPECS",
    "Display",
    "METRICS",
    "METRIC_SPECS",
    "MetricSpec",
    "crf_correction",
    "delta_e_itp_map",
    "delta_e_itp_nits",
    "fit_scale_unclipped",
    "get_metric",
    "pu21_psnr_nits",
    "pu21_psnr_y_nits",
    "pu21_ssim_nits",
    "pu_psnr_y",
    "rgb709_to_ictcp",
    "ssim_matlab",
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
