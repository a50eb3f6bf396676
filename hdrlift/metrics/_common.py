"""Shared input handling of the metrics (numpy float64, HWC)."""

from __future__ import annotations

import numpy as np

from hdrlift.errors import DataError

#: Rec.709 luminance weights for linear RGB.
LUMA_709 = np.array([0.2126, 0.7152, 0.0722])


def as_array(x: object, name: str) -> np.ndarray:
    """Any array-like (numpy, CPU torch tensor) -> float64 numpy array; rejects NaN/Inf."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise DataError(f"{name} contains NaN or Inf values")
    return a


def check_pair(ref: object, res: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (reference, result) pair of equal shape; returns float64 arrays."""
    r, t = as_array(ref, "reference"), as_array(res, "result")
    if r.shape != t.shape:
        raise DataError(f"reference and result shapes differ: {r.shape} vs {t.shape}")
    if r.size == 0:
        raise DataError("empty image passed to a metric")
    return r, t


def check_hwc3(a: np.ndarray, name: str) -> None:
    if a.ndim != 3 or a.shape[-1] != 3:
        raise DataError(f"{name} must be an HxWx3 array, got shape {a.shape}")


def luminance_hwc(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luminance of linear HWC RGB -> HW."""
    return rgb @ LUMA_709


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    """``10 log10(peak^2 / mse)``; ``inf`` for identical images."""
    if mse <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))
