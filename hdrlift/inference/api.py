"""Python API: ``hdrlift.reconstruct(image_or_path, method=...)``."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np

from hdrlift.inference.predictor import Predictor


@lru_cache(maxsize=4)
def _predictor(method: str, device: str, tile: int | None, strategy: str, precision: str) -> Predictor:
    return Predictor(method, device=device, tile=tile, strategy=strategy, precision=precision)


def reconstruct(
    image_or_path: str | os.PathLike | np.ndarray,
    method: str = "default",
    device: str = "auto",
    tile: int | None = None,
    strategy: str = "tile",
    max_pixels: int | None = None,
    precision: str = "auto",
) -> np.ndarray:
    """Reconstruct linear HDR from one LDR photo.

    Args:
        image_or_path: a file path, or an HWC array: uint8/uint16, or float in [0,1] (sRGB-encoded).
        method: ``"default"``, an operator, a shipped weight or architecture name, or a checkpoint dir.
        device: ``auto`` | ``cpu`` | ``cuda``.
        tile: tile size for large images (None = default, 0 = whole image at once).
        strategy: ``tile`` | ``deu`` | ``ses`` | ``none``.
        max_pixels: refuse larger images (path input only).
        precision: ``auto`` (bf16 on CPUs with native bfloat16, else fp32) | ``fp32`` | ``bf16`` | ``fp16``
            (see :class:`~hdrlift.inference.predictor.Predictor`).

    Returns:
        float32 (H, W, 3) linear HDR >= 0, 1.0 = the input's clipping level.

    Shape:
        (H, W, 3) sRGB LDR -> (H, W, 3) linear HDR
    """
    if isinstance(image_or_path, (str, os.PathLike)):
        from hdrlift.io import check_size, read_image

        img: Any = read_image(image_or_path, max_pixels=max_pixels)
        check_size(img, image_or_path)
    else:
        img = image_or_path
    return _predictor(str(method), device, tile, strategy, precision)(img)
