"""Public entry points of :mod:`hdrlift.io`: read_image, read_image_info, write_image, is_hdr_path."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hdrlift.errors import ImageReadError, ImageWriteError

from ._common import (
    HDR_EXTENSIONS,
    LDR_EXTENSIONS,
    ImageInfo,
    PathLike,
    check_alpha_arg,
    check_readable,
    ext_of,
    finish_hdr,
)


def is_hdr_path(path: PathLike) -> bool:
    """True for extensions that hold linear HDR (.exr, .hdr, .pic, .rgbe). Float TIFF is not detected here."""
    return ext_of(path) in HDR_EXTENSIONS


def read_image_info(
    path: PathLike,
    *,
    alpha: str = "drop",
    max_pixels: int | None = None,
    allow_nonfinite: bool = False,
    view: str | None = None,
) -> tuple[np.ndarray, ImageInfo]:
    """Read an image file and describe it. See :func:`read_image` for the values returned.

    Shape: returns (H, W, 3), or (H, W, 4) with ``alpha="keep"`` when the file has alpha.
    """
    check_alpha_arg(alpha)
    p = check_readable(path)
    ext = ext_of(p)
    if ext == ".exr":
        from .exr import read_exr

        img, meta = read_exr(p, max_pixels=max_pixels, view=view)
        has_alpha = meta["has_alpha"]
        if has_alpha and alpha == "drop":
            img = np.ascontiguousarray(img[:, :, :3])
        img = finish_hdr(p, img, allow_nonfinite)
        info = ImageInfo(
            p,
            "exr",
            img.shape[1],
            img.shape[0],
            img.shape[2],
            meta["bit_depth"],
            True,
            has_alpha=has_alpha,
            view=view,
        )
        return img, info
    if ext in (".hdr", ".pic", ".rgbe"):
        from .rgbe import read_rgbe

        img, _meta = read_rgbe(p, max_pixels=max_pixels)
        img = finish_hdr(p, img, allow_nonfinite)
        return img, ImageInfo(p, "rgbe", img.shape[1], img.shape[0], 3, 8, True)
    if ext not in LDR_EXTENSIONS:
        supported = " ".join(sorted(set(LDR_EXTENSIONS + HDR_EXTENSIONS)))
        raise ImageReadError(f"{p}: unsupported file extension {ext or '(none)'!r} (supported: {supported})")
    from .ldr import read_pillow, read_png, read_tiff

    if ext == ".png":
        img, meta = read_png(p, alpha=alpha, max_pixels=max_pixels)
    elif ext in (".tif", ".tiff"):
        img, meta = read_tiff(p, alpha=alpha, max_pixels=max_pixels)
    else:
        img, meta = read_pillow(p, alpha=alpha, max_pixels=max_pixels)
    if meta["is_hdr"]:
        img = finish_hdr(p, img, allow_nonfinite)
    info = ImageInfo(
        p,
        meta["format"],
        img.shape[1],
        img.shape[0],
        img.shape[2],
        meta["bit_depth"],
        meta["is_hdr"],
        orientation_applied=meta["orientation"] != 1,
        has_alpha=meta["has_alpha"],
        orientation=meta["orientation"],
    )
    return img, info


def read_image(
    path: PathLike,
    *,
    alpha: str = "drop",
    max_pixels: int | None = None,
    allow_nonfinite: bool = False,
    view: str | None = None,
) -> np.ndarray:
    """Read an image file to float32 HWC.

    Shape: returns (H, W, 3), or (H, W, 4) with ``alpha="keep"`` when the file has alpha.

    * LDR (JPEG/PNG/TIFF/BMP/WebP, 8 or 16 bit): **sRGB-encoded** values in [0,1] (8-bit / 255,
      16-bit / 65535), EXIF orientation applied, gray -> 3 channels, palette/CMYK -> RGB.
    * HDR (.exr, .hdr/.pic, float TIFF): **linear** values >= 0 (negatives from lossy codecs are
      clamped to 0; alpha untouched); NaN/Inf raise ImageReadError unless ``allow_nonfinite``.
    * ``view`` picks a view of a multi-view EXR (None = default view).
    * ``max_pixels``: ImageSizeError when width*height is larger (checked before decoding).

    Every failure is an ImageReadError/ImageSizeError whose one-line message starts with the path.
    """
    return read_image_info(
        path, alpha=alpha, max_pixels=max_pixels, allow_nonfinite=allow_nonfinite, view=view
    )[0]


_PIL8 = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".bmp": "BMP", ".webp": "WEBP"}
WRITE_FORMATS = (
    "exr",
    "hdr",
    "png",
    "png16",
    "jpeg",
    "tiff",
    "bmp",
    "webp",
    "ntire",
    "preview",
    "uhdr",
    "avif",
)


def _format_of(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in WRITE_FORMATS:
            raise ImageWriteError(f"{path}: unknown format {fmt!r} (use one of {', '.join(WRITE_FORMATS)})")
        return fmt
    name = os.path.basename(path).lower()
    if name.endswith((".uhdr.jpg", ".uhdr.jpeg")):
        return "uhdr"
    ext = ext_of(path)
    table = {
        ".exr": "exr",
        ".hdr": "hdr",
        ".pic": "hdr",
        ".rgbe": "hdr",
        ".png": "png",
        ".tif": "tiff",
        ".tiff": "tiff",
        ".avif": "avif",
        **{k: v.lower() for k, v in _PIL8.items()},
    }
    if ext not in table:
        raise ImageWriteError(
            f"{path}: unsupported output extension {ext or '(none)'!r} (use {', '.join(sorted(table))})"
        )
    return table[ext]


def write_image(
    path: PathLike,
    img: np.ndarray,
    *,
    overwrite: bool = False,
    exr_dtype: str = "half",
    format: str | None = None,
    bits: int | None = None,
    quality: int = 95,
    **kw: Any,
) -> None:
    """Write ``img`` atomically, the format chosen by extension (or ``format``).

    Shape: (H, W), (H, W, 1|3|4).

    * ``.exr`` linear HDR, half (``exr_dtype``) or float; ``.hdr`` Radiance RGBE (RLE).
    * ``.png``: 16-bit if ``img`` is uint16 or ``bits=16``, else 8-bit (float in [0,1], clipped).
    * ``.jpg``/``.webp``/``.bmp``: 8-bit (``quality``). ``.tif``: float -> float32 (HDR), ints as is.
    * ``.uhdr.jpg`` (or ``format="uhdr"``): Ultra HDR gain-map JPEG; ``.avif``: 10-bit PQ AVIF
      (both need the optional ``imagecodecs``). ``format="ntire"``: 16-bit PNG + alignratio;
      ``format="preview"``: tone-mapped 8-bit preview of linear HDR (``**kw`` to tonemap_preview).

    An existing file raises ImageWriteError("<path>: exists (use --overwrite)") unless ``overwrite``.
    """
    p = os.fspath(path)
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ImageWriteError(f"{p}: expected a non-empty HxW or HxWxC array, got shape {arr.shape}")
    fmt = _format_of(p, format)
    if fmt == "exr":
        from .exr import write_exr

        write_exr(p, arr, dtype=exr_dtype, overwrite=overwrite, **kw)
    elif fmt == "hdr":
        from .rgbe import write_rgbe

        write_rgbe(p, arr, overwrite=overwrite)
    elif fmt == "png16" or (fmt == "png" and (bits == 16 or arr.dtype == np.uint16)):
        from .png16 import write_png16

        write_png16(p, arr, overwrite=overwrite)
    elif fmt in ("png", "jpeg", "bmp", "webp"):
        from .ldr import write_ldr8

        write_ldr8(p, arr, fmt="JPEG" if fmt == "jpeg" else fmt.upper(), overwrite=overwrite, quality=quality)
    elif fmt == "tiff":
        from .ldr import to_uint8, write_tiff

        write_tiff(p, to_uint8(arr) if bits == 8 else arr, overwrite=overwrite)
    elif fmt == "ntire":
        from .ntire import write_ntire

        write_ntire(p, arr, overwrite=overwrite)
    elif fmt == "preview":
        from .preview import write_preview

        write_preview(p, arr, overwrite=overwrite, quality=quality, **kw)
    elif fmt == "uhdr":
        from .display import write_uhdr

        write_uhdr(p, arr, overwrite=overwrite, quality=quality)
    else:
        from .display import write_avif_pq

        write_avif_pq(p, arr, overwrite=overwrite, **kw)


__all__ = ["ImageInfo", "is_hdr_path", "read_image", "read_image_info", "write_image"]
