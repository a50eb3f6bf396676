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
