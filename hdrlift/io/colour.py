"""Colour management for :mod:`hdrlift.io` (numpy + Pillow's ImageCms; never torch).

hdrlift's working space is **Rec.709 / sRGB primaries with a D65 white**: LDR arrays are sRGB-encoded,
HDR arrays are linear Rec.709 with 1.0 = SDR (diffuse) white. This module brings other encodings into
that space on read and out of it on write:

* ICC profiles embedded in JPEG/PNG/TIFF/WebP (Display-P3 phone photos, Adobe RGB, ...) are converted
  to sRGB with LittleCMS (``PIL.ImageCms``, relative colorimetric intent) for 8-bit images, or with a
  matrix + tone curve derived from the profile's ``rXYZ/gXYZ/bXYZ`` and ``rTRC`` tags for 16-bit ones.
* EXIF ``ColorSpace`` = 0xFFFF ("uncalibrated") with ``InteroperabilityIndex`` "R03" means Adobe RGB.
* EXR ``chromaticities`` other than Rec.709 are converted with a 3x3 matrix (Bradford adaptation when
  the white points differ).
* PQ (SMPTE ST 2084) and HLG (ARIB STD-B67 / BT.2100) encoders and decoders for the HDR outputs.

What cannot be honoured (an unreadable profile, a non-RGB profile on an RGB image) is reported by
:func:`warn` as one line naming the file and the image is used as sRGB.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

#: An ICC tone curve as a numpy function: encoded values -> linear values (same shape).
ToneCurve = Callable[[np.ndarray], np.ndarray]

#: xy chromaticities (R, G, B, white) of the primaries hdrlift knows by name.
PRIMARIES: dict[str, tuple[float, ...]] = {
    "rec709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "display-p3": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "rec2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
    "adobe-rgb": (0.64, 0.33, 0.21, 0.71, 0.15, 0.06, 0.3127, 0.3290),
}

#: Luminance of linear 1.0 in cd/m2 for the display encodings (ITU-R BT.2408 HDR reference white).
REFERENCE_WHITE_NITS = 203.0

_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]], dtype=np.float64
)


def warn(msg: str) -> None:
    """One-line warning on stderr (``hdrlift: warning: <msg>``); the image is still read."""
    print(f"hdrlift: warning: {msg}", file=sys.stderr)


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y], dtype=np.float64)


def rgb_to_xyz_matrix(chroma: tuple[float, ...]) -> np.ndarray:
    """3x3 linear RGB -> CIE XYZ (Y of white = 1) for xy chromaticities ``(rx, ry, gx, gy, bx, by, wx, wy)``."""
    rx, ry, gx, gy, bx, by, wx, wy = (float(v) for v in chroma)
    m = np.stack([_xy_to_xyz(rx, ry), _xy_to_xyz(gx, gy), _xy_to_xyz(bx, by)], axis=1)
    s = np.linalg.solve(m, _xy_to_xyz(wx, wy))
    return m * s[None, :]


def adaptation_matrix(src_white_xyz: np.ndarray, dst_white_xyz: np.ndarray) -> np.ndarray:
    """Bradford chromatic adaptation XYZ(src white) -> XYZ(dst white)."""
    a = _BRADFORD @ src_white_xyz
    b = _BRADFORD @ dst_white_xyz
    return np.linalg.inv(_BRADFORD) @ np.diag(b / a) @ _BRADFORD


def conversion_matrix(src: tuple[float, ...] | str, dst: tuple[float, ...] | str = "rec709") -> np.ndarray:
    """3x3 matrix M with ``rgb_dst = rgb_src @ M.T`` between linear RGB spaces (Bradford if whites differ)."""
    s = PRIMARIES[src] if isinstance(src, str) else tuple(src)
    d = PRIMARIES[dst] if isinstance(dst, str) else tuple(dst)
    m_src = rgb_to_xyz_matrix(s)
    m_dst = rgb_to_xyz_matrix(d)
    adapt = adaptation_matrix(_xy_to_xyz(s[6], s[7]), _xy_to_xyz(d[6], d[7]))
    return np.linalg.inv(m_dst) @ adapt @ m_src


def same_primaries(a: tuple[float, ...], b: tuple[float, ...], tol: float = 2e-3) -> bool:
    """True when two chromaticity 8-tuples agree within ``tol`` (float/half rounding in files)."""
    return bool(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))) <= tol)


def convert_linear(img: np.ndarray, src: tuple[float, ...] | str, dst: tuple[float, ...] | str = "rec709"
                   ) -> np.ndarray:
    """Linear RGB in primaries ``src`` -> linear RGB in ``dst`` (alpha, a 4th channel, untouched).

    Shape: (H, W, 3|4) linear HDR (or linear LDR); returns float32 of the same shape. Out-of-gamut
    colours come out negative and are kept (the caller clamps where its domain needs it).
    """
    m = conversion_matrix(src, dst).astype(np.float32)
    out = np.asarray(img, dtype=np.float32).copy()
    out[..., :3] = out[..., :3] @ m.T
    return out


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0,1] -> linear (IEC 61966-2-1). Shape: any; float32."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> sRGB-encoded (values outside [0,1] are clipped first). Shape: any; float32."""
    v = np.clip(np.asarray(v, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(np.maximum(v, 0.0031308), 1 / 2.4) - 0.055
                    ).astype(np.float32)


# ---------------------------------------------------------------------------------------------- PQ / HLG
_M1, _M2 = 2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0
_C1, _C2, _C3 = 3424.0 / 4096.0, 2413.0 / 4096.0 * 32.0, 2392.0 / 4096.0 * 32.0
_HA, _HB, _HC = 0.17883277, 0.28466892, 0.55991073


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """Absolute luminance in cd/m2 -> SMPTE ST 2084 (PQ) signal in [0,1]. Shape: any; float32."""
    y = np.power(np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0.0, 1.0), _M1)
    return np.power((_C1 + _C2 * y) / (1.0 + _C3 * y), _M2).astype(np.float32)


