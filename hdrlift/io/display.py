"""Display-ready HDR files: AVIF (PQ or HLG), 16-bit PNG with cICP (PQ or HLG), Ultra HDR JPEG.

Input is linear HDR with Rec.709 primaries and 1.0 = SDR (diffuse) white. The encodings put 1.0 at
the ITU-R BT.2408 HDR reference white:

* **PQ** (SMPTE ST 2084, BT.2100): 1.0 -> ``white_nits`` (203 cd/m2); values above ``peak_nits``
  (default 10000 cd/m2, PQ's limit, i.e. 49x white) are clipped. BT.2020 primaries.
* **HLG** (BT.2100): 1.0 -> HLG signal 0.75 (BT.2408); the scene-linear HLG range ends at
  ``1 / HLG_WHITE`` = 3.77x white, above which values are clipped. BT.2020 primaries.

AVIF is written through the optional ``imagecodecs`` (libavif; ``pip install hdrlift[display]``),
10 or 12 bit, 4:4:4, with the CICP code points in the file's ``colr nclx`` box. PNG is written by
hdrlift's own 16-bit encoder with a ``cICP`` chunk (PNG 3rd edition), which Chromium honours.
The Ultra HDR writer lives in :mod:`hdrlift.io.gainmap` (re-exported here as ``write_uhdr``).
"""

from __future__ import annotations

import types

import numpy as np

from hdrlift.errors import ImageWriteError

from ._common import PathLike, to_hwc
from .atomic import atomic_output
from .colour import HLG_WHITE, REFERENCE_WHITE_NITS, conversion_matrix, hlg_oetf, pq_encode
from .gainmap import write_uhdr

#: ITU-T H.273 code points: BT.2020 primaries, PQ (16) / HLG (18) transfer.
CICP_PRIMARIES_BT2020 = 9
CICP_TRANSFER = {"pq": 16, "hlg": 18}


def _imagecodecs(path: str, what: str) -> types.ModuleType:
    try:
        import imagecodecs
    except ImportError:
        raise ImageWriteError(
            f"{path}: writing {what} needs the optional 'imagecodecs' package (pip install hdrlift[display])"
        ) from None
    return imagecodecs


def _rgb(path: str, hdr: np.ndarray) -> np.ndarray:
    img = to_hwc(np.asarray(hdr, dtype=np.float32))
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[2] not in (3, 4):
        raise ImageWriteError(f"{path}: expected 3 channels, got {img.shape[2]}")
    img = img[:, :, :3]
    if not np.isfinite(img).all():
        raise ImageWriteError(f"{path}: image contains NaN/Inf")
    return np.maximum(img, 0.0)


def encode_signal(
    hdr_lin: np.ndarray,
    transfer: str,
    *,
    white_nits: float = REFERENCE_WHITE_NITS,
    peak_nits: float | None = None,
    path: str = "<array>",
) -> np.ndarray:
    """Linear Rec.709 HDR -> BT.2100 (BT.2020 primaries) PQ or HLG signal in [0,1].

    Shape: (H, W, 3) linear HDR, 1.0 = SDR white -> (H, W, 3) float32 non-linear signal.
    PQ: ``1.0 -> white_nits``, clipped at ``peak_nits`` (None = 10000). HLG: ``1.0 -> 0.75``.
    """
    if transfer not in CICP_TRANSFER:
        raise ImageWriteError(f"{path}: unknown transfer {transfer!r} (use pq or hlg)")
    img = np.maximum(_rgb(path, hdr_lin) @ conversion_matrix("rec709", "rec2020").astype(np.float32).T, 0.0)
    if transfer == "pq":
        peak = 10000.0 if peak_nits is None else float(peak_nits)
        return pq_encode(np.minimum(img * float(white_nits), peak))
    scale = HLG_WHITE
    if peak_nits is not None:  # an explicit peak below HLG's range clips there
        img = np.minimum(img, float(peak_nits) / float(white_nits))
    return hlg_oetf(img * scale)


def write_avif(
    path: PathLike,
    hdr_lin: np.ndarray,
    *,
    transfer: str = "pq",
    bits: int = 10,
    overwrite: bool = False,
    white_nits: float = REFERENCE_WHITE_NITS,
    peak_nits: float | None = None,
    quality: int = 90,
) -> None:
    """Write a BT.2100 AVIF (PQ or HLG, 10 or 12 bit, 4:4:4). Shape: (H, W, 3) linear Rec.709 HDR."""
    p = str(path)
    if bits not in (10, 12):
        raise ImageWriteError(f"{p}: AVIF bit depth must be 10 or 12, got {bits}")
    ic = _imagecodecs(p, "AVIF")
    signal = encode_signal(hdr_lin, transfer, white_nits=white_nits, peak_nits=peak_nits, path=p)
    code = np.round(signal * float((1 << bits) - 1)).astype(np.uint16)
    A = ic.AVIF
    tc = A.TRANSFER_CHARACTERISTICS.PQ if transfer == "pq" else A.TRANSFER_CHARACTERISTICS.HLG
    with atomic_output(p, overwrite=overwrite) as tmp:
        data = ic.avif_encode(
            code,
            int(quality),
            bitspersample=bits,
            pixelformat=A.PIXEL_FORMAT.YUV444,
            primaries=A.COLOR_PRIMARIES.BT2020,
            transfer=tc,
            matrix=A.MATRIX_COEFFICIENTS.BT2020_NCL,
        )
        with open(tmp, "wb") as f:
            f.write(data)


def write_avif_pq(path: PathLike, hdr_lin: np.ndarray, *, overwrite: bool = False,
                  white_nits: float = REFERENCE_WHITE_NITS, peak_nits: float | None = None,
                  quality: int = 90) -> None:
    """10-bit BT.2100 PQ AVIF (:func:`write_avif` with ``transfer="pq"``). Shape: (H, W, 3) linear HDR."""
    write_avif(path, hdr_lin, transfer="pq", overwrite=overwrite, white_nits=white_nits,
               peak_nits=peak_nits, quality=quality)


def write_png_hdr(
    path: PathLike,
    hdr_lin: np.ndarray,
    *,
    transfer: str = "pq",
    overwrite: bool = False,
    white_nits: float = REFERENCE_WHITE_NITS,
    peak_nits: float | None = None,
    text: dict[str, str] | None = None,
) -> None:
    """Write a 16-bit PNG holding BT.2100 PQ or HLG with a cICP chunk (BT.2020, full range).

    Shape: (H, W, 3) linear Rec.709 HDR, 1.0 = SDR white. ``text``: extra tEXt chunks.
    """
    from .png16 import write_png16

    p = str(path)
    signal = encode_signal(hdr_lin, transfer, white_nits=white_nits, peak_nits=peak_nits, path=p)
    code = np.round(signal * 65535.0).astype(np.uint16)
    write_png16(p, code, overwrite=overwrite, text=text,
                cicp=(CICP_PRIMARIES_BT2020, CICP_TRANSFER[transfer], 0, 1))


__all__ = ["encode_signal", "pq_encode", "write_avif", "write_avif_pq", "write_png_hdr", "write_uhdr"]
