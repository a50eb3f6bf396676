"""Alignment of a result to its reference before scoring: per-image scale, camera-response correction.

* :func:`fit_scale_unclipped`: one factor s per image, least squares in log luminance over the pixels
  that are *not clipped* in the LDR input (max channel < 0.99) and not black in either image
  (Rec.709 luminance > 1e-4 of the reference's maximum): ``log s = mean(log Y_ref - log Y_res)``.
  This is the "per-image brightness fit on unclipped pixels" of the SI-HDR protocol: it removes the
  unknown absolute exposure of single-image methods without rewarding or punishing the
  reconstruction of the clipped regions. Without an LDR input every non-black pixel is used.
* :func:`crf_correction`: the camera-response correction of Hanji et al. (SIGGRAPH 2022, "Comparison
  of single image HDR reconstruction methods - the caveats of quality assessment"), as the reference
  ``crf_correction.m`` of gfxdisp/pu21 with its defaults (degree 3, lambda 0.01, PQ, Luv, no
  normalisation): both images in cd/m^2 are floored at 0.005; converted to "Luv" (L = Y, u' and v'
  chromaticity scaled by 410/255, XYZ clamped to [1e-4, 1e8]); L is fitted in PQ space by an
  unregularised cubic polynomial of the result's PQ value, (u, v) in linear space by a cubic
  polynomial with the cross term u v, ridge-regularised (lambda N / n_terms) towards the identity;
  the fitted values are floored at the transform of 0.005 and converted back. The reference uses the
  4-decimal PQ constants (m 78.8438, n 0.1593, c1 0.8359, c2 18.8516, c3 18.6875); so does this.
"""

from __future__ import annotations

import numpy as np

from hdrlift.metrics._common import check_pair, luminance_hwc

CLIP_THRESHOLD = 0.99
CRF_L_MIN = 0.005
CRF_L_MAX = 1e4
_PQ_M, _PQ_N = 78.8438, 0.1593
_PQ_C1, _PQ_C2, _PQ_C3 = 0.8359, 18.8516, 18.6875
_RGB2XYZ = np.array([[0.412424, 0.357579, 0.180464],
                     [0.212656, 0.715158, 0.072186],
                     [0.019332, 0.119193, 0.950444]])


def fit_scale_unclipped(ref_lin: np.ndarray, res_lin: np.ndarray, ldr: np.ndarray | None = None,
                        threshold: float = CLIP_THRESHOLD) -> float:
    """Per-image scale of the result fitted on the input's unclipped pixels (see module docstring).

    Domain: ref/res linear HDR; ``ldr`` the sRGB-encoded LDR input in [0, 1] (or None).

    Shape:
        HxWx3, HxWx3, optional HxWx3 -> float
    """
    r, t = check_pair(ref_lin, res_lin)
    yr, yt = luminance_hwc(r), luminance_hwc(t)
    floor = 1e-4 * max(float(yr.max()), 1e-12)
    valid = (yr > floor) & (yt > floor)
    if ldr is not None:
        a = np.asarray(ldr, dtype=np.float64)
        if a.shape[:2] == valid.shape:
            valid &= a.max(axis=-1) < threshold
    if not np.any(valid):
        return 1.0
    return float(np.exp(np.mean(np.log(yr[valid]) - np.log(yt[valid]))))


def _ptf(x: np.ndarray, kind: str, forward: bool) -> np.ndarray:
    if kind != "pq":
        return x
    if forward:
        lp = (np.maximum(x, 0.0) / CRF_L_MAX) ** _PQ_N
        return ((_PQ_C1 + _PQ_C2 * lp) / (1.0 + _PQ_C3 * lp)) ** _PQ_M
    xm = np.maximum(x, 0.0) ** (1.0 / _PQ_M)
    lp = np.maximum((_PQ_C1 - xm) / (_PQ_C3 * xm - _PQ_C2), 0.0)
    return CRF_L_MAX * lp ** (1.0 / _PQ_N)


def _rgb_to_luv(rgb: np.ndarray) -> np.ndarray:
    xyz = np.clip(rgb @ _RGB2XYZ.T, 1e-4, 1e8)
    s = xyz.sum(axis=-1)
    x, y = xyz[..., 0] / s, xyz[..., 1] / s
    d = -2.0 * x + 12.0 * y + 3.0
    return np.stack([xyz[..., 1], 4.0 * x / d * 410 / 255.0, 9.0 * y / d * 410 / 255.0], axis=-1)


def _luv_to_rgb(luv: np.ndarray) -> np.ndarray:
    lum = luv[..., 0]
    u, v = luv[..., 1] * 255.0 / 410.0, luv[..., 2] * 255.0 / 410.0
    d = 6.0 * u - 16.0 * v + 12.0
    x, y = 9.0 * u / d, 4.0 * v / d
    big_y = np.clip(lum, 1e-4, 1e8)
    big_x = np.clip(x / y * lum, 1e-4, 1e8)
    big_z = np.clip((1.0 - x - y) / y * lum, 1e-4, 1e8)
    xyz = np.stack([big_x, big_y, big_z], axis=-1)
    return np.maximum(xyz @ np.linalg.inv(_RGB2XYZ).T, 0.0)


def _design(x: np.ndarray, deg: int) -> np.ndarray:
    """Columns: x_c^deg ... x_c^2 (highest first), cross products x_i x_j (i < j), x_c, 1."""
    n, c = x.shape
    cols = [x[:, i] * x[:, j] for i in range(c - 1) for j in range(i + 1, c)]
    base = np.column_stack(cols + [x[:, k] for k in range(c)] + [np.ones(n)])
    powers = [x**d for d in range(deg, 1, -1)]
    return np.column_stack(powers + [base]) if powers else base


def _fit(test: np.ndarray, ref: np.ndarray, deg: int, lam: float, kind: str) -> np.ndarray:
    shape = test.shape
    c = 1 if test.ndim == 2 else shape[-1]
    y = _ptf(ref, kind, True).reshape(-1, c)
    x = _ptf(test, kind, True).reshape(-1, c)
    big_x = _design(x, deg)
    w0 = np.zeros((big_x.shape[1], c))
    w0[-c - 1 : -1, :] = np.eye(c)  # identity on the linear terms (regularisation target)
    sc = lam * big_x.shape[0] / big_x.shape[1]
    a = big_x.T @ big_x + sc * np.eye(big_x.shape[1])
    w = np.linalg.solve(a, big_x.T @ y + sc * w0)
    out = np.maximum((big_x @ w).reshape(shape), _ptf(np.asarray(CRF_L_MIN), kind, True))
    return _ptf(out, kind, False)


def crf_correction(res_nits: np.ndarray, ref_nits: np.ndarray, deg: int = 3, lam: float = 0.01) -> np.ndarray:
    """Hanji et al. 2022 camera-response correction of ``res`` towards ``ref`` (both cd/m^2, Rec.709).

    Returns the corrected result in cd/m^2 (see module docstring for the recipe).

    Shape:
        HxWx3, HxWx3 -> HxWx3
    """
    t, r = check_pair(res_nits, ref_nits)
    r, t = np.maximum(r, CRF_L_MIN), np.maximum(t, CRF_L_MIN)
    lr, lt = _rgb_to_luv(r), _rgb_to_luv(t)
    out = np.empty_like(lt)
    out[..., 0] = _fit(lt[..., 0], lr[..., 0], deg, 0.0, "pq")
    out[..., 1:] = _fit(lt[..., 1:], lr[..., 1:], deg, lam, "lin")
    return _luv_to_rgb(out)
