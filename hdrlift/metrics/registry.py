"""Named metrics for evaluation: ``METRICS[name](ref_lin, res_lin, ldr=None) -> float``.

All take linear HDR HxWx3 arrays (1.0 = the input camera's clipping level); ``ldr`` is the
sRGB-encoded LDR input in [0, 1] (only ``clipped_rmse`` uses it; NaN without it).
``METRIC_INFO[name]`` is a one-line recipe to print next to the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hdrlift.errors import ConfigError
from hdrlift.metrics.clipped import clipped_log_rmse
from hdrlift.metrics.encoded import msssim_mu, psnr_log, ssim_log, ssim_mu
from hdrlift.metrics.ntire import psnr_l, psnr_l_aligned, psnr_mu, psnr_mu_aligned
from hdrlift.metrics.perceptual import cvvdp_available, cvvdp_score
from hdrlift.metrics.pu21 import nits_scale, pu_psnr, pu_ssim

MetricFn = Callable[..., float]


def _pair(fn: Callable[[np.ndarray, np.ndarray], float]) -> MetricFn:
    def wrapped(ref_lin: np.ndarray, res_lin: np.ndarray, ldr: np.ndarray | None = None) -> float:
        return fn(ref_lin, res_lin)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _clipped(ref_lin: np.ndarray, res_lin: np.ndarray, ldr: np.ndarray | None = None) -> float:
    if ldr is None:
        return float("nan")
    return clipped_log_rmse(ref_lin, res_lin, ldr)


def _cvvdp(ref_lin: np.ndarray, res_lin: np.ndarray, ldr: np.ndarray | None = None) -> float:
    return cvvdp_score(ref_lin, res_lin)[0]


METRICS: dict[str, MetricFn] = {
    "psnr_mu": _pair(psnr_mu),
    "psnr_l": _pair(psnr_l),
    "psnr_mu_aligned": _pair(psnr_mu_aligned),
    "psnr_l_aligned": _pair(psnr_l_aligned),
    "ssim_mu": _pair(ssim_mu),
    "msssim_mu": _pair(msssim_mu),
    "psnr_log": _pair(psnr_log),
    "ssim_log": _pair(ssim_log),
    "pu_psnr": _pair(pu_psnr),
    "pu_ssim": _pair(pu_ssim),
    "clipped_rmse": _clipped,
}
if cvvdp_available():
    METRICS["cvvdp"] = _cvvdp

_GAMMA = "H = lin^(1/2.24) then NTIRE 2021"
METRIC_INFO: dict[str, str] = {
    "psnr_mu": f"{_GAMMA} PSNR-mu: T = log(1+5000 tanh(H^2.24/n))/log(5001), n = P99(ref), peak 1 [dB]",
    "psnr_l": f"{_GAMMA} PSNR-L: PSNR of H/max(H_ref), gamma domain [dB]",
    "psnr_mu_aligned": "psnr_mu after a global scale of the result (least squares in log2 luminance) [dB]",
    "psnr_l_aligned": "psnr_l after a global scale of the result (least squares in log2 luminance) [dB]",
    "ssim_mu": "SSIM (Gaussian 11, sigma 1.5) of the NTIRE mu-tonemapped images, range 1",
    "msssim_mu": "MS-SSIM (5 scales, fewer for small images) of the NTIRE mu-tonemapped images, range 1",
    "psnr_log": "PSNR of (log2 max(x,1e-6) - lo)/(hi - lo), [lo, hi] = log2 range of the reference [dB]",
    "ssim_log": "SSIM of (log2 max(x,1e-6) - lo)/(hi - lo), [lo, hi] = log2 range of the reference",
    "pu_psnr": "PU21 (banding_glare) PSNR on RGB, peak PU(100)=256.38, nits: ref luminance P99.9 -> 1000 [dB]",
    "pu_ssim": "PU21 (banding_glare) SSIM on luminance, range 256.38, nits: ref luminance P99.9 -> 1000",
    "clipped_rmse": "RMSE of log2 luminance over pixels with LDR max channel >= 0.99 [stops]; NaN if none",
    "cvvdp": "ColorVideoVDP JOD, linear Rec.709 1000-nit display, ref luminance P99.9 -> 1000 cd/m^2",
}

# Paper-specific metrics (DuHDR Eq. 26 display normalisation feeding PU21 / ColorVideoVDP)
from hdrlift.metrics.paper import PAPER_METRIC_INFO, PAPER_METRICS  # noqa: E402

METRICS.update({k: v for k, v in PAPER_METRICS.items() if "cvvdp" not in k or cvvdp_available()})
METRIC_INFO.update(PAPER_METRIC_INFO)


def available_metrics() -> list[str]:
    """Names usable in :func:`evaluate_pair` on this installation."""
    return list(METRICS)


def evaluate_pair(
    ref: np.ndarray,
    res: np.ndarray,
    ldr: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    return_info: bool = False,
) -> dict[str, float] | tuple[dict[str, float], dict[str, str]]:
    """Compute named metrics of one (reference, result) pair of linear HDR images.

    ``metrics`` defaults to every available metric except ``cvvdp`` (slow, opt-in). With
    ``return_info`` also returns name -> recipe (PU/cvvdp entries name the nits factor used).

    Shape:
        HxWx3, HxWx3, optional HxWx3 -> {name: float}
    """
    names = [n for n in METRICS if "cvvdp" not in n] if metrics is None else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        hint = " (cvvdp needs the optional `cvvdp` package)" if "cvvdp" in unknown else ""
        raise ConfigError(f"unknown metric(s) {unknown}; available: {list(METRICS)}{hint}")
    scores: dict[str, float] = {}
    info: dict[str, str] = {}
    for n in names:
        if n == "cvvdp" and return_info:
            scores[n], info[n] = cvvdp_score(ref, res)
            continue
        scores[n] = float(METRICS[n](ref, res, ldr))
        info[n] = METRIC_INFO[n]
        if n in ("pu_psnr", "pu_ssim"):
            info[n] = f"{METRIC_INFO[n]}; {nits_scale(np.asarray(ref, dtype=np.float64)).description}"
    return (scores, info) if return_info else scores
