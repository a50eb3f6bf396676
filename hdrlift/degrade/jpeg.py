"""In-memory JPEG round trip (Pillow), used by the camera model."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg_roundtrip(img_u8: np.ndarray, quality: int) -> np.ndarray:
    """Encode an 8-bit image as baseline JPEG at ``quality`` (Pillow's default 4:2:0 chroma
    subsampling) and decode it again, all in memory.

    Shape:
        (H, W, 3) or (H, W) uint8 -> same, uint8 (sRGB-encoded code values)
    """
    if img_u8.dtype != np.uint8:
        raise ValueError(f"jpeg_roundtrip needs uint8, got {img_u8.dtype}")
    mode = "L" if img_u8.ndim == 2 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img_u8), mode=mode).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert(mode), dtype=np.uint8).copy()