def pq_decode(signal: np.ndarray) -> np.ndarray:
    """PQ signal in [0,1] -> cd/m2 (inverse of :func:`pq_encode`). Shape: any; float32."""
    e = np.power(np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0), 1.0 / _M2)
    return (10000.0 * np.power(np.maximum(e - _C1, 0.0) / (_C2 - _C3 * e), 1.0 / _M1)).astype(np.float32)


def hlg_oetf(e: np.ndarray) -> np.ndarray:
    """BT.2100 HLG OETF: scene-linear E in [0,1] -> signal in [0,1]. Shape: any; float32."""
    e = np.clip(np.asarray(e, dtype=np.float64), 0.0, 1.0)
    low = np.sqrt(3.0 * e)
    high = _HA * np.log(np.maximum(12.0 * e - _HB, 1e-12)) + _HC
    return np.where(e <= 1.0 / 12.0, low, high).astype(np.float32)


def hlg_inverse_oetf(s: np.ndarray) -> np.ndarray:
    """HLG signal in [0,1] -> scene-linear E in [0,1]. Shape: any; float32."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return np.where(s <= 0.5, s * s / 3.0, (np.exp((s - _HC) / _HA) + _HB) / 12.0).astype(np.float32)


#: Scene-linear HLG value of hdrlift's 1.0 (SDR white): the E whose signal is 0.75 (BT.2408 reference white).
HLG_WHITE = float(hlg_inverse_oetf(np.float32(0.75)))


# ---------------------------------------------------------------------------------------------- ICC in
def _s15(b: bytes) -> float:
    return int.from_bytes(b, "big", signed=True) / 65536.0


def _icc_tags(data: bytes) -> dict[bytes, bytes]:
    n = int.from_bytes(data[128:132], "big")
    tags = {}
    for i in range(min(n, 200)):
        off = 132 + 12 * i
        sig, o, size = data[off : off + 4], int.from_bytes(data[off + 4 : off + 8], "big"), int.from_bytes(
            data[off + 8 : off + 12], "big")
        tags[sig] = data[o : o + size]
    return tags


def _trc(tag: bytes) -> ToneCurve | None:
    """A numpy function for an ICC ``curv`` / ``para`` tone curve (encoded -> linear), or None."""
    kind = tag[:4]
    if kind == b"curv":
        n = int.from_bytes(tag[8:12], "big")
        if n == 0:
            return lambda v: v
        if n == 1:
            g = int.from_bytes(tag[12:14], "big") / 256.0
            return lambda v: np.power(np.clip(v, 0, 1), g)
        table = np.frombuffer(tag[12 : 12 + 2 * n], ">u2").astype(np.float32) / 65535.0
        xs = np.linspace(0.0, 1.0, n, dtype=np.float32)
        return lambda v: np.interp(np.clip(v, 0, 1), xs, table).astype(np.float32)
    if kind == b"para":
        ftype = int.from_bytes(tag[8:10], "big")
        p = [_s15(tag[12 + 4 * i : 16 + 4 * i]) for i in range({0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(ftype, 0))]
        if not p:
            return None
        g = p[0]
        a, b, c, d, e, f = (p + [1.0, 0.0, 0.0, 0.0, 0.0, 0.0])[1:7] if ftype != 0 else (1, 0, 0, 0, 0, 0)
        if ftype == 1:
            return lambda v: np.where(v >= -b / a, np.power(np.maximum(a * v + b, 0), g), 0.0).astype(np.float32)
        if ftype == 2:
            return lambda v: np.where(v >= -b / a, np.power(np.maximum(a * v + b, 0), g) + c, c).astype(np.float32)
        if ftype in (3, 4):
            e_, f_ = (e, f) if ftype == 4 else (0.0, 0.0)
            return lambda v: np.where(v >= d, np.power(np.maximum(a * v + b, 0), g) + e_, c * v + f_).astype(
                np.float32)
        return lambda v: np.power(np.clip(v, 0, 1), g).astype(np.float32)
    return None


def icc_description(data: bytes) -> str:
    """The profile's description (``desc`` tag), or '' when it cannot be read."""
    try:
        from PIL import ImageCms

        prof = ImageCms.ImageCmsProfile(io.BytesIO(data))
        return (ImageCms.getProfileDescription(prof) or "").strip()
    except Exception:
        return ""


