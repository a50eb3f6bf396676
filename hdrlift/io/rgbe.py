"""Radiance RGBE (``.hdr``/``.pic``) read and write.

``imagecodecs.rgbe_decode``/``rgbe_encode`` (optional dependency) are used when installed for the
common ``-Y H +X W`` layout; everything else (other orientations, no ``imagecodecs``) goes through
the numpy codec here. Both decode a pixel as ``m * 2**(e - 136)`` (Radiance's convention, no +0.5).

``EXPOSURE=`` header lines are **ignored**: values are returned as stored, like OpenCV, imageio and
OpenImageIO do (the project normalises the scale anyway); their product is reported in the header
dict. Written files use new-style run-length encoding and carry no EXPOSURE line.
"""

from __future__ import annotations

import re

import numpy as np

from hdrlift.errors import ImageReadError, ImageWriteError

from ._common import PathLike, check_pixels, read_bytes, to_hwc
from .atomic import atomic_output

_SIZE_RE = re.compile(rb"^([-+])([XY]) (\d+) ([-+])([XY]) (\d+)$")


def parse_header(data: bytes, path: str) -> tuple[dict, int]:
    """Parse the text header; returns (info, offset of the pixel data).

    info: ``width``, ``height``, ``layout`` (e.g. ``"-Y +X"``), ``exposure`` (product, 1.0 if absent).
    """
    if not (data.startswith(b"#?RADIANCE") or data.startswith(b"#?RGBE") or data.startswith(b"#?")):
        raise ImageReadError(f"{path}: not a Radiance RGBE file (missing '#?' signature)")
    end = data.find(b"\n\n")
    if end < 0:
        raise ImageReadError(f"{path}: truncated Radiance header")
    exposure, fmt = 1.0, None
    for line in data[:end].split(b"\n")[1:]:
        if line.startswith(b"FORMAT="):
            fmt = line[7:].strip()
        elif line.startswith(b"EXPOSURE="):
            try:
                exposure *= float(line[9:].strip())
            except ValueError:
                pass
    if fmt is not None and fmt != b"32-bit_rle_rgbe":
        raise ImageReadError(f"{path}: unsupported Radiance format {fmt.decode(errors='replace')}")
    nl = data.find(b"\n", end + 2)
    if nl < 0:
        raise ImageReadError(f"{path}: truncated Radiance header (no size line)")
    m = _SIZE_RE.match(data[end + 2 : nl].strip())
    if m is None or m.group(2) == m.group(5):
        raise ImageReadError(f"{path}: bad Radiance size line {data[end + 2 : nl][:40]!r}")
    s1, a1, n1, s2, a2, n2 = m.groups()
    n1, n2 = int(n1), int(n2)
    height, width = (n1, n2) if a1 == b"Y" else (n2, n1)
    layout = f"{s1.decode()}{a1.decode()} {s2.decode()}{a2.decode()}"
    return {"width": width, "height": height, "layout": layout, "exposure": exposure}, nl + 1


def _decode_scanlines(buf: np.ndarray, n_lines: int, n_px: int, path: str) -> np.ndarray:
    """Decode ``n_lines`` scanlines of ``n_px`` RGBE pixels (flat or new-style RLE) -> uint8 (n, n_px, 4)."""
    out = np.empty((n_lines, n_px, 4), np.uint8)
    pos = 0
    size = buf.size
    for line in range(n_lines):
        rle = (
            8 <= n_px < 32768
            and pos + 4 <= size
            and buf[pos] == 2
            and buf[pos + 1] == 2
            and not buf[pos + 2] & 0x80
        )
        if not rle:  # flat pixels (old-style RLE repeat markers are not supported)
            if pos + 4 * n_px > size:
                raise ImageReadError(f"{path}: truncated Radiance pixel data (scanline {line})")
            out[line] = buf[pos : pos + 4 * n_px].reshape(n_px, 4)
            pos += 4 * n_px
            continue
        if (int(buf[pos + 2]) << 8 | int(buf[pos + 3])) != n_px:
            raise ImageReadError(f"{path}: corrupt Radiance RLE scanline {line} (wrong length)")
        pos += 4
        for ch in range(4):
            x = 0
            while x < n_px:
                if pos >= size:
                    raise ImageReadError(f"{path}: truncated Radiance pixel data (scanline {line})")
                count = int(buf[pos])
                if count > 128:  # run
                    count -= 128
                    if x + count > n_px or pos + 1 >= size:
                        raise ImageReadError(f"{path}: corrupt Radiance RLE data (scanline {line})")
                    out[line, x : x + count, ch] = buf[pos + 1]
                    pos += 2
                else:  # literal bytes
                    if count == 0 or x + count > n_px or pos + 1 + count > size:
                        raise ImageReadError(f"{path}: corrupt Radiance RLE data (scanline {line})")
                    out[line, x : x + count, ch] = buf[pos + 1 : pos + 1 + count]
                    pos += 1 + count
                x += count
    return out


