"""Display normalisations of the papers' perceptual evaluations, and the metrics that use them.

DuHDR (section 4.1, Eq. 26, after Marnerides et al. 2018) maps the prediction and the reference
*each with its own* minimum and maximum to the display range before HDR-VDP-3:

    y = (L_max - L_min) / (x_max - x_min) * (x - x_min + eps) + x_min,   eps = 1e-5

over all pixels and channels. The paper writes ``+ x_min`` (not ``+ L_min``) and gives no display
range; ``offset="paper"`` follows the printed formula, ``offset="display"`` adds ``L_min`` (the mapping
onto [L_min, L_max] that the text describes). Display range here: [0.005, 1000] cd/m^2 (PU21's lower
clamp, the project's 1000-nit display peak) - an assumption, printed with every score.

HDR-VDP-3 is MATLAB only; the scores here feed the normalised images, as absolute cd/m^2, to PU21
PSNR / SSIM and (when installed) ColorVideoVDP, the nearest Python metrics. SingleHDR's HDR-VDP input
normalisation ``pre_hdr_p3`` (0.1 % / 99.9 % order statistics -> [1, 999]) is here too.
Bilateral paper Table 1 (PSNR / SSIM "in the log domain") = :func:`hdrlift.metrics.psnr_log` /
:func:`hdrlift.metrics.ssim_log`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hdrlift.errors import ConfigError
from hdrlift.metrics.ssim import check_rgb_pair

DUHDR_EPS = 1e-5
DUHDR_L_MIN = 0.005
DUHDR_L_MAX = 1000.0


def duhdr_display_normalise(
    x: np.ndarray,
    l_min: float = DUHDR_L_MIN,
    l_max: float = DUHDR_L_MAX,
    eps: float = DUHDR_EPS,
    offset: str = "paper",
) -> np.ndarray:
    """DuHDR Eq. 26: linear HDR -> display cd/m^2 with the image's own min / max.

    Shape:
        any (linear HDR) -> same (cd/m^2, float64)
    """
    if offset not in ("paper", "display"):
        raise ConfigError(f"offset must be 'paper' or 'display', got {offset!r}")
    a = np.asarray(x, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    span = hi - lo if hi > lo else 1.0
    base = lo if offset == "paper" else l_min
    return (l_max - l_min) / span * (a - lo + eps) + base


def singlehdr_p3_normalise(
    x: np.ndarray, frac: float = 0.001, lo: float = 1.0, hi: float = 999.0
) -> np.ndarray:
    """SingleHDR ``pre_hdr_p3``: a, b = the k-th smallest / largest value (k = ``frac`` of all values);
    ``(x - a) * (hi - lo) / (b - a + 1e-8) + lo``, negatives -> 0.

    Shape:
        any (linear HDR) -> same (float64)
    """
    a = np.asarray(x, dtype=np.float64)
    flat = np.sort(a, axis=None)
    k = max(1, int(round(frac * flat.size)))
    va, vb = float(flat[k - 1]), float(flat[-k])
    return np.maximum((a - va) * (hi - lo) / (vb - va + 1e-8) + lo, 0.0)


def pu_psnr_duhdr(ref_lin: np.ndarray, res_lin: np.ndarray, offset: str = "paper") -> float:
    """PU21-PSNR (reference recipe: RGB, peak 256) of both images after DuHDR Eq. 26 (each its own range).

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    from hdrlift.metrics.pu21 import pu21_psnr_nits

    r, t = check_rgb_pair(ref_lin, res_lin)
    return pu21_psnr_nits(duhdr_display_normalise(r, offset=offset), duhdr_display_normalise(t, offset=offset))


def pu_ssim_duhdr(ref_lin: np.ndarray, res_lin: np.ndarray, offset: str = "paper") -> float:
    """PU21-SSIM (reference recipe: luminance, MATLAB SSIM, range 256) of both images after DuHDR Eq. 26.

    Shape:
        HxWx3, HxWx3 -> float
    """
    from hdrlift.metrics.pu21 import pu21_ssim_nits

    r, t = check_rgb_pair(ref_lin, res_lin)
    return pu21_ssim_nits(duhdr_display_normalise(r, offset=offset), duhdr_display_normalise(t, offset=offset))


def cvvdp_duhdr(ref_lin: np.ndarray, res_lin: np.ndarray, offset: str = "paper") -> float:
    """ColorVideoVDP JOD of both images after DuHDR Eq. 26 (absolute cd/m^2, 1000-nit display);
    NaN when the optional ``cvvdp`` package is missing.

    Shape:
        HxWx3, HxWx3 -> float (JOD)
    """
    from hdrlift.metrics.perceptual import cvvdp_available, cvvdp_score

    if not cvvdp_available():
        return float("nan")
    r, t = check_rgb_pair(ref_lin, res_lin)
    return cvvdp_score(duhdr_display_normalise(r, offset=offset), duhdr_display_normalise(t, offset=offset),
                       peak_nits=DUHDR_L_MAX, normalisation="absolute")[0]


def _named(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[..., float]:
    def wrapped(ref_lin: np.ndarray, res_lin: np.ndarray, ldr: np.ndarray | None = None) -> float:
        return fn(ref_lin, res_lin)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


_EQ26 = f"DuHDR Eq. 26 per image -> [{DUHDR_L_MIN:g}, {DUHDR_L_MAX:g}] cd/m^2 (+x_min as printed)"
#: For :data:`hdrlift.metrics.registry.METRICS` (same call signature).
PAPER_METRICS: dict[str, Callable[..., float]] = {
    "pu_psnr_duhdr": _named(pu_psnr_duhdr),
    "pu_ssim_duhdr": _named(pu_ssim_duhdr),
    "cvvdp_duhdr": _named(cvvdp_duhdr),
}
PAPER_METRIC_INFO: dict[str, str] = {
    "pu_psnr_duhdr": f"PU21 (banding_glare) PSNR on RGB, peak 256; {_EQ26} [dB]",
    "pu_ssim_duhdr": f"PU21 (banding_glare) MATLAB SSIM on luminance, range 256; {_EQ26}",
    "cvvdp_duhdr": f"ColorVideoVDP JOD (stand-in for HDR-VDP-3 Q), 1000-nit display; {_EQ26}",
}
