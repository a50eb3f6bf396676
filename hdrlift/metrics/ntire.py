"""NTIRE 2021 HDR challenge scores (exact recipe) and project-convention wrappers (numpy float64).

NTIRE recipe (CodaLab scorer, copied in chxy95/HDRUNet ``scripts/metrics.py``), on the *decoded
gamma-encoded* values H = uint16_png / alignratio of reference and result:

* PSNR-L  = -10 log10(mean(((H_ref - H_res) / max(H_ref))^2)), on the gamma-encoded values.
* PSNR-mu: L = H^2.24; n = np.percentile(L_ref, 99) over all pixels and channels of the reference;
  T(x) = log(1 + mu tanh(x / n)) / log(1 + mu), mu = 5000; PSNR-mu = -10 log10(mean((T(L_ref) - T(L_res))^2)).

Everything is computed in float64 (the scorer works in float32; differences < 0.01 dB).

hdrlift images are *linear* HDR (1.0 = the input camera's clipping level). :func:`psnr_l` and
:func:`psnr_mu` encode linear -> gamma 2.24 (H = lin^(1/2.24)) and then apply the NTIRE recipe, so
numbers are directly comparable with the challenge (whose GT is this gamma-2.24 encoding).
The ``*_aligned`` variants first multiply the result by a global scale fitted by least squares in
log2 luminance (see :func:`fit_log_luminance_scale`), for methods without an absolute scale.
"""

from __future__ import annotations

import numpy as np

from hdrlift.metrics._common import check_pair, luminance_hwc, psnr_from_mse

NTIRE_GAMMA = 2.24
NTIRE_MU = 5000.0
NTIRE_PERCENTILE = 99.0


def ntire_psnr_l(ref: np.ndarray, res: np.ndarray) -> float:
    """NTIRE 2021 "PSNR" (PSNR-L) on decoded gamma-encoded HDR, normalised by ``max(ref)``.

    Domain: NTIRE gamma-2.24-encoded HDR (png / alignratio), not linear.

    Shape:
        any (typically HxWx3), same for both -> float (dB)
    """
    r, t = check_pair(ref, res)
    m = float(r.max())
    if m <= 0.0:
        m = 1.0
    return psnr_from_mse(float(np.mean(((r - t) / m) ** 2)))


def ntire_mu_tonemap(lin: np.ndarray, norm: float, mu: float = NTIRE_MU) -> np.ndarray:
    """NTIRE tone curve ``T(x) = log(1 + mu tanh(x / n)) / log(1 + mu)`` on linear values (-> [0, 1))."""
    return np.log1p(mu * np.tanh(np.maximum(lin, 0.0) / norm)) / np.log1p(mu)


def ntire_mu_norm(lin_ref: np.ndarray, percentile: float = NTIRE_PERCENTILE) -> float:
    """NTIRE normaliser n: ``np.percentile`` (linear interpolation) over all values of the reference."""
    n = float(np.percentile(lin_ref, percentile))
    return n if n > 0.0 else 1.0


def ntire_psnr_mu(
    ref: np.ndarray,
    res: np.ndarray,
    gamma: float = NTIRE_GAMMA,
    mu: float = NTIRE_MU,
    percentile: float = NTIRE_PERCENTILE,
) -> float:
    """NTIRE 2021 PSNR-mu on decoded gamma-encoded HDR (linearised here with ``x ** gamma``).

    Domain: NTIRE gamma-2.24-encoded HDR (png / alignratio), not linear.

    Shape:
        any (typically HxWx3), same for both -> float (dB)
    """
    r, t = check_pair(ref, res)
    l_ref = np.maximum(r, 0.0) ** gamma
    l_res = np.maximum(t, 0.0) ** gamma
    n = ntire_mu_norm(l_ref, percentile)
    diff = ntire_mu_tonemap(l_ref, n, mu) - ntire_mu_tonemap(l_res, n, mu)
    return psnr_from_mse(float(np.mean(diff**2)))


def psnr(ref: np.ndarray, res: np.ndarray, peak: float = 1.0) -> float:
    """Plain PSNR ``10 log10(peak^2 / MSE)`` over all values (any domain).

    Shape:
        any, same for both -> float (dB)
    """
    r, t = check_pair(ref, res)
    return psnr_from_mse(float(np.mean((r - t) ** 2)), peak)


def _to_ntire(lin: np.ndarray, gamma: float = NTIRE_GAMMA) -> np.ndarray:
    return np.maximum(lin, 0.0) ** (1.0 / gamma)


def psnr_l(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """NTIRE PSNR-L of linear HDR: encode ``lin ** (1/2.24)`` then :func:`ntire_psnr_l`.

    Domain: linear HDR (1.0 = clipping level).

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_lin, res_lin)
    return ntire_psnr_l(_to_ntire(r), _to_ntire(t))


def psnr_mu(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """NTIRE PSNR-mu of linear HDR: encode ``lin ** (1/2.24)`` then :func:`ntire_psnr_mu`.

    Domain: linear HDR (1.0 = clipping level).

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_lin, res_lin)
    return ntire_psnr_mu(_to_ntire(r), _to_ntire(t))


def fit_log_luminance_scale(ref_lin: np.ndarray, res_lin: np.ndarray, floor: float = 1e-4) -> float:
    """Global scale s minimising sum (log2 Y_ref - log2(s Y_res))^2 over pixels with both Y > floor.

    Closed form: log2 s = mean(log2 Y_ref - log2 Y_res). Robust to highlights (log domain) and
    ignores black pixels. Returns 1.0 when no pixel qualifies.

    Shape:
        HxWx3, HxWx3 -> float
    """
    r, t = check_pair(ref_lin, res_lin)
    yr, yt = luminance_hwc(r), luminance_hwc(t)
    valid = (yr > floor) & (yt > floor)
    if not np.any(valid):
        return 1.0
    return float(2.0 ** np.mean(np.log2(yr[valid]) - np.log2(yt[valid])))


def psnr_mu_aligned(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """:func:`psnr_mu` after scaling the result by :func:`fit_log_luminance_scale`.

    Domain: linear HDR; use for methods without an absolute scale.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_lin, res_lin)
    return psnr_mu(r, t * fit_log_luminance_scale(r, t))


def psnr_l_aligned(ref_lin: np.ndarray, res_lin: np.ndarray) -> float:
    """:func:`psnr_l` after scaling the result by :func:`fit_log_luminance_scale`.

    Domain: linear HDR; use for methods without an absolute scale.

    Shape:
        HxWx3, HxWx3 -> float (dB)
    """
    r, t = check_pair(ref_lin, res_lin)
    return psnr_l(r, t * fit_log_luminance_scale(r, t))
