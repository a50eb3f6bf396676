"""Ultra HDR (gain-map) JPEG writer: the user's photo as the SDR base, a gain map that restores the HDR.

File layout (Android Ultra HDR image format v1.0 with ISO 21496-1 metadata, as libultrahdr 1.4 writes it):

* Primary image = the SDR base JPEG (4:4:4) with, after SOI: APP1 XMP (``hdrgm:Version`` and a
  ``Container:Directory`` naming the gain map and its length), APP2 ISO 21496-1 (version-only box),
  APP2 MPF (CIPA DC-007 index of the two images), then the base image's own segments.
* Gain-map JPEG appended after the primary's EOI, with APP1 XMP (``hdrgm:GainMapMin/Max``, ``Gamma``,
  ``OffsetSDR/HDR``, ``HDRCapacityMin/Max``, ``BaseRenditionIsHDR``) and APP2 ISO 21496-1 metadata
  carrying the same values as rationals.

SDR base: the photo's own JPEG, byte for byte (EXIF/ICC kept, any old XMP/MPF/gain map dropped),
when it is 4:4:4 and decodes to exactly the pixels the prediction was made from; otherwise the photo
re-encoded 4:4:4 at the lowest quality of 95/98/100 within 0.75 code values of it (mean). The gain
map JPEG's quality is chosen the same way (99th percentile within 0.04 stop of the exact map).

Gain map (per RGB channel, full resolution): ``g = (hdr + k) / (sdr + k)`` with offsets ``k = 1/64``,
``sdr`` the *decoded* base image linearised, stored as ``((log2 g - min) / (max - min)) ** gamma * 255``.
A viewer at display headroom ``H`` shows ``(sdr + k) * 2 ** (log2 g * W) - k`` with
``W = clamp(log2 H / log2 HDRCapacityMax, 0, 1)``.

**Headroom choice.** By default ``HDRCapacityMax`` is ``2 ** (1/64)``: every display with any headroom
applies the whole gain map and so shows the reconstruction exactly (up to its own peak, above which
the display clips, like the EXR shown on that display); an SDR display (H = 1) shows the base photo.
``hdr_capacity_max="peak"`` (``--uhdr-fit scale``) gives Android's default instead: the boost is
scaled down in log space on displays with less headroom than the content's peak (highlights
compressed, nothing clipped). Viewers that request display headroom from ``HDRCapacityMax`` (not
verified here) get only what the file states, which favours ``scale``.
The content's boost ceiling is its peak, limited by ``max_boost`` (``--max-boost`` /
``--peak-nits N`` = ``N / 203``).
"""

from __future__ import annotations

import io as _io
import struct

import numpy as np

from hdrlift.errors import ImageWriteError

from ._common import PathLike, to_hwc
from .atomic import atomic_output
from .colour import REFERENCE_WHITE_NITS, linear_to_srgb, srgb_icc_profile, srgb_to_linear

OFFSET = 1.0 / 64.0
#: Default HDRCapacityMax (linear): just above 1, so any HDR display applies the whole gain map.
EXACT_CAPACITY = 2.0 ** (1.0 / 64.0)
_DEN = 1 << 16  # denominator of every ISO 21496-1 rational hdrlift writes
_XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"
_ISO_NS = b"urn:iso:std:iso:ts:21496:-1\x00"


def _q(v: float) -> float:
    """``v`` rounded to the rational N / 2**16 that the ISO box stores (so XMP and ISO agree exactly)."""
    return round(float(v) * _DEN) / _DEN


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("JPEG segment too long")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(arr8: np.ndarray, quality: int, icc: bytes | None = None) -> bytes:
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(arr8))
    buf = _io.BytesIO()
    kw = {"icc_profile": icc} if icc else {}
    im.save(buf, format="JPEG", quality=int(quality), subsampling=0, **kw)
    return buf.getvalue()


