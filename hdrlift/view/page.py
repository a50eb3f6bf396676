"""Build the offline viewer page: one HTML file with the script, the style and the data inside.

The page shows the HDR result from its **linear values** (half floats, zlib-compressed, base64 in a JSON
block; the browser inflates them with ``DecompressionStream`` and draws on a 2D canvas), so the exposure
slider reveals what a tone-mapped 8-bit preview hides. Nothing is fetched: no CDN, no server.

numpy only (no torch): this module reads the files with :mod:`hdrlift.io`.
"""

from __future__ import annotations

import base64
import html
import io as _bytesio
import json
import os
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hdrlift.errors import HdrliftError, ImageReadError, ImageWriteError
from hdrlift.view.limits import VIEW_MAX_SIDE

#: Width of the 8-bit thumbnails of a report's overview table.
THUMB_WIDTH = 200
#: An 8-bit photo value at or above this counts as clipped.
CLIP_CODE = 254
HDR_SUFFIXES = (".exr", ".hdr", ".pic", ".rgbe", ".tif", ".tiff")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
_ASSETS = ("viewer.html", "viewer.css", "viewer.js")


@dataclass
class ViewItem:
    """One result (and its photo) as embedded in a page.

    ``hdr``: (h, w, 3) float16 linear HDR, 1.0 = the photo's clipping level (down-scaled to the page's
    max side). ``photo``: (h, w, 3) uint8 sRGB-encoded LDR of the same size, or None.
    ``width``/``height``: the original size of the result. ``figures``: from the full-size data.
    """

    name: str
    result: str
    photo_path: str | None
    width: int
    height: int
    hdr: np.ndarray
    photo: np.ndarray | None
    figures: dict[str, float | None]
    uhdr: bytes | None = None
    thumbs: dict[str, str] = field(default_factory=dict)


