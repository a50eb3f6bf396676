"""OpenEXR read/write through the ``OpenEXR`` 3.x Python bindings (``OpenEXR.File``).

Reading handles RGB(A) half/float, luminance-only files (Y -> gray RGB), luminance/chroma files
(Y + 2x2-subsampled RY/BY -> RGB with Rec.709 weights), tiled and mip-mapped files (level 0, which
the bindings return), multi-part files (first part with image channels) and multi-view files
(``view=None`` = the default view, i.e. the unprefixed channels; ``view="left"`` picks ``left.*``).
Premultiplied alpha is returned as stored. The data window is returned (not the display window).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hdrlift.errors import ImageReadError, ImageWriteError

from ._common import PathLike, check_pixels, to_hwc
from .atomic import atomic_output

_HALF_MAX = 65504.0


def _window(header: dict) -> tuple[int, int, int, int]:
    (x0, y0), (x1, y1) = header["dataWindow"]
    return int(x0), int(y0), int(x1) - int(x0) + 1, int(y1) - int(y0) + 1


def _open(path: str, header_only: bool) -> Any:  # an OpenEXR.File (the bindings are untyped)
    import OpenEXR

    try:
        return OpenEXR.File(path, separate_channels=True, header_only=header_only)
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageReadError(f"{path}: not a readable OpenEXR file ({msg})") from None


def _view_prefix(path: str, header: dict, names: list[str], view: str | None) -> str:
    views = [str(v) for v in (header.get("multiView") or [])]
    if view is None or (views and view == views[0]):
        return ""
    if any(n.startswith(view + ".") for n in names):
        return view + "."
    avail = views or sorted({n.split(".")[0] for n in names if "." in n})
    raise ImageReadError(f"{path}: no view {view!r} (views: {', '.join(avail) or 'none'})")


def _upsample2(c: np.ndarray, h: int, w: int, xoff: int, yoff: int) -> np.ndarray:
    """Linear interpolation of a 2x2-subsampled channel (samples at even coordinates) to h x w."""

    def axis_weights(n: int, m: int, off: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n) + off) / 2.0  # position in sample units
        i0 = np.clip(np.floor(pos).astype(int), 0, m - 1)
        i1 = np.clip(i0 + 1, 0, m - 1)
        return i0, i1, (pos - np.floor(pos)).astype(np.float32)

    c = c.astype(np.float32)
    y0, y1, fy = axis_weights(h, c.shape[0], yoff)
    x0, x1, fx = axis_weights(w, c.shape[1], xoff)
    rows = c[y0] * (1 - fy[:, None]) + c[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx[None, :]) + rows[:, x1] * fx[None, :]


def read_exr(path: str, *, max_pixels: int | None = None, view: str | None = None) -> tuple[np.ndarray, dict]:
    """Read an EXR file to linear float32 HxWx{3,4} (alpha as 4th channel when present).

    Shape: returns (H, W, 3) or (H, W, 4); linear HDR values as stored (no clamping here).
    The second value holds ``bit_depth``, ``has_alpha`` and ``view``.
    """
    head = _open(path, header_only=True)
    for part in head.parts:
        _x0, _y0, w, h = _window(part.header)
        check_pixels(path, w, h, max_pixels)
    f = _open(path, header_only=False)
    part = None
    for p in f.parts:
        names = list(p.channels.keys())
        if any(n.split(".")[-1] in ("R", "G", "B", "Y") for n in names):
            part = p
            break
    if part is None:
        names = sorted({n for p in f.parts for n in p.channels.keys()})
        raise ImageReadError(f"{path}: no R/G/B or Y channels (channels: {', '.join(names) or 'none'})")
    header = part.header
    x0, y0, w, h = _window(header)
    chans = part.channels
    prefix = _view_prefix(path, header, list(chans.keys()), view)
    own = {
        n[len(prefix) :]: c for n, c in chans.items() if n.startswith(prefix) and "." not in n[len(prefix) :]
    }
    depth = 32 if any(c.pixels.dtype == np.float32 for c in own.values()) else 16

    def full(name: str) -> np.ndarray:
        c = own[name]
        px = np.asarray(c.pixels)
        if px.shape != (h, w):
            return _upsample2(px, h, w, x0 % max(1, c.xSampling), y0 % max(1, c.ySampling))
        return px.astype(np.float32)

    if all(k in own for k in ("R", "G", "B")):
        rgb = np.stack([full("R"), full("G"), full("B")], axis=2)
    elif "Y" in own and "RY" in own and "BY" in own:
        y = full("Y")
        r = (full("RY") + 1.0) * y
        b = (full("BY") + 1.0) * y
        g = (y - 0.2126 * r - 0.0722 * b) / 0.7152
        rgb = np.stack([r, g, b], axis=2)
    elif "Y" in own:
        rgb = np.repeat(full("Y")[:, :, None], 3, axis=2)
    else:
        raise ImageReadError(
            f"{path}: view {view or 'default'} has no R/G/B or Y channels "
            f"(channels: {', '.join(sorted(own))})"
        )
    has_alpha = "A" in own
    if has_alpha:
        rgb = np.concatenate([rgb, full("A")[:, :, None]], axis=2)
    chroma = header.get("chromaticities")
    return np.ascontiguousarray(rgb, dtype=np.float32), {
        "bit_depth": depth,
        "has_alpha": has_alpha,
        "view": view,
        "chromaticities": tuple(float(v) for v in chroma) if chroma is not None else None,
        "luminance_only": "R" not in own,
    }


COMPRESSIONS = ("none", "zip", "zips", "piz", "rle", "pxr24", "b44", "b44a", "dwaa", "dwab")
_COMPRESSION = COMPRESSIONS
#: Rec.709 / sRGB primaries and D65 white, the chromaticities of every EXR hdrlift writes.
REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)


def write_exr(
    path: PathLike,
    hdr: np.ndarray,
    *,
    dtype: str = "half",
    overwrite: bool = False,
    compression: str = "zip",
    attributes: Mapping[str, str | float] | None = None,
    white_luminance: float | None = None,
) -> None:
    """Write linear HDR to OpenEXR atomically (scanline, ``compression`` default ZIP).

    Shape: (H, W) or (H, W, 1) -> channel Y; (H, W, 3) -> RGB; (H, W, 4) -> RGBA. Linear HDR.
    ``dtype="half"`` clamps to the half range (+-65504) so no Inf is written; NaN/Inf input raises.
    Every file carries ``chromaticities`` (Rec.709, D65); ``white_luminance`` (cd/m2 of RGB 1,1,1)
    is written as ``whiteLuminance`` when given; ``attributes`` are extra string/float header
    attributes (hdrlift writes ``hdrlift/version``, ``hdrlift/method``, ``hdrlift/weight``, ...).
    ``compression``: none, zip (default), zips, piz, rle, pxr24, b44, b44a, dwaa, dwab (the last
    four are lossy; pxr24 is lossy for float).
    """
    import OpenEXR

    p = str(path)
    if dtype not in ("half", "float"):
        raise ImageWriteError(f"{p}: exr dtype must be 'half' or 'float', got {dtype!r}")
    if compression not in _COMPRESSION:
        raise ImageWriteError(f"{p}: unknown EXR compression {compression!r} (use one of {_COMPRESSION})")
    img = to_hwc(np.asarray(hdr, dtype=np.float32))
    if not np.isfinite(img).all():
        raise ImageWriteError(f"{p}: image contains NaN/Inf")
    if dtype == "half":
        img = np.clip(img, -_HALF_MAX, _HALF_MAX).astype(np.float16)
    names = {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}.get(img.shape[2])
    if names is None:
        raise ImageWriteError(f"{p}: cannot write {img.shape[2]} channels to EXR (1-4 supported)")
    channels = {n: np.ascontiguousarray(img[:, :, i]) for i, n in enumerate(names)}
    comp = getattr(OpenEXR, "NO_COMPRESSION" if compression == "none" else f"{compression.upper()}_COMPRESSION")
    header: dict = {"compression": comp, "type": OpenEXR.scanlineimage, "chromaticities": REC709_CHROMATICITIES}
    if white_luminance is not None:
        header["whiteLuminance"] = float(white_luminance)
    for k, v in (attributes or {}).items():
        if k in header:
            raise ImageWriteError(f"{p}: attribute {k!r} is set by the writer")
        header[k] = v if isinstance(v, str) else float(v)
    with atomic_output(p, overwrite=overwrite) as tmp:
        OpenEXR.File(header, channels).write(tmp)
