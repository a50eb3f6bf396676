"""Display-ready HDR files (optional dependency ``imagecodecs``; ``pip install hdrlift[display]``).

* Ultra HDR gain-map JPEG (``.uhdr.jpg``) via ``imagecodecs.ultrahdr_encode`` (libultrahdr): the
  linear HDR is passed as half-float RGBA (BT.709, linear), 1.0 = SDR white. libultrahdr derives
  the SDR base image itself with a global tone curve (about ``v / (1 + v)`` then sRGB), so the SDR
  rendition is darker than the original photo; HDR displays show the full image. Use
  :func:`hdrlift.io.write_preview` for an SDR file that looks like the photo.
* AVIF 10-bit PQ (BT.2100: BT.2020 primaries, SMPTE ST 2084) via ``imagecodecs.avif_encode``:
  1.0 (the photo's clipping level) is placed at ``white_nits`` (203 cd/m2, BT.2408 reference white)
  and everything is clipped at ``peak_nits``.
"""

from __future__ import annotations

import numpy as np

from hdrlift.errors import ImageWriteError

from ._common import PathLike, to_hwc
from .atomic import atomic_output

# Linear BT.709 -> BT.2020 RGB (ITU-R BT.2087, derived from both primaries sets with D65 white).
_BT709_TO_BT2020 = np.array(
    [[0.627404, 0.329283, 0.043313], [0.069097, 0.919540, 0.011362], [0.016391, 0.088013, 0.895595]],
    dtype=np.float32,
)


def _imagecodecs(path: str, what: str):
    try:
        import imagecodecs
    except ImportError:
        raise ImageWriteError(
            f"{path}: writing {what} needs the optional 'imagecodecs' package (pip install hdrlift[display])"
        ) from None
    return imagecodecs


def _rgb(path: str, hdr: np.ndarray) -> np.ndarray:
    img = to_hwc(np.asarray(hdr, dtype=np.float32))
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[2] not in (3, 4):
        raise ImageWriteError(f"{path}: expected 3 channels, got {img.shape[2]}")
    img = img[:, :, :3]
    if not np.isfinite(img).all():
        raise ImageWriteError(f"{path}: image contains NaN/Inf")
    return np.maximum(img, 0.0)


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """Absolute luminance in cd/m2 -> SMPTE ST 2084 (PQ) signal in [0,1]."""
    m1, m2 = 2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0
    c1, c2, c3 = 3424.0 / 4096.0, 2413.0 / 4096.0 * 32.0, 2392.0 / 4096.0 * 32.0
    y = np.power(np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0.0, 1.0), m1)
    return np.power((c1 + c2 * y) / (1.0 + c3 * y), m2).astype(np.float32)


def write_uhdr(path: PathLike, hdr_lin: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> None:
    """Write an Ultra HDR (ISO 21496-1 / gain-map) JPEG. Shape: (H, W, 3) linear HDR, 1.0 = SDR white."""
    p = str(path)
    ic = _imagecodecs(p, "Ultra HDR JPEG")
    img = np.minimum(_rgb(p, hdr_lin), 65504.0)
    h, w, _ = img.shape
    if h % 2 or w % 2:  # libultrahdr needs even sizes: replicate the last row/column
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    rgba = np.concatenate([img, np.ones(img.shape[:2] + (1,), np.float32)], axis=2).astype(np.float16)
    with atomic_output(p, overwrite=overwrite) as tmp:
        data = ic.ultrahdr_encode(
            rgba, int(quality), gamut=ic.ULTRAHDR.CG.BT_709, transfer=ic.ULTRAHDR.CT.LINEAR
        )
        with open(tmp, "wb") as f:
            f.write(data)


def write_avif_pq(
    path: PathLike,
    hdr_lin: np.ndarray,
    *,
    overwrite: bool = False,
    white_nits: float = 203.0,
    peak_nits: float = 1000.0,
    quality: int = 90,
) -> None:
    """Write a 10-bit BT.2100 PQ AVIF. Shape: (H, W, 3) linear HDR (BT.709 primaries), 1.0 -> white_nits."""
    p = str(path)
    ic = _imagecodecs(p, "AVIF")
    img = _rgb(p, hdr_lin) @ _BT709_TO_BT2020.T
    signal = pq_encode(np.clip(img * float(white_nits), 0.0, float(peak_nits)))
    code = np.round(signal * 1023.0).astype(np.uint16)
    A = ic.AVIF
    with atomic_output(p, overwrite=overwrite) as tmp:
        data = ic.avif_encode(
            code,
            int(quality),
            bitspersample=10,
            primaries=A.COLOR_PRIMARIES.BT2020,
            transfer=A.TRANSFER_CHARACTERISTICS.PQ,
            matrix=A.MATRIX_COEFFICIENTS.BT2020_NCL,
        )
        with open(tmp, "wb") as f:
            f.write(data)