def srgb_decode_u8() -> np.ndarray:
    """Table (256,) float32: 8-bit sRGB code -> linear [0, 1] (IEC 61966-2-1)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _srgb_encode_u8(lin: np.ndarray) -> np.ndarray:
    from hdrlift.io import srgb_encode

    return np.round(srgb_encode(lin) * 255.0).astype(np.uint8)


def block_factor(h: int, w: int, max_side: int) -> int:
    """Smallest integer k with max(h, w) / k <= max_side (1 = keep the size)."""
    if max_side <= 0:
        return 1
    return max(1, -(-max(h, w) // max_side))


def downscale(img: np.ndarray, k: int) -> np.ndarray:
    """Area average over k x k blocks (rows/columns past the last full block are dropped).

    Shape: (H, W, C) -> (H // k, W // k, C); call it on linear values (averaging sRGB codes is wrong).
    """
    if k <= 1:
        return img
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    return img[:h, :w].reshape(h // k, k, w // k, k, img.shape[2]).mean(axis=(1, 3), dtype=np.float32)


def image_figures(hdr: np.ndarray, photo: np.ndarray | None) -> dict[str, float | None]:
    """Figures shown beside a result.

    Shape: ``hdr`` (H, W, 3) float linear HDR (1.0 = clipping level); ``photo`` (H, W, 3) uint8
    sRGB-encoded LDR or None.

    * ``above_clip_pct``: % of pixels whose brightest channel is above 1.0 (reconstructed highlights);
    * ``peak_stops`` / ``p999_stops``: log2 of the maximum / 99.9th percentile of the brightest channel;
    * ``median_stops``: log2 of the median luminance (Rec.709);
    * ``photo_clipped_pct``: % of photo pixels with a channel at 254 or more (None without a photo);
    * ``clipped_gain_stops``: mean log2 of the result's brightest channel over those pixels, i.e. how far
      above the clipping level the result puts what the photo burnt out (None without clipped pixels).
    """
    m = hdr[..., :3].max(axis=-1)
    lum = hdr[..., 0] * 0.2126 + hdr[..., 1] * 0.7152 + hdr[..., 2] * 0.0722

    def stops(v: float) -> float | None:
        return round(float(np.log2(v)), 3) if v > 0 else None

    fig: dict[str, float | None] = {
        "above_clip_pct": round(100.0 * float((m > 1.0).mean()), 4),
        "peak_stops": stops(float(m.max())),
        "p999_stops": stops(float(np.percentile(m, 99.9))),
        "median_stops": stops(float(np.median(lum))),
        "photo_clipped_pct": None,
        "clipped_gain_stops": None,
    }
    if photo is not None:
        clipped = photo.max(axis=-1) >= CLIP_CODE
        fig["photo_clipped_pct"] = round(100.0 * float(clipped.mean()), 4)
        if clipped.any():
            fig["clipped_gain_stops"] = round(float(np.log2(np.maximum(m[clipped], 1e-6)).mean()), 3)
    return fig


def read_result(path: str | os.PathLike[str]) -> np.ndarray:
    """A linear HDR file (.exr, .hdr, float .tif) -> (H, W, 3) float32; LDR files are refused."""
    import hdrlift.io as hio

    p = os.fspath(path)
    if Path(p).suffix.lower() not in HDR_SUFFIXES:
        raise ImageReadError(f"{p}: not an HDR result (give the .exr, .hdr or float .tif that 'hdrlift predict' "
                             "wrote; the photo goes second)")
    img, info = hio.read_image_info(p)
    if not info.is_hdr:
        raise ImageReadError(f"{p}: an 8/16-bit image, not linear HDR (give the .exr/.hdr result)")
    return img[..., :3]


def read_photo(path: str | os.PathLike[str], shape: tuple[int, int], result: str) -> np.ndarray:
    """The LDR photo -> (H, W, 3) uint8 sRGB codes; it must have the result's size."""
    import hdrlift.io as hio

    p = os.fspath(path)
    img, info = hio.read_image_info(p)
    if info.is_hdr:
        raise ImageReadError(f"{p}: linear HDR, not the photo (the photo is the 8-bit JPEG/PNG given to predict)")
    if img.shape[:2] != shape:
        raise ImageReadError(f"{p}: photo is {img.shape[1]}x{img.shape[0]} but {result} is "
                             f"{shape[1]}x{shape[0]}; give the photo the result was made from")
    return np.round(np.clip(img[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)


def find_photo(result: Path, folders: list[Path]) -> Path | None:
    """The photo of ``result``: same name up to the first dot, an LDR extension, in one of ``folders``."""
    stem = result.name.split(".")[0]
    for d in folders:
        for suf in PHOTO_SUFFIXES:
            for cand in (d / (stem + suf), d / (stem + suf.upper())):
                if cand.is_file() and cand.resolve() != result.resolve():
                    return cand
    return None


def find_uhdr(result: Path) -> Path | None:
    """``<stem>.uhdr.jpg`` beside the result (what ``predict --format uhdr`` writes), if present."""
    stem = result.name.split(".")[0]
    cand = result.with_name(stem + ".uhdr.jpg")
    return cand if cand.is_file() else None


def _thumb(rgb8: np.ndarray) -> str:
    from PIL import Image

    im = Image.fromarray(rgb8)
    h = max(1, round(im.height * THUMB_WIDTH / im.width))
    im = im.resize((THUMB_WIDTH, h), Image.Resampling.LANCZOS)
    buf = _bytesio.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def load_item(
    result: str | os.PathLike[str],
    photo: str | os.PathLike[str] | None = None,
    *,
    uhdr: str | os.PathLike[str] | None = None,
    max_side: int = VIEW_MAX_SIDE,
    thumbs: bool = False,
) -> ViewItem:
    """Read a result (and its photo) and prepare them for a page.

    Shape: the result file holds (H, W, 3) linear HDR; the photo (H, W, 3) sRGB LDR. Both are area-averaged
    (in linear light) to a long side of at most ``max_side``; figures come from the full-size data.
    """
    rpath = os.fspath(result)
    hdr = read_result(rpath)
    h, w = hdr.shape[:2]
    ph = read_photo(photo, (h, w), rpath) if photo is not None else None
    figures = image_figures(hdr, ph)
    k = block_factor(h, w, max_side)
    small = np.minimum(downscale(hdr, k), 65504.0).astype(np.float16)
    small_photo = None
    if ph is not None:
        small_photo = ph if k == 1 else _srgb_encode_u8(downscale(srgb_decode_u8()[ph], k))
    data = None
    if uhdr is not None:
        try:
            data = Path(uhdr).read_bytes()
        except OSError as exc:
            raise ImageReadError(f"{uhdr}: cannot read ({exc.strerror or exc})") from None
    item = ViewItem(Path(rpath).name.split(".")[0], rpath, os.fspath(photo) if photo is not None else None,
                    w, h, small, small_photo, figures, data)
    if thumbs:
        from hdrlift.io import tonemap_preview

        item.thumbs["result"] = _thumb(tonemap_preview(small.astype(np.float32)))
        if small_photo is not None:
            item.thumbs["photo"] = _thumb(small_photo)
    return item


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes(),
                                          6)).decode("ascii")


def item_json(item: ViewItem) -> dict[str, Any]:
    """The JSON record of one item (what the page's script reads)."""
    h, w = item.hdr.shape[:2]
    return {
        "name": item.name,
        "result": item.result,
        "photo_path": item.photo_path,
        "width": w,
        "height": h,
        "orig_width": item.width,
        "orig_height": item.height,
        "hdr": _pack(item.hdr),
        "photo": _pack(item.photo) if item.photo is not None else None,
        "uhdr": ("data:image/jpeg;base64," + base64.b64encode(item.uhdr).decode("ascii")) if item.uhdr else None,
        "figures": item.figures,
        "thumbs": item.thumbs,
    }


def _asset(name: str) -> str:
    return resources.files("hdrlift.view").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def render_page(items: list[ViewItem], title: str, *, report: bool = False) -> str:
    """The complete HTML document (script, style and data inline).

    ``report``: a batch page (an overview table of every item; clicking a row shows it in the viewer).
    """
    if not items:
        raise HdrliftError("no results to show")
    doc = {"report": report, "title": title, "items": [item_json(it) for it in items]}
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = _asset("viewer.html")
    for token, value in (("/*HDRLIFT_CSS*/", _asset("viewer.css")), ("/*HDRLIFT_JS*/", _asset("viewer.js")),
                         ("__HDRLIFT_TITLE__", html.escape(title)), ("__HDRLIFT_DATA__", data)):
        if token not in page:
            raise RuntimeError(f"viewer.html lacks the {token} slot")
        page = page.replace(token, value)
    return page


def write_page(path: str | os.PathLike[str], page: str, *, overwrite: bool = False) -> Path:
    """Write the page atomically (no partial file; an existing one only with ``overwrite``)."""
    from hdrlift.io import atomic_output

    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        raise ImageWriteError(f"{p}: the page must be an .html file")
    with atomic_output(p, overwrite=overwrite) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return p


def report_results(folder: Path) -> list[Path]:
    """HDR results of a batch folder (``hdrlift predict ... -o FOLDER``), sorted by name."""
    if not folder.is_dir():
        raise HdrliftError(f"{folder}: not a folder (a report shows an output folder of 'hdrlift predict')")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".exr", ".hdr", ".pic")
                   and ".preview." not in p.name)
    if not found:
        raise HdrliftError(f"{folder}: no .exr or .hdr results in this folder")
    return found
