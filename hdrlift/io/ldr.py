"""LDR files (JPEG, PNG, TIFF, BMP, WebP) via Pillow, tifffile and the 16-bit PNG codec.

Values come back sRGB-encoded in [0,1] (8-bit / 255, 16-bit / 65535), EXIF orientation applied.
Float TIFFs are linear HDR (returned unscaled).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from hdrlift.errors import ImageReadError, ImageSizeError, ImageWriteError

from ._common import PathLike, apply_orientation, check_pixels, gray_to_rgb, read_bytes, to_hwc
from .atomic import atomic_output
from .png16 import decode_png16, png_header

if TYPE_CHECKING:
    from PIL import Image

_PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "TIFF": "tiff", "BMP": "bmp", "WEBP": "webp", "MPO": "jpeg"}


def _unit(codes: np.ndarray, full: float) -> np.ndarray:
    """Integer codes -> float32 in [0, 1] with one float copy (divided in place: no second temporary)."""
    out = codes.astype(np.float32)
    out /= np.float32(full)
    return out


def _open_pil(path: str) -> Image.Image:
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        raise ImageSizeError(
            f"{path}: image is too large (over Pillow's decompression-bomb limit of "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels)"
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (format not recognised)") from None
    except OSError as e:
        raise ImageReadError(f"{path}: cannot open image ({str(e).splitlines()[0]})") from None


def _orientation(im: Image.Image) -> int:
    try:
        o = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1
    return o if 1 <= o <= 8 else 1


def read_pillow(path: str, *, alpha: str, max_pixels: int | None) -> tuple[np.ndarray, dict]:
    """Decode with Pillow -> float32 HxWx{3,4} sRGB in [0,1] plus metadata."""
    im = _open_pil(path)
    with im:
        fmt = _PIL_FORMATS.get(im.format or "", (im.format or "unknown").lower())
        w, h = im.size
        check_pixels(path, w, h, max_pixels)
        orientation = _orientation(im)
        try:
            im.load()
        except OSError as e:
            raise ImageReadError(
                f"{path}: truncated or corrupt {fmt.upper()} file ({str(e).splitlines()[0]})"
            ) from None
        except Exception as e:  # decoder errors of all kinds
            raise ImageReadError(
                f"{path}: cannot decode {fmt.upper()} file ({str(e).splitlines()[0]})"
            ) from None
        mode = im.mode
        depth = 8
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            arr, depth = _unit(np.asarray(im), 65535.0), 16
        elif mode == "I":  # 16-bit gray PNG decoded as 32-bit int
            arr, depth = _unit(np.asarray(im), 65535.0), 16
        elif mode == "F":
            raise ImageReadError(f"{path}: float image in a {fmt.upper()} file is not supported")
        else:
            if mode == "P":
                im2 = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode in ("1", "L"):
                im2 = im.convert("L")
            elif mode in ("LA", "La", "PA"):
                im2 = im.convert("LA")
            elif mode in ("RGBA", "RGBa"):
                im2 = im.convert("RGBA")
            else:  # RGB, CMYK, YCbCr, LAB, HSV, RGBX ...
                im2 = im.convert("RGB")
            arr = _unit(np.asarray(im2), 255.0)
    arr, has_alpha = gray_to_rgb(arr, alpha)
    arr = apply_orientation(arr, orientation)
    return arr, {
        "format": fmt,
        "bit_depth": depth,
        "has_alpha": has_alpha,
        "orientation": orientation,
        "is_hdr": False,
    }


def read_png(path: str, *, alpha: str, max_pixels: int | None) -> tuple[np.ndarray, dict]:
    """8-bit PNG via Pillow; 16-bit PNG via the 16-bit codec (Pillow drops RGB to 8 bit)."""
    data = read_bytes(path)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return read_pillow(path, alpha=alpha, max_pixels=max_pixels)  # misnamed file: Pillow sniffs
    w, h, depth, _ctype, _il = png_header(data, path)
    if depth != 16:
        return read_pillow(path, alpha=alpha, max_pixels=max_pixels)
    check_pixels(path, w, h, max_pixels)
    im = _open_pil(path)
    with im:
        orientation = _orientation(im)
    arr16 = decode_png16(data, path)
    arr, has_alpha = gray_to_rgb(_unit(arr16, 65535.0), alpha)
    arr = apply_orientation(arr, orientation)
    return arr, {
        "format": "png",
        "bit_depth": 16,
        "has_alpha": has_alpha,
        "orientation": orientation,
        "is_hdr": False,
    }


def _to_yxs(path: str, arr: np.ndarray, axes: str) -> np.ndarray:
    """A TIFF page's samples in (rows, columns, samples) order, whatever its planar configuration.

    tifffile names the axes (``YXS`` contiguous, ``SYX`` planar, ``YX`` gray); singleton extra axes are
    dropped; anything else (stacks of planes, volumes) is refused in one line.
    """
    if arr.ndim != len(axes):
        raise ImageReadError(f"{path}: unsupported TIFF layout (axes {axes}, shape {arr.shape})")
    for i in reversed(range(len(axes))):
        if axes[i] not in "YXS" and arr.shape[i] == 1:
            arr = arr.take(0, axis=i)
            axes = axes[:i] + axes[i + 1:]
    if axes not in ("YX", "YXS", "SYX"):
        raise ImageReadError(f"{path}: unsupported TIFF layout (axes {axes}, shape {arr.shape})")
    return np.moveaxis(arr, 0, -1) if axes == "SYX" else arr


def read_tiff(path: str, *, alpha: str, max_pixels: int | None) -> tuple[np.ndarray, dict]:
    """8-bit TIFF via Pillow (palette, CMYK, ...); 16-bit and float TIFF via tifffile."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            dtype = np.dtype(page.dtype) if page.dtype is not None else np.dtype(np.uint8)
            if dtype == np.uint8 or page.bitspersample < 8:
                simple = True
            else:
                simple = False
                check_pixels(path, int(page.imagewidth), int(page.imagelength), max_pixels)
                photometric = int(page.photometric)
                tag = page.tags.get(274)  # Orientation
                orientation = int(tag.value) if tag is not None and 1 <= int(tag.value) <= 8 else 1
                arr = _to_yxs(path, page.asarray(), str(page.axes))
    except (ImageReadError, ImageSizeError):
        raise
    except Exception as e:
        raise ImageReadError(f"{path}: not a readable TIFF file ({str(e).splitlines()[0]})") from None
    if simple:
        return read_pillow(path, alpha=alpha, max_pixels=max_pixels)
    arr = to_hwc(np.asarray(arr))
    if photometric == 0:  # MINISWHITE
        arr = (np.iinfo(arr.dtype).max if arr.dtype.kind == "u" else 1.0) - arr
    is_float = arr.dtype.kind == "f"
    if is_float:
        out = arr.astype(np.float32)
        depth = 8 * arr.dtype.itemsize
    elif arr.dtype == np.uint16:
        out, depth = _unit(arr, 65535.0), 16
    elif arr.dtype.kind in "ui":
        out, depth = _unit(arr, float(np.iinfo(arr.dtype).max)), 8 * arr.dtype.itemsize
    else:
        raise ImageReadError(f"{path}: unsupported TIFF sample type {arr.dtype}")
    if photometric == 5 and out.shape[2] >= 4:  # SEPARATED (CMYK), naive conversion
        k = 1.0 - out[:, :, 3:4]
        out = np.concatenate([(1.0 - out[:, :, :3]) * k, out[:, :, 4:5]], axis=2)
    elif photometric == 3:
        raise ImageReadError(f"{path}: 16-bit palette TIFF is not supported")
    if out.shape[2] > 4:
        out = out[:, :, :4]
    out, has_alpha = gray_to_rgb(out, alpha)
    out = apply_orientation(out, orientation)
    return out, {
        "format": "tiff",
        "bit_depth": depth,
        "has_alpha": has_alpha,
        "orientation": orientation,
        "is_hdr": is_float,
    }


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 unchanged; uint16 -> round(x/257); float in [0,1] -> round(clip(x,0,1)*255)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"cannot convert {img.dtype} to 8 bit")
    if not np.isfinite(img).all():
        raise ValueError("image contains NaN/Inf")
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_ldr8(
    path: PathLike, img: np.ndarray, *, fmt: str, overwrite: bool = False, quality: int = 95
) -> None:
    """Write an 8-bit JPEG/PNG/BMP/WebP/TIFF with Pillow, atomically.

    Shape: (H, W), (H, W, 1|3|4); sRGB-encoded values in [0,1] (float) or uint8/uint16.
    JPEG drops alpha.
    """
    from PIL import Image

    p = str(path)
    try:
        arr = to_uint8(img)
    except ValueError as e:
        raise ImageWriteError(f"{p}: {e}") from None
    arr = to_hwc(arr)
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.shape[2] == 2:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif arr.shape[2] == 4 and fmt == "JPEG":
        arr = arr[:, :, :3]
    elif arr.shape[2] not in (3, 4):
        raise ImageWriteError(f"{p}: cannot write {arr.shape[2]} channels")
    im = Image.fromarray(np.ascontiguousarray(arr))
    kw = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    with atomic_output(p, overwrite=overwrite) as tmp:
        im.save(tmp, format=fmt, **kw)


