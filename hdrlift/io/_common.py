"""Shared helpers of :mod:`hdrlift.io`: path checks, one-line errors, orientation, value checks.

numpy only (``hdrlift.io`` never imports torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from hdrlift.errors import ImageReadError, ImageSizeError

PathLike = Union[str, "os.PathLike[str]"]

#: Extensions read as linear HDR by default.
HDR_EXTENSIONS = (".exr", ".hdr", ".pic", ".rgbe")
#: Extensions read as sRGB-encoded LDR (float TIFF is the exception: read as linear HDR).
LDR_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class ImageInfo:
    """What :func:`hdrlift.io.read_image_info` learned about a file.

    ``width``/``height``/``channels`` describe the returned array (after orientation).
    ``bit_depth`` is the stored sample depth (8/16 for LDR, 16 for half EXR, 32 for float,
    8 for RGBE mantissas). ``is_hdr`` is True for linear data (EXR, RGBE, float TIFF, and PNGs that
    hdrlift marked as HDR or that carry a PQ/HLG cICP chunk).
    ``orientation`` is the EXIF orientation tag found (1 = none) and ``orientation_applied``
    says whether the pixels were rotated/flipped to undo it.
    """

    path: str
    format: str
    width: int
    height: int
    channels: int
    bit_depth: int
    is_hdr: bool
    orientation_applied: bool = False
    has_alpha: bool = False
    orientation: int = 1
    view: str | None = None
    #: What the file said its colours are, when hdrlift converted them to sRGB / Rec.709 on read
    #: ("icc:<description>", "exif:adobe-rgb", "exr:chromaticities", "png:pq", ...); None = already sRGB.
    colour_source: str | None = None


def ext_of(path: PathLike) -> str:
    """Lower-case extension of ``path`` including the dot (``.uhdr.jpg`` -> ``.jpg``)."""
    return Path(os.fspath(path)).suffix.lower()


def check_readable(path: PathLike) -> str:
    """Return ``str(path)`` or raise a one-line :class:`ImageReadError` naming the file."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ImageReadError(f"{p}: no such file") from None
    except PermissionError:
        raise ImageReadError(f"{p}: permission denied") from None
    except OSError as e:
        raise ImageReadError(f"{p}: cannot access file ({e.strerror or e})") from None
    if os.path.isdir(p):
        raise ImageReadError(f"{p}: is a directory, not an image file")
    if st.st_size == 0:
        raise ImageReadError(f"{p}: empty file (0 bytes)")
    try:
        with open(p, "rb"):
            pass
    except PermissionError:
        raise ImageReadError(f"{p}: permission denied") from None
    except OSError as e:
        raise ImageReadError(f"{p}: cannot open file ({e.strerror or e})") from None
    return p


def read_bytes(path: str) -> bytes:
    """Whole file contents, IO errors turned into :class:`ImageReadError`."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from None


def check_pixels(path: str, width: int, height: int, max_pixels: int | None) -> None:
    """Raise :class:`ImageSizeError` when ``width*height`` exceeds ``max_pixels`` (None = no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageSizeError(
            f"{path}: image is {width}x{height} = {width * height} pixels, more than max_pixels={max_pixels}"
        )


def finish_hdr(path: str, img: np.ndarray, allow_nonfinite: bool) -> np.ndarray:
    """float32, NaN/Inf check (ImageReadError unless allowed), negatives clamped to 0.

    Alpha (a 4th channel) is not clamped.
    """
    img = np.asarray(img, dtype=np.float32)
    if not allow_nonfinite:
        bad = ~np.isfinite(img)
        if bad.any():
            raise ImageReadError(
                f"{path}: contains {int(bad.sum())} NaN/Inf values (pass allow_nonfinite=True to keep them)"
            )
    rgb = img[..., :3]
    if (rgb < 0).any():
        img = img.copy()
        np.maximum(img[..., :3], 0.0, out=img[..., :3])
    return img


def to_hwc(img: np.ndarray) -> np.ndarray:
    """HW -> HW1; HWC unchanged; anything else is a ValueError."""
    if img.ndim == 2:
        return img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {img.shape}")
    return img


def gray_to_rgb(img: np.ndarray, alpha: str) -> tuple[np.ndarray, bool]:
    """HWC with 1-4 channels (gray, gray+alpha, RGB, RGBA) -> RGB or RGBA per ``alpha``.

    Returns the array and whether the source had alpha.
    """
    img = to_hwc(img)
    c = img.shape[2]
    if c == 1:
        color, a = np.repeat(img, 3, axis=2), None
    elif c == 2:
        color, a = np.repeat(img[:, :, :1], 3, axis=2), img[:, :, 1:2]
    elif c == 3:
        color, a = img, None
    else:
        color, a = img[:, :, :3], img[:, :, 3:4]
    if a is not None and alpha == "keep":
        return np.concatenate([color, a], axis=2), True
    return np.ascontiguousarray(color), a is not None


def check_alpha_arg(alpha: str) -> None:
    if alpha not in ("drop", "keep"):
        raise ValueError(f"alpha must be 'drop' or 'keep', got {alpha!r}")


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Undo an EXIF orientation tag (1..8) on an HW[C] array, like Pillow's ``exif_transpose``."""
    if orientation == 2:
        out = img[:, ::-1]
    elif orientation == 3:
        out = img[::-1, ::-1]
    elif orientation == 4:
        out = img[::-1]
    elif orientation == 5:
        out = np.swapaxes(img, 0, 1)
    elif orientation == 6:
        out = np.rot90(img, -1)
    elif orientation == 7:
        out = np.swapaxes(img[::-1, ::-1], 0, 1)
    elif orientation == 8:
        out = np.rot90(img, 1)
    else:
        return img
    return np.ascontiguousarray(out)


def check_size(img: np.ndarray, path: PathLike, *, min_size: int = 2, max_pixels: int | None = None) -> None:
    """Raise :class:`ImageSizeError` if ``img`` is smaller than ``min_size`` on a side or too large.

    Shape: ``img`` is (H, W) or (H, W, C), any domain.
    """
    p = os.fspath(path)
    h, w = int(img.shape[0]), int(img.shape[1])
    if h < min_size or w < min_size:
        raise ImageSizeError(f"{p}: image is {w}x{h} pixels; at least {min_size}x{min_size} is needed")
    check_pixels(p, w, h, max_pixels)
