"""NTIRE 2021 HDR challenge files: 16-bit PNG + ``<stem>_alignratio.npy``.

Recipe of the official ``data_io.py`` (chxy95/HDRUNet ``scripts/data_io.py``):
writer ``align_ratio = 65535 / img.max()``, ``png = round(img * align_ratio).astype(uint16)``,
``np.save(<stem>_alignratio.npy, align_ratio)``; reader ``png[RGB] / float32(align_ratio)``.
The stored values are gamma-2.24-encoded HDR (not linear); this module does not convert.
Deviations, both for inputs the recipe leaves undefined: negative values are clamped to 0 (the
recipe's ``astype(uint16)`` would wrap them), and an all-zero image is written with align_ratio
65535 (the recipe would divide by zero).
"""

from __future__ import annotations

import os

import numpy as np

from hdrlift.errors import ImageReadError, ImageWriteError

from ._common import PathLike, check_readable, read_bytes, to_hwc
from .atomic import atomic_output, check_writable
from .png16 import decode_png16, encode_png16, png_header, png_metadata, png_metadata_chunks

#: tEXt keyword naming what a 16-bit PNG written by hdrlift holds, and its values.
ENCODING_KEY = "hdrlift:encoding"
SCALE_KEY = "hdrlift:scale"
ENCODINGS = {"ntire": "ntire-gamma2.24", "linear": "linear-rec709"}


def alignratio_path(png_path: PathLike) -> str:
    """``0003.png`` -> ``0003_alignratio.npy``; ``0003_gt.png`` -> ``0003_alignratio.npy`` (same folder)."""
    p = os.fspath(png_path)
    folder, name = os.path.split(p)
    stem = os.path.splitext(name)[0]
    if stem.endswith("_gt"):
        stem = stem[:-3]
    return os.path.join(folder, f"{stem}_alignratio.npy")


def write_ntire(
    png_path: PathLike,
    hdr_gamma_encoded: np.ndarray,
    *,
    overwrite: bool = False,
    encoding: str | None = None,
    text: dict[str, str] | None = None,
) -> str:
    """Write ``png_path`` (uint16 RGB PNG) and its alignratio ``.npy``; returns the ``.npy`` path.

    Shape: (H, W, 3) float, gamma-2.24-encoded HDR (the NTIRE domain), values >= 0 -- or, with
    ``encoding="linear"``, linear HDR stored the same way (``png = round(img * 65535 / max)``).
    ``encoding`` ("ntire" or "linear") also writes tEXt chunks ``hdrlift:encoding`` and
    ``hdrlift:scale`` (the align ratio), so :func:`hdrlift.io.read_image` and :func:`read_ntire`
    know what the file holds; ``None`` writes a plain NTIRE file (the challenge's own format).
    Both files are written atomically; neither is written when one exists and ``overwrite`` is False.
    If the ``.npy`` cannot be written the PNG is removed again.
    """
    p = os.fspath(png_path)
    npy = alignratio_path(p)
    img = np.asarray(hdr_gamma_encoded)
    if img.dtype.kind != "f":
        img = img.astype(np.float32)
    img = to_hwc(img)
    if img.shape[2] != 3:
        raise ImageWriteError(f"{p}: NTIRE format needs 3 channels, got {img.shape[2]}")
    if not np.isfinite(img).all():
        raise ImageWriteError(f"{p}: image contains NaN/Inf")
    check_writable(p, overwrite)
    check_writable(npy, overwrite)
    img = np.maximum(img, img.dtype.type(0))
    peak = img.max()
    align_ratio = (2**16 - 1) / peak if peak > 0 else img.dtype.type(65535.0)
    png = np.round(img * align_ratio).astype(np.uint16)
    meta = dict(text or {})
    if encoding is not None:
        if encoding not in ENCODINGS:
            raise ImageWriteError(f"{p}: unknown encoding {encoding!r} (use ntire or linear)")
        meta[ENCODING_KEY] = ENCODINGS[encoding]
        meta[SCALE_KEY] = repr(float(np.float32(align_ratio)))
    data = encode_png16(png, chunks=png_metadata_chunks(meta))
    with atomic_output(p, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    try:
        with atomic_output(npy, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, align_ratio)
    except Exception:
        try:
            os.remove(p)
        except OSError:
            pass
        raise
    return npy


def read_ntire(png_path: PathLike, alignratio_path_: PathLike | None = None) -> np.ndarray:
    """Read an NTIRE PNG + alignratio -> float32 HxWx3 ``png / float32(align_ratio)`` (gamma-encoded HDR).

    Shape: returns (H, W, 3), gamma-2.24-encoded HDR (the NTIRE domain). A file whose
    ``hdrlift:encoding`` chunk says ``linear-rec709`` (``hdrlift predict -f png16``) is converted to that
    domain (``x ** (1/2.24)``), so callers that linearise with ``** 2.24`` get the stored linear values.
    """
    p = check_readable(png_path)
    npy = check_readable(alignratio_path_ if alignratio_path_ is not None else alignratio_path(p))
    data = read_bytes(p)
    _w, _h, depth, _ct, _il = png_header(data, p)
    if depth != 16:
        raise ImageReadError(f"{p}: NTIRE PNG must be 16-bit, found {depth}-bit")
    try:
        ratio = np.float32(np.load(npy, allow_pickle=False))
    except Exception as e:
        raise ImageReadError(f"{npy}: not a readable alignratio .npy ({str(e).splitlines()[0]})") from None
    if not np.isfinite(ratio) or ratio <= 0:
        raise ImageReadError(f"{npy}: invalid align ratio {ratio}")
    png = decode_png16(data, p)
    if png.shape[2] < 3:
        raise ImageReadError(f"{p}: NTIRE PNG must be RGB, found {png.shape[2]} channel(s)")
    out = (png[:, :, :3] / ratio).astype(np.float32)
    if png_metadata(data)[0].get(ENCODING_KEY) == ENCODINGS["linear"]:
        out = np.power(out, np.float32(1 / 2.24))
    return out