def rgbe_to_float(rgbe: np.ndarray) -> np.ndarray:
    """uint8 (..., 4) RGBE -> float32 (..., 3): ``m * 2**(e - 136)``, 0 where e == 0."""
    e = rgbe[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(np.float32(1.0), e - 136), 0.0).astype(np.float32)
    return rgbe[..., :3].astype(np.float32) * scale[..., None]


def float_to_rgbe(img: np.ndarray) -> np.ndarray:
    """float (..., 3) >= 0 -> uint8 (..., 4) RGBE (Radiance's frexp convention, mantissa truncated)."""
    img = np.maximum(np.asarray(img, dtype=np.float64), 0.0)
    v = img.max(axis=-1)
    mant, exp = np.frexp(v)
    ok = v >= 1e-32
    scale = np.where(ok, mant * 256.0 / np.where(ok, v, 1.0), 0.0)
    out = np.zeros(img.shape[:-1] + (4,), np.uint8)
    out[..., :3] = np.clip(img * scale[..., None], 0, 255).astype(np.uint8)
    out[..., 3] = np.where(ok, np.clip(exp + 128, 0, 255), 0).astype(np.uint8)
    return out


def read_rgbe(path: str, *, max_pixels: int | None = None) -> tuple[np.ndarray, dict]:
    """Read a Radiance file to float32 HxWx3 in the standard top-to-bottom, left-to-right order.

    Shape: returns (H, W, 3) linear HDR (EXPOSURE ignored, see module doc).
    """
    data = read_bytes(path)
    info, off = parse_header(data, path)
    w, h, layout = info["width"], info["height"], info["layout"]
    check_pixels(path, w, h, max_pixels)
    if layout == "-Y +X":
        try:
            import imagecodecs

            img = np.asarray(imagecodecs.rgbe_decode(data), dtype=np.float32)
            if img.shape == (h, w, 3):
                return img, info
        except ImportError:
            pass
        except Exception:  # fall through: the numpy decoder gives a precise message
            pass
    a1, a2 = layout.split()
    n_lines, n_px = (h, w) if a1[1] == "Y" else (w, h)
    raw = _decode_scanlines(np.frombuffer(data, np.uint8, offset=off), n_lines, n_px, path)
    img = rgbe_to_float(raw)  # (lines, px, 3): first axis follows a1, second a2
    # standard directions: Y decreasing (top row first), X increasing (left column first)
    if a1 in ("+Y", "-X"):
        img = img[::-1]
    if a2 in ("+Y", "-X"):
        img = img[:, ::-1]
    if a1[1] == "X":  # column-major file: lines are columns
        img = np.swapaxes(img, 0, 1)
    return np.ascontiguousarray(img), info


def _encode_rle_numpy(rgbe: np.ndarray) -> bytes:
    """New-style RLE with literal chunks of <= 128 bytes (valid, vectorised, little compression)."""
    h, w, _ = rgbe.shape
    if not 8 <= w < 32768:
        return rgbe.tobytes()  # RLE is undefined for these widths: flat pixels
    n_chunks = -(-w // 128)
    counts = np.full(n_chunks, 128, np.uint8)
    counts[-1] = w - 128 * (n_chunks - 1)
    starts = np.arange(n_chunks) * 128
    parts = []
    head = np.array([2, 2, w >> 8, w & 255], np.uint8)
    for y in range(h):
        line = [head]
        for ch in range(4):
            data = rgbe[y, :, ch]
            pieces = np.split(data, starts[1:])
            for cnt, piece in zip(counts, pieces):
                line.append(np.array([cnt], np.uint8))
                line.append(piece)
        parts.append(np.concatenate(line))
    return np.concatenate(parts).tobytes()


def write_rgbe(path: PathLike, hdr: np.ndarray, *, overwrite: bool = False) -> None:
    """Write linear HDR as Radiance RGBE (``-Y H +X W``, run-length encoded), atomically.

    Shape: (H, W, 3), or (H, W)/(H, W, 1) gray (replicated). Negative values are clamped to 0
    (RGBE cannot store them); NaN/Inf raise ImageWriteError. Precision about 1% (8-bit mantissas).
    """
    p = str(path)
    img = to_hwc(np.asarray(hdr, dtype=np.float32))
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[2] != 3:
        raise ImageWriteError(f"{p}: Radiance RGBE needs 3 channels, got {img.shape[2]}")
    if not np.isfinite(img).all():
        raise ImageWriteError(f"{p}: image contains NaN/Inf")
    img = np.ascontiguousarray(np.maximum(img, 0.0))
    h, w, _ = img.shape
    try:
        import imagecodecs

        data = bytes(imagecodecs.rgbe_encode(img))
    except ImportError:
        header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {h} +X {w}\n".encode()
        data = header + _encode_rle_numpy(float_to_rgbe(img))
    with atomic_output(p, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