def _decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(_io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _iso_metadata(meta: dict, channels: int) -> bytes:
    """ISO 21496-1 gain-map metadata (minimum/writer version 0, flags, rationals; no common denominator)."""
    flags = (0x80 if channels == 3 else 0) | 0x40  # multichannel, use the base image's colour space
    out = struct.pack(">HHB", 0, 0, flags)
    out += struct.pack(">IIII", round(meta["hdr_capacity_min"] * _DEN), _DEN,
                       round(meta["hdr_capacity_max"] * _DEN), _DEN)
    for _ in range(channels):
        out += struct.pack(">iIiIIIiIiI",
                           round(meta["gain_map_min"] * _DEN), _DEN, round(meta["gain_map_max"] * _DEN), _DEN,
                           round(meta["gamma"] * _DEN), _DEN, round(meta["offset_sdr"] * _DEN), _DEN,
                           round(meta["offset_hdr"] * _DEN), _DEN)
    return out


def _xmp_gainmap(meta: dict) -> bytes:
    a = (f'hdrgm:Version="1.0" hdrgm:BaseRenditionIsHDR="False" hdrgm:GainMapMin="{meta["gain_map_min"]:.8g}" '
         f'hdrgm:GainMapMax="{meta["gain_map_max"]:.8g}" hdrgm:Gamma="{meta["gamma"]:.8g}" '
         f'hdrgm:OffsetSDR="{meta["offset_sdr"]:.8g}" hdrgm:OffsetHDR="{meta["offset_hdr"]:.8g}" '
         f'hdrgm:HDRCapacityMin="{meta["hdr_capacity_min"]:.8g}" '
         f'hdrgm:HDRCapacityMax="{meta["hdr_capacity_max"]:.8g}"')
    return _xmp(f'<rdf:Description rdf:about="" xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" {a}/>')


def _xmp_primary(gainmap_length: int) -> bytes:
    return _xmp(
        '<rdf:Description rdf:about="" xmlns:Container="http://ns.google.com/photos/1.0/container/" '
        'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" '
        'xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0">'
        "<Container:Directory><rdf:Seq>"
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="Primary" Item:Mime="image/jpeg"/>'
        "</rdf:li>"
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="GainMap" Item:Mime="image/jpeg" '
        f'Item:Length="{gainmap_length}"/></rdf:li>'
        "</rdf:Seq></Container:Directory></rdf:Description>"
    )


def _xmp(description: str) -> bytes:
    body = ('<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="hdrlift">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f"{description}</rdf:RDF></x:xmpmeta>")
    return _XMP_NS + body.encode("utf-8")


def _mpf(primary_size: int, gainmap_size: int, gainmap_offset: int) -> bytes:
    """APP2 MPF payload (big-endian TIFF structure): version, 2 images, MP entries (primary + gain map)."""
    entries = struct.pack(">IIIHH", 0x030000, primary_size, 0, 0, 0)  # baseline MP primary image
    entries += struct.pack(">IIIHH", 0, gainmap_size, gainmap_offset, 0, 0)
    ifd = struct.pack(">H", 3)
    ifd += struct.pack(">HHI4s", 0xB000, 7, 4, b"0100")
    ifd += struct.pack(">HHII", 0xB001, 4, 1, 2)
    ifd += struct.pack(">HHII", 0xB002, 7, len(entries), 8 + 2 + 36 + 4)
    ifd += struct.pack(">I", 0)
    return b"MPF\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + entries


def gainmap_params(
    hdr_lin: np.ndarray,
    sdr_lin: np.ndarray,
    *,
    max_boost: float | None = None,
    gamma: float = 1.0,
    hdr_capacity_max: float | str | None = None,
) -> tuple[np.ndarray, dict]:
    """Gain map (uint8, per channel) and its metadata (log2 values as the XMP stores them).

    Shape: ``hdr_lin`` and ``sdr_lin`` (H, W, 3) linear Rec.709 (HDR: 1.0 = SDR white; SDR in [0,1]);
    returns (H, W, 3) uint8 and a dict with ``gain_map_min/max``, ``gamma``, ``offset_sdr/hdr``,
    ``hdr_capacity_min/max`` (log2) and ``peak`` (linear content peak after ``max_boost``).
    """
    peak = float(hdr_lin.max()) if hdr_lin.size else 1.0
    if max_boost is not None:
        peak = min(peak, float(max_boost))
    peak = max(peak, 1.0)
    hdr = np.minimum(hdr_lin, peak)
    lg = np.log2((hdr + OFFSET) / (sdr_lin + OFFSET)).astype(np.float32)
    lo = _q(np.floor(float(lg.min()) * 256) / 256)
    hi = _q(np.ceil(float(lg.max()) * 256) / 256)
    if hi - lo < 1 / 64:
        hi = _q(lo + 1 / 64)
    if hdr_capacity_max == "peak":
        cap = max(2.0 ** hi, EXACT_CAPACITY)  # the headroom at which the largest gain is fully applied
    else:
        cap = EXACT_CAPACITY if hdr_capacity_max is None else max(float(hdr_capacity_max), EXACT_CAPACITY)
    meta = {
        "gain_map_min": lo,
        "gain_map_max": hi,
        "gamma": _q(gamma),
        "offset_sdr": _q(OFFSET),
        "offset_hdr": _q(OFFSET),
        "hdr_capacity_min": 0.0,
        "hdr_capacity_max": _q(np.log2(cap)),
        "peak": peak,
    }
    rec = np.clip((lg - lo) / (hi - lo), 0.0, 1.0) ** meta["gamma"]  # decoders apply ** (1 / gamma)
    return np.round(rec * 255.0).astype(np.uint8), meta


def strip_jpeg(data: bytes) -> bytes | None:
    """The first image of a JPEG file without XMP, MPF and ISO 21496-1 segments (any old gain-map
    container); EXIF, ICC, JFIF and the coded image are kept byte for byte. None when not a JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    out = [data[:2]]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        seg = data[pos : pos + 2 + length]
        if marker == 0xDA:  # start of scan: copy through the first EOI (0xFFD9 cannot occur in scan data)
            end = data.find(b"\xff\xd9", pos + 2 + length)
            if end < 0:
                return None
            out.append(data[pos : end + 2])
            return b"".join(out)
        body = seg[4:]
        drop = (marker == 0xE1 and body.startswith((b"http://ns.adobe.com/xap/1.0/", b"http://ns.adobe.com/xmp/")))
        drop |= marker == 0xE2 and body.startswith((b"MPF\x00", _ISO_NS))
        if not drop:
            out.append(seg)
        pos += 2 + length
    return None


def jpeg_is_444(data: bytes) -> bool:
    """True when every component of the JPEG's frame has the same sampling factors (no chroma subsampling)."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            n = data[pos + 9]
            factors = {data[pos + 10 + 3 * i + 1] for i in range(n)}
            return len(factors) == 1
        if marker == 0xDA:
            return False
        pos += 2 + length
    return False


def _base_jpeg(sdr8: np.ndarray, quality: int | None, photo_jpeg: bytes | None) -> tuple[bytes, np.ndarray, str]:
    """SDR base bytes, their decoded pixels, and how they were made ("photo" or "q<N>").

    The photo's own JPEG is reused when it decodes to exactly ``sdr8`` (no rotation or colour
    conversion happened on read) and is not chroma-subsampled: decoders upsample chroma differently
    (libultrahdr's HDR path: nearest; libjpeg-turbo: smooth), so a gain map computed against one
    4:2:0 decode is off by up to 2 stops at colour edges in another. Otherwise the base is encoded
    4:4:4 at ``quality``, or, when None, at the lowest of 95 / 98 / 100 whose mean difference from
    ``sdr8`` is at most 0.75 code values.
    """
    if photo_jpeg is not None and jpeg_is_444(photo_jpeg):
        stripped = strip_jpeg(photo_jpeg)
        if stripped is not None:
            try:
                photo_dec: np.ndarray | None = _decode_jpeg(stripped)
            except Exception:
                photo_dec = None
            if photo_dec is not None and photo_dec.shape == sdr8.shape and np.array_equal(photo_dec, sdr8):
                return stripped, photo_dec, "photo"
    icc = srgb_icc_profile()
    for q in (quality,) if quality is not None else (95, 98, 100):
        base = _jpeg(sdr8, q, icc=icc)
        dec = _decode_jpeg(base)
        if quality is not None or np.abs(dec.astype(np.float32) - sdr8).mean() <= 0.75:
            break
    return base, dec, f"q{q}"


def _gainmap_jpeg(gm: np.ndarray, meta: dict, quality: int | None) -> tuple[bytes, int, int]:
    """Gain-map JPEG (gray when the channels agree), its channel count and quality.

    With ``quality`` None the lowest of 95 / 98 / 100 is used whose decoded map is within 0.04 stop
    of the exact one at the 99th percentile (gain-map JPEG error is what a viewer's HDR rendition adds).
    """
    gray = int(np.abs(gm.astype(np.int16) - gm[:, :, 1:2]).max()) <= 1
    img = gm[:, :, 1] if gray else gm
    stop_per_code = (meta["gain_map_max"] - meta["gain_map_min"]) / 255.0
    for q in (quality,) if quality is not None else (95, 98, 100):
        data = _jpeg(img, q)
        if quality is not None:
            break
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            dec = np.asarray(im).astype(np.float32)
        err = np.abs(dec - img.astype(np.float32)) * stop_per_code
        if float(np.percentile(err, 99)) <= 0.04:
            break
    return data, 1 if gray else 3, q


def encode_uhdr(
    hdr_lin: np.ndarray,
    sdr: np.ndarray | None = None,
    *,
    quality: int | None = None,
    gainmap_quality: int | None = None,
    max_boost: float | None = None,
    peak_nits: float | None = None,
    hdr_capacity_max: float | str | None = None,
    photo_jpeg: bytes | None = None,
    path: str = "<array>",
) -> tuple[bytes, dict]:
    """Ultra HDR JPEG bytes and the metadata written.

    Shape: ``hdr_lin`` (H, W, 3) linear Rec.709 HDR (1.0 = SDR white); ``sdr`` (H, W, 3) the SDR base
    as sRGB-encoded values in [0,1] (float) or uint8 -- normally the user's photo; None = the HDR
    clipped at 1.0 and sRGB-encoded. The file has exactly the input's size.
    ``photo_jpeg``: the photo's JPEG file; reused byte for byte as the base (EXIF kept, old XMP/MPF
    dropped) when it decodes to ``sdr`` exactly. ``quality`` / ``gainmap_quality``: JPEG qualities
    (None = chosen per image, see :func:`_base_jpeg` and :func:`_gainmap_jpeg`).
    ``peak_nits`` (with 1.0 = 203 cd/m2) is another way to say ``max_boost = peak_nits / 203``.
    """
    hdr = to_hwc(np.asarray(hdr_lin, dtype=np.float32))
    if hdr.shape[2] == 1:
        hdr = np.repeat(hdr, 3, axis=2)
    hdr = hdr[:, :, :3]
    if not np.isfinite(hdr).all():
        raise ImageWriteError(f"{path}: image contains NaN/Inf")
    hdr = np.maximum(hdr, 0.0)
    if peak_nits is not None:
        if peak_nits <= 0:
            raise ImageWriteError(f"{path}: peak_nits must be > 0, got {peak_nits}")
        b = float(peak_nits) / REFERENCE_WHITE_NITS
        max_boost = b if max_boost is None else min(max_boost, b)
    if max_boost is not None and max_boost < 1.0:
        raise ImageWriteError(f"{path}: max boost must be >= 1 (1.0 = SDR white), got {max_boost}")
    if sdr is None:
        sdr8 = np.round(linear_to_srgb(hdr) * 255.0).astype(np.uint8)
    else:
        s = to_hwc(np.asarray(sdr))
        if s.shape[2] == 1:
            s = np.repeat(s, 3, axis=2)
        s = s[:, :, :3]
        if s.shape[:2] != hdr.shape[:2]:
            raise ImageWriteError(f"{path}: SDR base is {s.shape[1]}x{s.shape[0]}, HDR is "
                                  f"{hdr.shape[1]}x{hdr.shape[0]}")
        sdr8 = s if s.dtype == np.uint8 else np.round(np.clip(s.astype(np.float32), 0, 1) * 255).astype(np.uint8)
    base, base_dec, base_how = _base_jpeg(sdr8, quality, photo_jpeg)
    sdr_lin = srgb_to_linear(base_dec.astype(np.float32) / 255.0)
    gm, meta = gainmap_params(hdr, sdr_lin, max_boost=max_boost, hdr_capacity_max=hdr_capacity_max)
    gm_jpeg, channels, gm_q = _gainmap_jpeg(gm, meta, gainmap_quality)
    gm_full = (gm_jpeg[:2] + _segment(0xE1, _xmp_gainmap(meta))
               + _segment(0xE2, _ISO_NS + _iso_metadata(meta, channels)) + gm_jpeg[2:])
    xmp = _segment(0xE1, _xmp_primary(len(gm_full)))
    iso = _segment(0xE2, _ISO_NS + struct.pack(">HH", 0, 0))
    mpf_len = len(_segment(0xE2, _mpf(0, 0, 0)))
    primary_size = 2 + len(xmp) + len(iso) + mpf_len + len(base) - 2
    tiff_pos = 2 + len(xmp) + len(iso) + 4 + 4  # marker + length + "MPF\0"
    mpf = _segment(0xE2, _mpf(primary_size, len(gm_full), primary_size - tiff_pos))
    data = base[:2] + xmp + iso + mpf + base[2:] + gm_full
    meta = {**meta, "channels": channels, "width": int(hdr.shape[1]), "height": int(hdr.shape[0]),
            "base": base_how, "gainmap_quality": gm_q}
    return data, meta


def write_uhdr(
    path: PathLike,
    hdr_lin: np.ndarray,
    *,
    sdr: np.ndarray | None = None,
    overwrite: bool = False,
    quality: int | None = None,
    max_boost: float | None = None,
    peak_nits: float | None = None,
    hdr_capacity_max: float | str | None = None,
    photo_jpeg: bytes | None = None,
) -> dict:
    """Write an Ultra HDR JPEG atomically (see :func:`encode_uhdr`); returns the metadata written.

    Shape: (H, W, 3) linear HDR, 1.0 = SDR white; ``sdr`` (H, W, 3) sRGB-encoded SDR base (the photo).
    """
    p = str(path)
    with atomic_output(p, overwrite=overwrite) as tmp:
        data, meta = encode_uhdr(hdr_lin, sdr, quality=quality, max_boost=max_boost, peak_nits=peak_nits,
                                 hdr_capacity_max=hdr_capacity_max, photo_jpeg=photo_jpeg, path=p)
        with open(tmp, "wb") as f:
            f.write(data)
    return meta


__all__ = ["EXACT_CAPACITY", "OFFSET", "encode_uhdr", "gainmap_params", "jpeg_is_444", "strip_jpeg", "write_uhdr"]