def write_tiff(path: PathLike, img: np.ndarray, *, overwrite: bool = False) -> None:
    """Write a TIFF with tifffile: float -> float32 (linear HDR), uint8/uint16 as is. Atomic.

    Shape: (H, W) or (H, W, C).
    """
    import tifffile

    p = str(path)
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ImageWriteError(f"{p}: image contains NaN/Inf")
    elif arr.dtype not in (np.uint8, np.uint16):
        raise ImageWriteError(f"{p}: cannot write {arr.dtype} to TIFF")
    arr = to_hwc(arr)
    photometric = "minisblack" if arr.shape[2] in (1, 2) else "rgb"
    extra = ["unassalpha"] if arr.shape[2] in (2, 4) else None
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
    with atomic_output(p, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, arr, photometric=photometric, extrasamples=extra, compression="zlib")


def peek_size(path: PathLike) -> tuple[int, int, int] | None:
    """(width, height, bits per sample) of an LDR file from its header, without decoding; ``None`` when
    the header cannot be read (the decoder then reports the problem)."""
    p = str(path)
    try:
        if p.lower().endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(p) as tf:
                page = tf.pages.first
                return int(page.imagewidth), int(page.imagelength), int(page.bitspersample)
        from PIL import Image

        with warnings.catch_warnings():  # a decompression bomb raises here: the decoder refuses it
            warnings.simplefilter("ignore")
            with Image.open(p) as im:
                w, h = im.size
                bits = 16 if im.mode.startswith("I") else 8
        if bits == 8 and p.lower().endswith(".png"):
            with open(p, "rb") as f:
                head = f.read(33)
            if len(head) >= 25 and head[24] == 16:
                bits = 16
        return int(w), int(h), bits
    except Exception:
        return None
