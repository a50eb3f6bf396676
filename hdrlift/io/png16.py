"""16-bit PNG: a small numpy + zlib codec (Pillow reads 16-bit RGB PNG as 8 bit and cannot write it).

Reading uses ``imagecodecs.png_decode`` when the optional ``imagecodecs`` package is installed (fast,
all PNG variants) and otherwise the numpy decoder here (16-bit, non-interlaced; all five filter types).
Writing always uses the numpy encoder (Paeth filter, zlib level 6), so output files are identical
with or without ``imagecodecs``.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from hdrlift.errors import ImageReadError, ImageWriteError

from ._common import PathLike, to_hwc
from .atomic import atomic_output

_SIG = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def png_header(data: bytes, path: str) -> tuple[int, int, int, int, int]:
    """(width, height, bit_depth, color_type, interlace) from the IHDR chunk."""
    if len(data) < 33 or data[:8] != _SIG or data[12:16] != b"IHDR":
        raise ImageReadError(f"{path}: not a PNG file (bad signature)")
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return w, h, depth, ctype, interlace


def decode_png16(data: bytes, path: str) -> np.ndarray:
    """Decode a 16-bit PNG to a uint16 HxWxC array (C = 1, 2, 3 or 4 as stored)."""
    try:
        import imagecodecs
    except ImportError:
        return decode_png16_numpy(data, path)
    try:
        return to_hwc(np.asarray(imagecodecs.png_decode(data)))
    except Exception as e:
        raise ImageReadError(f"{path}: truncated or corrupt PNG ({str(e).splitlines()[0]})") from None


def decode_png16_numpy(data: bytes, path: str) -> np.ndarray:
    """Pure numpy/zlib decoder for 16-bit, non-interlaced PNG files (colour types 0, 2, 4, 6)."""
    w, h, depth, ctype, interlace = png_header(data, path)
    if depth != 16 or ctype not in _CHANNELS:
        raise ImageReadError(f"{path}: the numpy PNG decoder handles 16-bit gray/RGB(A) only")
    if interlace:
        raise ImageReadError(f"{path}: interlaced 16-bit PNG needs the optional 'imagecodecs' package")
    pos, idat, ended = 8, [], False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + length > len(data):
            break
        if kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    if not ended:
        raise ImageReadError(f"{path}: truncated PNG (no IEND chunk)")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise ImageReadError(f"{path}: corrupt PNG data ({e})") from None
    ch = _CHANNELS[ctype]
    bpp = 2 * ch
    if len(raw) < h * (w * bpp + 1):
        raise ImageReadError(f"{path}: truncated PNG (pixel data too short)")
    byts = _unfilter(np.frombuffer(raw, np.uint8)[: h * (w * bpp + 1)].reshape(h, w * bpp + 1), h, w, bpp)
    if byts is None:
        raise ImageReadError(f"{path}: corrupt PNG (unknown filter type)")
    pairs = byts.reshape(h, w, ch, 2).astype(np.uint16)
    return (pairs[..., 0] << 8) | pairs[..., 1]


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _unfilter(rows: np.ndarray, h: int, w: int, bpp: int) -> np.ndarray | None:
    """Undo PNG row filters. rows: (h, 1 + w*bpp) uint8 -> (h, w*bpp) uint8, or None if invalid."""
    ftype = rows[:, 0].astype(np.int32)
    if ftype.size and ftype.max() > 4:
        return None
    f = rows[:, 1:].reshape(h, w, bpp).astype(np.int32)
    out = np.zeros((h + 1, w + 1, bpp), np.int32)  # zero row above and column left of the image
    if ftype.size == 0 or ftype.max() <= 2:  # None/Sub/Up only: row by row, vectorised within a row
        for y in range(h):
            t = ftype[y]
            if t == 0:
                out[y + 1, 1:] = f[y]
            elif t == 1:
                out[y + 1, 1:] = np.cumsum(f[y], axis=0) & 255
            else:
                out[y + 1, 1:] = (f[y] + out[y, 1:]) & 255
    else:  # Average/Paeth depend on the left pixel: anti-diagonal wavefront, vectorised along it
        for d in range(h + w - 1):
            ys = np.arange(max(0, d - w + 1), min(h - 1, d) + 1)
            xs = d - ys
            a, b, c = out[ys + 1, xs], out[ys, xs + 1], out[ys, xs]
            t = ftype[ys][:, None]
            pred = np.select([t == 1, t == 2, t == 3, t == 4], [a, b, (a + b) >> 1, _paeth(a, b, c)], 0)
            out[ys + 1, xs + 1] = (f[ys, xs] + pred) & 255
    return out[1:, 1:].reshape(h, w * bpp).astype(np.uint8)


def encode_png16(img16: np.ndarray, chunks: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """uint16 HxW[xC] (C = 1..4) -> PNG bytes (Paeth filter on every row).

    ``chunks``: ancillary chunks ``(type, payload)`` written between IHDR and IDAT (cICP, tEXt, ...).
    """
    img16 = to_hwc(np.asarray(img16, dtype=np.uint16))
    h, w, ch = img16.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    x = img16.astype(">u2").view(np.uint8).reshape(h, w * ch * 2).astype(np.int16)
    bpp = 2 * ch
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    b = np.zeros_like(x)
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[1:, bpp:] = x[:-1, :-bpp]
    filt = ((x - _paeth(a, b, c)) & 255).astype(np.uint8)
    rows = np.concatenate([np.full((h, 1), 4, np.uint8), filt], axis=1)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return (
        _SIG
        + _chunk(b"IHDR", ihdr)
        + b"".join(_chunk(k, v) for k, v in (chunks or []))
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def to_uint16(img: np.ndarray) -> np.ndarray:
    """uint16 unchanged; uint8 scaled by 257; float in [0,1] -> round(clip(x,0,1) * 65535)."""
    img = np.asarray(img)
    if img.dtype == np.uint16:
        return img
    if img.dtype == np.uint8:
        return img.astype(np.uint16) * np.uint16(257)
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"cannot convert {img.dtype} to 16 bit")
    if not np.isfinite(img).all():
        raise ValueError("image contains NaN/Inf")
    return np.round(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)


def write_png16(
    path: PathLike,
    img01: np.ndarray,
    *,
    overwrite: bool = False,
    text: dict[str, str] | None = None,
    cicp: tuple[int, int, int, int] | None = None,
) -> None:
    """Write a 16-bit PNG atomically.

    ``img01``: float values in [0,1] (clipped, then ``round(x*65535)``), or uint16 written as is.
    Shape: (H, W), (H, W, 1..4); gray, gray+alpha, RGB or RGBA. Any domain (stored as given).
    ``text``: tEXt chunks (Latin-1 keywords and values); ``cicp``: a cICP chunk (primaries, transfer,
    matrix, full-range flag; ITU-T H.273 code points), which HDR-aware viewers honour.
    """
    try:
        data = encode_png16(to_uint16(img01), chunks=png_metadata_chunks(text, cicp))
    except ValueError as e:
        raise ImageWriteError(f"{path}: {e}") from None
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def png_metadata_chunks(
    text: dict[str, str] | None = None, cicp: tuple[int, int, int, int] | None = None
) -> list[tuple[bytes, bytes]]:
    """cICP and tEXt chunks for :func:`encode_png16` (cICP first: it must precede IDAT and PLTE)."""
    out: list[tuple[bytes, bytes]] = []
    if cicp is not None:
        out.append((b"cICP", bytes(int(v) for v in cicp)))
    for k, v in (text or {}).items():
        # tEXt is Latin-1: other characters (a file name in another script) become '?'
        out.append((b"tEXt", k.encode("latin-1", "replace")[:79] + b"\0" + str(v).encode("latin-1", "replace")))
    return out


def png_metadata(data: bytes) -> tuple[dict[str, str], tuple[int, ...] | None]:
    """(tEXt key/values, cICP tuple or None) of PNG bytes; only the chunks before the first IDAT are read."""
    text: dict[str, str] = {}
    cicp = None
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind in (b"IDAT", b"IEND") or pos + 12 + length > len(data):
            break
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt" and b"\0" in body:
            k, v = body.split(b"\0", 1)
            text[k.decode("latin-1")] = v.decode("latin-1")
        elif kind == b"cICP" and length == 4:
            cicp = tuple(body)
        pos += 12 + length
    return text, cicp