def is_srgb_profile(data: bytes) -> bool:
    """True when the profile's primaries are Rec.709 and its curve is (close to) the sRGB curve."""
    try:
        m, trc = icc_matrix_trc(data)
    except ValueError:
        return False
    ref = rgb_to_xyz_matrix(PRIMARIES["rec709"])
    ref = adaptation_matrix(_xy_to_xyz(0.3127, 0.3290), np.array([0.9642, 1.0, 0.8249])) @ ref
    if np.max(np.abs(m - ref)) > 3e-3:
        return False
    v = np.linspace(0, 1, 33, dtype=np.float32)
    return bool(np.max(np.abs(trc(v) - srgb_to_linear(v))) < 4e-3)


def icc_matrix_trc(data: bytes) -> tuple[np.ndarray, ToneCurve]:
    """(3x3 RGB -> PCS XYZ D50 matrix, tone curve) of a matrix/TRC RGB display profile; ValueError otherwise."""
    if len(data) < 132 or data[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    if data[16:20] != b"RGB ":
        raise ValueError(f"profile colour space is {data[16:20].decode('latin-1').strip()!r}, not RGB")
    tags = _icc_tags(data)
    cols = []
    for t in (b"rXYZ", b"gXYZ", b"bXYZ"):
        if t not in tags or tags[t][:4] != b"XYZ ":
            raise ValueError("profile is not a matrix/TRC profile")
        x = tags[t]
        cols.append([_s15(x[8:12]), _s15(x[12:16]), _s15(x[16:20])])
    trc = _trc(tags.get(b"rTRC", b"")) if b"rTRC" in tags else None
    if trc is None:
        raise ValueError("profile has no usable tone curve")
    return np.array(cols, dtype=np.float64).T, trc


def icc_to_srgb(path: str, arr: np.ndarray, icc: bytes, bit_depth: int) -> np.ndarray:
    """Convert an image with an embedded ICC profile to sRGB-encoded values.

    Shape: (H, W, 3) or (H, W, 4) (alpha untouched), values in [0,1] encoded per ``icc``; returns the
    same shape sRGB-encoded in [0,1]. sRGB profiles are a no-op. Out-of-gamut colours are clipped
    (relative colorimetric). On a profile that cannot be used, one warning names the file and the
    values are returned unchanged (read as sRGB).
    """
    if is_srgb_profile(icc):
        return arr
    if icc[16:20] == b"GRAY":  # neutral: its tone curve is within a few code values of sRGB's; kept as is
        return arr
    try:
        m, trc = icc_matrix_trc(icc)
    except ValueError as e:
        return _lcms_to_srgb(path, arr, icc, bit_depth, str(e))
    d50_to_d65 = adaptation_matrix(np.array([0.9642, 1.0, 0.8249]), _xy_to_xyz(0.3127, 0.3290))
    to709 = np.linalg.inv(rgb_to_xyz_matrix(PRIMARIES["rec709"])) @ d50_to_d65 @ m
    out = np.asarray(arr, dtype=np.float32).copy()
    lin = trc(out[..., :3]).astype(np.float32) @ to709.astype(np.float32).T
    out[..., :3] = linear_to_srgb(lin)
    return out


def _lcms_to_srgb(path: str, arr: np.ndarray, icc: bytes, bit_depth: int, why: str) -> np.ndarray:
    """LUT-based / other RGB profiles through LittleCMS (8-bit precision); unchanged with a warning otherwise."""
    if arr.shape[-1] < 3:
        return arr
    try:
        from PIL import Image, ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        rgb8 = np.round(np.clip(arr[..., :3], 0, 1) * 255).astype(np.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = ImageCms.profileToProfile(Image.fromarray(rgb8, "RGB"), src, dst, outputMode="RGB")
    except Exception as e:
        warn(f"{path}: embedded ICC profile cannot be used ({why}; {str(e).splitlines()[0] if str(e) else e}); "
             "read as sRGB")
        return arr
    out = np.asarray(arr, dtype=np.float32).copy()
    out[..., :3] = np.asarray(im).astype(np.float32) / 255.0
    if bit_depth > 8:
        warn(f"{path}: {bit_depth}-bit image with a LUT ICC profile converted at 8-bit precision")
    return out


def exif_colour_space(exif: Image.Exif) -> str | None:
    """EXIF colour space: 'adobe-rgb' (ColorSpace 0xFFFF + interoperability index R03), 'uncalibrated'
    (0xFFFF without it: unknown), or None (sRGB, or no tag)."""
    try:
        cs = exif.get_ifd(0x8769).get(0xA001)
    except Exception:
        return None
    if cs != 0xFFFF:
        return None
    try:
        interop = exif.get_ifd(0xA005).get(0x0001)
        if isinstance(interop, bytes):
            interop = interop.decode("latin-1")
    except Exception:
        interop = None
    return "adobe-rgb" if interop is not None and str(interop).strip("\x00 ") == "R03" else "uncalibrated"


def adobe_rgb_to_srgb(arr: np.ndarray) -> np.ndarray:
    """Adobe RGB (1998)-encoded (gamma 563/256) -> sRGB-encoded. Shape: (H, W, 3|4); alpha untouched."""
    out = np.asarray(arr, dtype=np.float32).copy()
    lin = np.power(np.clip(out[..., :3], 0, 1), 563.0 / 256.0)
    out[..., :3] = linear_to_srgb(lin @ conversion_matrix("adobe-rgb").astype(np.float32).T)
    return out


def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS built-in) for files that should say they hold sRGB."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


__all__ = [
    "HLG_WHITE",
    "PRIMARIES",
    "REFERENCE_WHITE_NITS",
    "adobe_rgb_to_srgb",
    "conversion_matrix",
    "convert_linear",
    "exif_colour_space",
    "hlg_inverse_oetf",
    "hlg_oetf",
    "icc_description",
    "icc_to_srgb",
    "linear_to_srgb",
    "pq_decode",
    "pq_encode",
    "rgb_to_xyz_matrix",
    "same_primaries",
    "srgb_icc_profile",
    "srgb_to_linear",
    "warn",
]
