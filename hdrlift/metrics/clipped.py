"""Error inside the clipped (saturated) regions of the LDR input, where reconstruction is hallucination.

``clipped_log_rmse`` = sqrt(mean((log2 Y_res - log2 Y_ref)^2)) over the pixels whose input LDR max
channel is >= ``threshold`` (saturated), in stops; Y = Rec.709 luminance of the linear HDR, clamped
to >= 1e-6 before the log. NaN when the input has no clipped pixel (nothing to measure).
Lower is better; 1.0 means the highlights are off by one stop (RMS).
"""

from __future__ import annotations

import numpy as np

from hdrlift.errors import DataError
from hdrlift.metrics._common import as_array, luminance_hwc
from hdrlift.metrics.ssim import check_rgb_pair

LOG_FLOOR = 1e-6


def clipped_mask(ldr_input: np.ndarray, threshold: float = 0.99) -> np.ndarray:
    """Boolean HxW mask of saturated input pixels (max channel >= threshold).

    ``ldr_input`` is the sRGB-encoded LDR in [0, 1] (integer arrays are divided by their dtype max).

    Shape:
        HxWx3 -> HxW
    """
    a = np.asarray(ldr_input)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / np.iinfo(a.dtype).max
    a = as_array(a, "LDR input")
    if a.ndim != 3 or a.shape[-1] != 3:
        raise DataError(f"LDR input must be an HxWx3 array, got shape {a.shape}")
    return a.max(axis=-1) >= threshold


def clipped_log_rmse(
    ref_lin: np.ndarray, res_lin: np.ndarray, ldr_input: np.ndarray, threshold: float = 0.99
) -> float:
    """RMSE of log2 luminance (stops) restricted to the input's clipped pixels; NaN if there are none.

    Domain: ref/res linear HDR (1.0 = clipping), ldr_input sRGB-encoded LDR in [0, 1].

    Shape:
        HxWx3, HxWx3, HxWx3 -> float
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    mask = clipped_mask(ldr_input, threshold)
    if mask.shape != r.shape[:2]:
        raise DataError(f"LDR input size {mask.shape} differs from the HDR size {r.shape[:2]}")
    if not np.any(mask):
        return float("nan")
    lr = np.log2(np.maximum(luminance_hwc(r)[mask], LOG_FLOOR))
    lt = np.log2(np.maximum(luminance_hwc(t)[mask], LOG_FLOOR))
    return float(np.sqrt(np.mean((lt - lr) ** 2)))


#: keys of :func:`clipped_error_decomposition`
DECOMPOSITION = ("rmse", "mean_error", "region_bias", "structure_with_true_means", "oracle_region_constant")


def clipped_error_decomposition(
    ref_lin: np.ndarray, res_lin: np.ndarray, ldr_input: np.ndarray, threshold: float = 0.99
) -> dict[str, float] | None:
    """Where a method's clipped-pixel error (:func:`clipped_log_rmse`) comes from; None if nothing clips.

    Per 8-connected clipped region ``r`` with true / predicted mean log2 luminance ``m_r`` / ``p_r``:
    ``rmse`` (the metric), ``mean_error`` (mean of log2 res - log2 ref: negative = highlights too dark),
    ``region_bias`` (RMSE of ``p_r - m_r`` over the pixels: the part a perfect per-region level would remove),
    ``structure_with_true_means`` (the RMSE left when each region's prediction is shifted to ``m_r``: what the
    method's structure inside the regions is worth) and ``oracle_region_constant`` (the RMSE of predicting
    ``m_r`` flat, :func:`hdrlift.tools.suite.oracle_rmses`). ``rmse ** 2 = region_bias ** 2 +
    structure_with_true_means ** 2``. ``res_lin`` must already be aligned to ``ref_lin`` as the metric is used.

    Domain: ref/res linear HDR, ldr_input sRGB-encoded LDR in [0, 1].

    Shape:
        HxWx3, HxWx3, HxWx3 -> {key: float}
    """
    from scipy import ndimage

    r, t = check_rgb_pair(ref_lin, res_lin)
    mask = clipped_mask(ldr_input, threshold)
    if mask.shape != r.shape[:2]:
        raise DataError(f"LDR input size {mask.shape} differs from the HDR size {r.shape[:2]}")
    if not np.any(mask):
        return None
    yr = np.log2(np.maximum(luminance_hwc(r)[mask], LOG_FLOOR))
    yt = np.log2(np.maximum(luminance_hwc(t)[mask], LOG_FLOOR))
    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    blob = lab[mask]
    cnt = np.bincount(blob, minlength=n + 1).astype(np.float64)
    cnt[0] = 1.0
    mr = (np.bincount(blob, yr, n + 1) / cnt)[blob]
    mt = (np.bincount(blob, yt, n + 1) / cnt)[blob]
    e = yt - yr
    return {"rmse": float(np.sqrt(np.mean(e**2))), "mean_error": float(np.mean(e)),
            "region_bias": float(np.sqrt(np.mean((mt - mr) ** 2))),
            "structure_with_true_means": float(np.sqrt(np.mean((e - (mt - mr)) ** 2))),
            "oracle_region_constant": float(np.sqrt(np.mean((yr - mr) ** 2)))}
