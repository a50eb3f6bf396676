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
        source = None
        chroma = meta.get("chromaticities")
        if chroma is not None and not meta.get("luminance_only"):
            from .colour import PRIMARIES, convert_linear, same_primaries

            if not same_primaries(chroma, PRIMARIES["rec709"]):
                img = convert_linear(img, chroma, "rec709")
                source = "exr:chromaticities " + " ".join(f"{v:.4g}" for v in chroma)
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
            colour_source=source,
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
        hdr_png = _read_png_hdr(p, alpha=alpha, max_pixels=max_pixels)
        if hdr_png is not None:
            img, meta = hdr_png
            img = finish_hdr(p, img, allow_nonfinite)
            return img, ImageInfo(p, "png", img.shape[1], img.shape[0], img.shape[2], 16, True,
                                  has_alpha=meta["has_alpha"], colour_source=meta["source"])
        img, meta = read_png(p, alpha=alpha, max_pixels=max_pixels)
    elif ext in (".tif", ".tiff"):
        img, meta = read_tiff(p, alpha=alpha, max_pixels=max_pixels)
    else:
        img, meta = read_pillow(p, alpha=alpha, max_pixels=max_pixels)
    source = None
    if meta["is_hdr"]:
        img = finish_hdr(p, img, allow_nonfinite)
    else:
        img, source = _manage_colour(p, img, meta["bit_depth"])
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
        colour_source=source,
    )
    return img, info


def _manage_colour(path: str, img: np.ndarray, bit_depth: int) -> tuple[np.ndarray, str | None]:
    """Convert an LDR image to sRGB per its embedded ICC profile or EXIF colour space (see hdrlift.io.colour).

    Shape: (H, W, 3|4) encoded values in [0,1] -> the same, sRGB-encoded.
    """
    from PIL import Image

    from . import colour

    try:
        with Image.open(path) as im:
            icc = im.info.get("icc_profile")
            exif = im.getexif() if icc is None else None
    except Exception:  # the decoder that read the pixels already reported real problems
        icc, exif = None, None
    if not icc and ext_of(path) in (".tif", ".tiff"):  # Pillow does not report it for 16-bit TIFFs
        try:
            import tifffile

            with tifffile.TiffFile(path) as tf:
                tag = tf.pages.first.tags.get(34675)  # InterColorProfile
                icc = bytes(tag.value) if tag is not None else None
        except Exception:
            icc = None
    if icc:
        if colour.is_srgb_profile(icc):
            return img, None
        out = colour.icc_to_srgb(path, img, icc, bit_depth)
        if out is img:
            return img, None
        return out, "icc:" + (colour.icc_description(icc) or "embedded profile")
    space = colour.exif_colour_space(exif) if exif is not None else None
    if space == "adobe-rgb":
        return colour.adobe_rgb_to_srgb(img), "exif:adobe-rgb"
    if space == "uncalibrated":
        colour.warn(f"{path}: EXIF colour space is 'uncalibrated' with no profile; read as sRGB")
    return img, None


