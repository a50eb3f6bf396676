"""In-memory JPEG round trip (Pillow), used by the camera model."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def jpeg_roundtrip(img_u8: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """Encode an 8-bit image as baseline JPEG at ``quality`` with the given chroma ``subsampling``
    (``4:2:0``, Pillow's default, ``4:2:2`` or ``4:4:4``) and decode it again, all in memory.

    Shape:
        (H, W, 3) or (H, W) uint8 -> same, uint8 (sRGB-encoded code values)
    """
    if img_u8.dtype != np.uint8:
        raise ValueError(f"jpeg_roundtrip needs uint8, got {img_u8.dtype}")
    if subsampling not in _SUBSAMPLING:
        raise ValueError(f"jpeg subsampling must be one of {sorted(_SUBSAMPLING)}, got {subsampling!r}")
    mode = "L" if img_u8.ndim == 2 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img_u8), mode=mode).save(
        buf, format="JPEG", quality=int(quality), subsampling=_SUBSAMPLING[subsampling]
    )
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert(mode), dtype=np.uint8).copy()
