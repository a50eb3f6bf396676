"""The one metric registry: ``METRIC_SPECS[name]`` = :class:`MetricSpec` (function, recipe, direction, unit).

Every metric takes linear HDR HxWx3 arrays (1.0 = the input camera's clipping level); ``ldr`` is the
sRGB-encoded LDR input in [0, 1] (only ``clipped_rmse`` uses it; NaN without it). The absolute
metrics (PU21, Delta E_ITP, ColorVideoVDP) put both images on a display first with one factor from
the reference, described by a :class:`~hdrlift.metrics.pu21.Display` (default: reference luminance
P99.9 -> 1000 cd/m^2). ``METRICS[name](ref, res, ldr=None)`` and ``METRIC_INFO[name]`` are the
same registry seen as plain dicts (default display).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from hdrlift.metrics.clipped import clipped_log_rmse
from hdrlift.metrics.encoded import msssim_mu, psnr_log, ssim_log, ssim_mu
from hdrlift.metrics.itp import delta_e_itp_nits
from hdrlift.metrics.ntire import psnr_l, psnr_l_aligned, psnr_mu, psnr_mu_aligned
from hdrlift.metrics.paper import PAPER_METRIC_INFO, PAPER_METRICS
from hdrlift.metrics.perceptual import cvvdp_available, cvvdp_score
from hdrlift.metrics.pu21 import Display, pu21_psnr_nits, pu21_psnr_y_nits, pu21_ssim_nits
from hdrlift.registry import Registry

MetricFn = Callable[..., float]
DEFAULT_DISPLAY = Display()


@dataclass(frozen=True)
class MetricSpec:
    """A named metric.

    Attributes:
        name: registry key.
        fn: ``fn(ref_lin, res_lin, ldr, display) -> float``.
        info: one-line recipe (printed with ``--json`` and in docs/metrics.md).
        higher_is_better: direction (True for PSNR/SSIM/JOD, False for errors).
        unit: ``"dB"``, ``""`` (unitless index), ``"stops"``, ``"JOD"`` or ``"dE_ITP"``.
        absolute: True when the metric maps the images to cd/m^2 with the display.
        optional: True when it needs an optional package (cvvdp); listed only when installed.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None, Display], float]
    info: str
    higher_is_better: bool
    unit: str
    absolute: bool = False
    optional: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "info": self.info, "higher_is_better": self.higher_is_better,
                "unit": self.unit, "absolute": self.absolute}