def _read_png_hdr(path: str, *, alpha: str, max_pixels: int | None) -> tuple[np.ndarray, dict] | None:
    """A PNG that says it holds HDR -> (linear Rec.709 HxWx3|4, meta); None for an ordinary PNG.

    Honoured: hdrlift's tEXt ``hdrlift:encoding`` (``linear-rec709`` / ``ntire-gamma2.24``, scale from
    ``hdrlift:scale`` or the ``_alignratio.npy``) and cICP with PQ (16) or HLG (18) transfer and
    BT.709 (1), Display P3 (12) or BT.2020 (9) primaries.
    """
    from ._common import check_pixels, gray_to_rgb, read_bytes
    from .ntire import ENCODING_KEY, ENCODINGS, SCALE_KEY, alignratio_path
    from .png16 import decode_png16, png_header, png_metadata

    data = read_bytes(path)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    text, cicp = png_metadata(data)
    enc = text.get(ENCODING_KEY)
    hdr_cicp = cicp is not None and cicp[1] in (16, 18)
    if enc not in ENCODINGS.values() and not hdr_cicp:
        return None
    w, h, depth, _ct, _il = png_header(data, path)
    check_pixels(path, w, h, max_pixels)
    if depth != 16:
        raise ImageReadError(f"{path}: HDR PNG must be 16-bit, found {depth}-bit")
    code, has_alpha = gray_to_rgb(decode_png16(data, path).astype(np.float32), alpha)
    rgb = code[..., :3]
    if enc is not None and enc in ENCODINGS.values():
        try:
            scale = float(text[SCALE_KEY]) if SCALE_KEY in text else float(np.load(alignratio_path(path)))
        except (OSError, ValueError) as e:
            raise ImageReadError(f"{path}: HDR PNG without a usable scale ({e})") from None
        if not np.isfinite(scale) or scale <= 0:
            raise ImageReadError(f"{path}: invalid HDR PNG scale {scale}")
        lin = rgb / np.float32(scale)
        if enc == ENCODINGS["ntire"]:
            lin = np.power(lin, np.float32(2.24))
        source = "png:" + enc
    else:
        from .colour import HLG_WHITE, REFERENCE_WHITE_NITS, convert_linear, hlg_inverse_oetf, pq_decode

        assert cicp is not None  # hdr_cicp
        prim = {1: "rec709", 9: "rec2020", 12: "display-p3"}.get(int(cicp[0]))
        if prim is None:
            raise ImageReadError(f"{path}: cICP colour primaries {cicp[0]} not supported (1, 9, 12)")
        sig = rgb / np.float32(65535.0)
        if cicp[1] == 16:
            lin = pq_decode(sig) / np.float32(REFERENCE_WHITE_NITS)
        else:
            lin = hlg_inverse_oetf(sig) / np.float32(HLG_WHITE)
        if prim != "rec709":
            lin = convert_linear(lin, prim, "rec709")
        source = f"png:cicp {cicp[0]}/{cicp[1]}"
    out = np.concatenate([lin, code[..., 3:] / 65535.0], axis=2) if has_alpha and alpha == "keep" else lin
    return np.ascontiguousarray(out, dtype=np.float32), {"has_alpha": has_alpha, "source": source}


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
    * Colour is managed (:mod:`hdrlift.io.colour`): embedded ICC profiles, EXIF Adobe RGB and EXR
      ``chromaticities`` are converted to sRGB / Rec.709; HDR PNGs (hdrlift's ``hdrlift:encoding``
      chunk, cICP PQ/HLG) come back as linear HDR. ``read_image_info(...).colour_source`` says what
      was converted; what cannot be honoured is a one-line warning on stderr.
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
    "avif-hlg",
    "png-pq",
    "png-hlg",
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
    quality: int | None = None,
    **kw: Any,
) -> None:
    """Write ``img`` atomically, the format chosen by extension (or ``format``).

    Shape: (H, W), (H, W, 1|3|4).

    * ``.exr`` linear HDR, half (``exr_dtype``) or float (``compression=``, ``attributes=``,
      ``white_luminance=`` go to :func:`hdrlift.io.write_exr`); ``.hdr`` Radiance RGBE (RLE).
    * ``.png``: 16-bit if ``img`` is uint16 or ``bits=16``, else 8-bit (float in [0,1], clipped).
    * ``.jpg``/``.webp``/``.bmp``: 8-bit (``quality``, default 95; Ultra HDR: chosen per image).
      ``.tif``: float -> float32 (HDR), ints as is.
    * ``.uhdr.jpg`` (or ``format="uhdr"``): Ultra HDR gain-map JPEG (``sdr=`` the SDR base photo,
      ``max_boost=``, ``peak_nits=``); ``.avif`` / ``format="avif"``: 10-bit PQ AVIF,
      ``"avif-hlg"``: HLG (``bits=12`` for 12 bit); ``"png-pq"`` / ``"png-hlg"``: 16-bit PNG with cICP.
      AVIF needs the optional ``imagecodecs``. ``format="ntire"``: 16-bit PNG + alignratio;
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

        write_png16(p, arr, overwrite=overwrite, **kw)
    elif fmt in ("png", "jpeg", "bmp", "webp"):
        from .ldr import write_ldr8

        write_ldr8(p, arr, fmt="JPEG" if fmt == "jpeg" else fmt.upper(), overwrite=overwrite,
                   quality=95 if quality is None else quality)
    elif fmt == "tiff":
        from .ldr import to_uint8, write_tiff

        write_tiff(p, to_uint8(arr) if bits == 8 else arr, overwrite=overwrite)
    elif fmt == "ntire":
        from .ntire import write_ntire

        write_ntire(p, arr, overwrite=overwrite, **kw)
    elif fmt == "preview":
        from .preview import write_preview

        write_preview(p, arr, overwrite=overwrite, quality=95 if quality is None else quality, **kw)
    elif fmt == "uhdr":
        from .gainmap import write_uhdr

        write_uhdr(p, arr, overwrite=overwrite, quality=quality, **kw)
    elif fmt in ("png-pq", "png-hlg"):
        from .display import write_png_hdr

        write_png_hdr(p, arr, transfer=fmt[4:], overwrite=overwrite, **kw)
    else:
        from .display import write_avif

        write_avif(p, arr, transfer="hlg" if fmt == "avif-hlg" else "pq", bits=bits or 10,
                   overwrite=overwrite, **kw)


__all__ = ["ImageInfo", "is_hdr_path", "read_image", "read_image_info", "write_image"]


def read_photo(path: PathLike, *, max_pixels: int | None = None) -> np.ndarray:
    """An LDR photo for reconstruction; linear HDR files (EXR, Radiance .hdr, float TIFF, HDR PNG) are
    refused in one line instead of being clipped to [0, 1] and read as sRGB (EXR and .hdr by their
    extension, before decoding).

    Shape: (H, W, 3) float32 sRGB-encoded LDR in [0, 1].
    """
    from ._common import HDR_EXTENSIONS, ext_of

    hint = ("predict expects an LDR photo (8/16-bit JPEG, PNG, TIFF...); to make one from an HDR, "
            "use 'hdrlift degrade'")
    if ext_of(path) in HDR_EXTENSIONS:
        raise ImageReadError(f"{path}: already linear HDR ({ext_of(path)}); {hint}")
    img, info = read_image_info(path, max_pixels=max_pixels)
    if info.is_hdr:
        peak = float(np.max(img)) if img.size else 0.0
        raise ImageReadError(f"{path}: already linear HDR ({info.format}, peak {peak:.3g}); {hint}")
    return img
