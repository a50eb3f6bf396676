"""The HDR source images and the seeds of samples, shared by the on-the-fly training folder
(:mod:`hdrlift.data.hdr_folder`), the deterministic captures (:mod:`hdrlift.data.synth`) and the paired and
unpaired folders: the lowest module of the data layer (it imports no other data module).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdrlift.errors import DataError, HdrliftError

log = logging.getLogger(__name__)

_MIX = 0x9E3779B97F4A7C15


def sample_seed(seed: int, index: int, salt: int = 0) -> int:
    """Deterministic 63-bit seed of sample ``index`` (splitmix-style mixing)."""
    z = (seed * 1_000_003 + index * 7_919 + salt * 104_729 + _MIX) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


def normalise_exposure(hdr: np.ndarray, target_median: float = 0.18) -> np.ndarray:
    """Scale linear HDR so that its median positive luminance is ``target_median``.

    Shape:
        (H, W, 3) linear -> same
    """
    lum = 0.2126 * hdr[..., 0] + 0.7152 * hdr[..., 1] + 0.0722 * hdr[..., 2]
    pos = lum[lum > 0]
    med = float(np.median(pos)) if pos.size else 1.0
    return (hdr * (target_median / max(med, 1e-12))).astype(np.float32)


def _read_hdr_file(f: Path) -> np.ndarray:
    """An HDR image file; ``.npy`` = a float (H, W, C) array.

    Shape:
        -> (H, W, C) linear
    """
    if f.suffix.lower() != ".npy":
        from hdrlift.io import read_image

        return read_image(f)
    try:
        a = np.load(f, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{f}: unreadable .npy ({exc})") from None
    if a.dtype.kind != "f":
        raise DataError(f"{f}: expected a float array, got dtype {a.dtype}")
    return a


def load_hdr_images(
    files: Sequence[Path], on_bad: str = "skip", report: Any = None
) -> tuple[list[np.ndarray], list[Path]]:
    """Read, validate (finite, >= 0, 3 channels) and exposure-normalise HDR files.

    ``on_bad="skip"`` logs the file and its problem (and calls ``report(message)``) and leaves it out;
    ``"error"`` raises DataError. A ``.npy`` file is a float (H, W, 3) linear array (as unpacked by
    ``scripts/gpu_train.py``, which needs no EXR reader).
    """
    imgs, kept = [], []
    for f in files:
        try:
            img = _read_hdr_file(Path(f))
            if img.ndim != 3 or img.shape[2] < 3:
                raise DataError(f"{f}: expected an RGB HDR image, got shape {img.shape}")
            img = np.ascontiguousarray(img[..., :3], dtype=np.float32)
            if not np.isfinite(img).all():
                raise DataError(f"{f}: contains NaN or Inf")
            if min(img.shape[:2]) < 16:
                raise DataError(f"{f}: too small ({img.shape[1]}x{img.shape[0]})")
        except HdrliftError as exc:
            if on_bad == "error":
                raise DataError(str(exc)) from None
            log.warning("skipping bad HDR file: %s", exc)
            if report is not None:
                report(str(exc))
            continue
        imgs.append(normalise_exposure(np.maximum(img, 0.0)))
        kept.append(Path(f))
    if not imgs:
        raise DataError(f"no usable HDR image among {len(files)} file(s)")
    return imgs, kept