def _rel(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    def wrapped(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray | None = None,
                display: Display = DEFAULT_DISPLAY) -> float:
        return fn(ref, res)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _abs(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    def wrapped(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray | None = None,
                display: Display = DEFAULT_DISPLAY) -> float:
        r, t = np.asarray(ref, dtype=np.float64), np.asarray(res, dtype=np.float64)
        k = display.scale(r).scale
        return fn(r * k, t * k)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _clipped(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray | None = None,
             display: Display = DEFAULT_DISPLAY) -> float:
    if ldr is None:
        return float("nan")
    return clipped_log_rmse(ref, res, ldr)


def _cvvdp(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray | None = None,
           display: Display = DEFAULT_DISPLAY) -> float:
    return cvvdp_score(ref, res, peak_nits=display.peak_nits, normalisation=display.nits_map)[0]


_GAMMA = "H = lin^(1/2.24) then NTIRE 2021"
_PU = "PU21 banding_glare (gfxdisp/pu21 pu21_metric.m)"
_SPECS: list[MetricSpec] = [
    MetricSpec("psnr_mu", _rel(psnr_mu),
               f"{_GAMMA} PSNR-mu: T = log(1+5000 tanh(H^2.24/n))/log(5001), n = P99(ref), peak 1 [dB]", True, "dB"),
    MetricSpec("psnr_l", _rel(psnr_l), f"{_GAMMA} PSNR-L: PSNR of H/max(H_ref), gamma domain [dB]", True, "dB"),
    MetricSpec("psnr_mu_aligned", _rel(psnr_mu_aligned),
               "psnr_mu after a global scale of the result (least squares in log2 luminance) [dB]", True, "dB"),
    MetricSpec("psnr_l_aligned", _rel(psnr_l_aligned),
               "psnr_l after a global scale of the result (least squares in log2 luminance) [dB]", True, "dB"),
    MetricSpec("ssim_mu", _rel(ssim_mu), "SSIM (Gaussian 11, sigma 1.5) of the NTIRE mu-tonemapped images, range 1",
               True, ""),
    MetricSpec("msssim_mu", _rel(msssim_mu),
               "MS-SSIM (5 scales, fewer for small images) of the NTIRE mu-tonemapped images, range 1", True, ""),
    MetricSpec("psnr_log", _rel(psnr_log),
               "PSNR of (log2 max(x,1e-6) - lo)/(hi - lo), [lo, hi] = log2 range of the reference [dB]", True, "dB"),
    MetricSpec("ssim_log", _rel(ssim_log),
               "SSIM of (log2 max(x,1e-6) - lo)/(hi - lo), [lo, hi] = log2 range of the reference", True, ""),
    MetricSpec("pu_psnr", _abs(pu21_psnr_nits), f"{_PU} PSNR on RGB, peak 256, on cd/m^2 [dB]", True, "dB", True),
    MetricSpec("pu_psnr_y", _abs(pu21_psnr_y_nits),
               f"{_PU} PSNRY: PSNR on luminance (0.212656 R + 0.715158 G + 0.072186 B), peak 256 [dB]", True, "dB",
               True),
    MetricSpec("pu_ssim", _abs(pu21_ssim_nits),
               f"{_PU} SSIM on luminance: MATLAB ssim (Gaussian 11, sigma 1.5, replicate borders), range 256",
               True, "", True),
    MetricSpec("delta_e_itp", _abs(delta_e_itp_nits),
               "ITU-R BT.2124 Delta E_ITP = 720 sqrt(dI^2 + (dCt/2)^2 + dCp^2), BT.2100 PQ ICtCp of Rec.709 "
               "in cd/m^2, mean over pixels", False, "dE_ITP", True),
    MetricSpec("clipped_rmse", _clipped,
               "RMSE of log2 luminance over pixels with LDR max channel >= 0.99 [stops]; NaN if none", False, "stops"),
    MetricSpec("cvvdp", _cvvdp, "ColorVideoVDP JOD, linear Rec.709 display (peak = display peak), 1e6:1, 10 lux",
               True, "JOD", True, optional=True),
]
for _name, _fn in PAPER_METRICS.items():
    _SPECS.append(MetricSpec(_name, _rel(_fn), PAPER_METRIC_INFO[_name], True, "JOD" if "cvvdp" in _name else
                             ("dB" if "psnr" in _name else ""), False, optional="cvvdp" in _name))

#: Every metric known to hdrlift (including optional ones that are not installed).
ALL_METRIC_SPECS: Registry[MetricSpec] = Registry("metric", [(s.name, s) for s in _SPECS])


def _not_installed(name: str) -> str:
    return " (needs the optional `cvvdp` package, see docs/metrics.md)" if name in ALL_METRIC_SPECS else ""


#: The metrics usable on this installation.
METRIC_SPECS: Registry[MetricSpec] = Registry(
    "metric", [(s.name, s) for s in _SPECS if not s.optional or cvvdp_available()], hint=_not_installed)
#: The same registry as plain dicts: name -> function, name -> recipe.
METRICS: dict[str, MetricFn] = {k: s.fn for k, s in METRIC_SPECS.items()}
METRIC_INFO: dict[str, str] = {k: s.info for k, s in ALL_METRIC_SPECS.items()}


def available_metrics() -> list[str]:
    """Names usable in :func:`evaluate_pair` on this installation."""
    return METRIC_SPECS.names()


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` called ``name`` (ConfigError naming the valid ones otherwise)."""
    return METRIC_SPECS.get(name)


@overload
def evaluate_pair(
    ref: np.ndarray,
    res: np.ndarray,
    ldr: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    return_info: Literal[False] = False,
    display: Display | None = None,
) -> dict[str, float]: ...


@overload
def evaluate_pair(
    ref: np.ndarray,
    res: np.ndarray,
    ldr: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    *,
    return_info: Literal[True],
    display: Display | None = None,
) -> tuple[dict[str, float], dict[str, str]]: ...


@overload
def evaluate_pair(
    ref: np.ndarray,
    res: np.ndarray,
    ldr: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    return_info: bool = False,
    display: Display | None = None,
) -> dict[str, float] | tuple[dict[str, float], dict[str, str]]: ...


def evaluate_pair(
    ref: np.ndarray,
    res: np.ndarray,
    ldr: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    return_info: bool = False,
    display: Display | None = None,
) -> dict[str, float] | tuple[dict[str, float], dict[str, str]]:
    """Compute named metrics of one (reference, result) pair of linear HDR images.

    ``metrics`` defaults to every available metric except the cvvdp ones (slow, opt-in). With
    ``return_info`` also returns name -> recipe (absolute metrics name the nits factor used).

    Shape:
        HxWx3, HxWx3, optional HxWx3 -> {name: float}
    """
    disp = display or DEFAULT_DISPLAY
    names = [n for n in METRIC_SPECS if "cvvdp" not in n] if metrics is None else list(metrics)
    specs = [METRIC_SPECS.get(n) for n in names]  # an unknown name fails before anything is computed
    scores: dict[str, float] = {}
    info: dict[str, str] = {}
    for n, spec in zip(names, specs):
        if n == "cvvdp" and return_info:
            scores[n], info[n] = cvvdp_score(ref, res, peak_nits=disp.peak_nits, normalisation=disp.nits_map)
            continue
        scores[n] = float(spec.fn(ref, res, ldr, disp))
        info[n] = spec.info
        if spec.absolute:
            info[n] = f"{spec.info}; {disp.scale(np.asarray(ref, dtype=np.float64)).description}"
    return (scores, info) if return_info else scores
