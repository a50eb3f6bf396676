"""Tone-mapped 8-bit previews of linear HDR (numpy).

Project convention: 1.0 = the clipping level of the original photo. The default ``reinhard`` preview
is the identity below a knee (0.8 linear) and an extended-Reinhard shoulder above it that brings the
white point (max(1, 99.9th percentile of the brightest channel)) to 1.0, followed by sRGB encoding.
So an HDR with nothing above 1.0 previews exactly as the original photo, and an HDR with highlights
keeps mid-tones as in the photo and rolls the highlights off into the top (never darker overall).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hdrlift.errors import ImageWriteError

from ._common import PathLike, to_hwc

KNEE = 0.8


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> sRGB-encoded [0,1] (IEC 61966-2-1), float32."""
    x = np.clip(np.asarray(lin, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def white_point(hdr_lin: np.ndarray, percentile: float = 99.9) -> float:
    """max(1, percentile of the per-pixel max channel): the value the shoulder maps to 1.0."""
    return max(1.0, _peak_percentile(np.asarray(hdr_lin)[..., :3].max(axis=-1), percentile))


def _peak_percentile(peak: np.ndarray, percentile: float = 99.9) -> float:
    """Percentile of the finite values of a per-pixel max-channel map (0 when there are none)."""
    m = peak[np.isfinite(peak)]
    return float(np.percentile(m, percentile)) if m.size else 0.0


def shoulder(x: np.ndarray, white: float, knee: float = KNEE) -> np.ndarray:
    """Identity below ``knee``; extended Reinhard above (C1 at the knee, ``white`` -> 1, monotone)."""
    x = np.maximum(np.asarray(x, dtype=np.float32), 0.0)
    white = max(float(white), knee + 1e-6)
    t = (x - knee) / (1.0 - knee)
    tw = (white - knee) / (1.0 - knee)
    f = t * (1.0 + t / (tw * tw)) / (1.0 + t)
    return np.where(x <= knee, x, knee + (1.0 - knee) * f).astype(np.float32)


def tonemap_preview(
    hdr_lin: np.ndarray,
    method: str = "reinhard",
    exposure: float | None = None,
    *,
    auto_exposure: bool = False,
    mu: float = 5000.0,
) -> np.ndarray:
    """Linear HDR -> uint8 HxWx3 sRGB preview.

    Shape: (H, W, 3|4) or (H, W) linear HDR -> (H, W, 3) uint8 (alpha dropped).

    ``exposure``: stops applied first (None = 0, i.e. the project convention is shown as is).
    ``auto_exposure``: scale so the median luminance is 0.18 first (for files in arbitrary units).
    ``method``: ``"reinhard"`` (default, see module doc), ``"clip"`` (clip at 1 then sRGB: exactly
    the photo's look, highlights burnt) or ``"mu"`` (``log(1 + mu x/white) / log(1 + mu)``, the
    NTIRE-style mu-law view; already perceptual, so no sRGB step).
    """
    img = to_hwc(np.asarray(hdr_lin, dtype=np.float32))
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if method not in ("reinhard", "clip", "mu"):
        raise ValueError(f"unknown preview method {method!r} (use 'reinhard', 'mu' or 'clip')")
    h = img.shape[0]
    # Row blocks keep the float temporaries small (a 12-megapixel image: ~3 MB per block instead of
    # several 144 MB full-size arrays); global statistics come from one-channel maps.
    rows = max(1, (1 << 20) // max(img.shape[1], 1))

    def clean(r0: int, r1: int) -> np.ndarray:
        b = np.nan_to_num(img[r0:r1, :, :3], nan=0.0, posinf=65504.0, neginf=0.0)
        return np.maximum(b, 0.0, out=b)

    scale = 1.0
    if auto_exposure:
        lum = np.empty(img.shape[:2], dtype=np.float32)
        for r0 in range(0, h, rows):
            b = clean(r0, r0 + rows)
            lum[r0 : r0 + rows] = 0.2126 * b[..., 0] + 0.7152 * b[..., 1] + 0.0722 * b[..., 2]
        med = float(np.median(lum))
        del lum
        if med > 0:
            scale = 0.18 / med
    if exposure:
        scale *= 2.0 ** float(exposure)
    white = 1.0
    if method in ("reinhard", "mu"):
        peak = np.empty(img.shape[:2], dtype=np.float32)
        for r0 in range(0, h, rows):
            peak[r0 : r0 + rows] = clean(r0, r0 + rows).max(axis=-1)
        white = max(1.0, scale * _peak_percentile(peak))  # = white_point() of the scaled image
        del peak
    out8 = np.empty((h, img.shape[1], 3), dtype=np.uint8)
    for r0 in range(0, h, rows):
        b = clean(r0, r0 + rows)
        if scale != 1.0:
            b *= np.float32(scale)
        if method == "reinhard":
            t = srgb_encode(shoulder(b, white))
        elif method == "clip":
            t = srgb_encode(b)
        else:
            t = np.log1p(mu * np.minimum(b / white, 1.0)) / np.log1p(mu)
        out8[r0 : r0 + rows] = np.round(np.clip(t, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out8


def write_preview(
    path: PathLike, hdr_lin: np.ndarray, *, overwrite: bool = False, quality: int = 95, **kw: Any
) -> None:
    """Tone-map with :func:`tonemap_preview` (``**kw``) and write an 8-bit PNG/JPEG/WebP atomically.

    Shape: (H, W, 3) linear HDR.
    """
    from ._common import ext_of
    from .ldr import write_ldr8

    fmt = {
        ".png": "PNG",
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".webp": "WEBP",
        ".bmp": "BMP",
        ".tif": "TIFF",
        ".tiff": "TIFF",
    }.get(ext_of(path))
    if fmt is None:
        raise ImageWriteError(f"{path}: unsupported preview extension (use .png, .jpg or .webp)")
    try:
        img8 = tonemap_preview(hdr_lin, **kw)
    except ValueError as e:
        raise ImageWriteError(f"{path}: {e}") from None
    write_ldr8(path, img8, fmt=fmt, overwrite=overwrite, quality=quality)
