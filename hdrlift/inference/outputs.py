"""Output files of a prediction: which format an ``-o`` path means, names per input, atomic writing.

Rules (``hdrlift predict``):

* The format follows ``-o``'s extension (``.exr``, ``.hdr``, ``.tif``, ``.png`` -> png16, ``.jpg`` ->
  Ultra HDR, ``.avif`` -> PQ AVIF) unless ``--format`` says otherwise; a ``--format`` whose files do not
  have that extension is a one-line error (``-f hdr -o x.exr``).
* Extensions that cannot hold HDR (``.bmp``, ``.webp``, ``.gif``, ``.jxl``, ...) are refused.
* ``-o`` is a file when it has an extension and is not an existing folder (one input only); otherwise a
  folder, created when missing. With ``-r`` the inputs' sub-folders are kept below it.
* No output may replace an input file, whatever ``--overwrite`` says, and no two inputs may share an
  output path.
* Every file is written atomically (:func:`hdrlift.io.atomic_output`); when one file of an output set
  fails, the files of that set already written in this call are removed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError

#: Output formats of ``hdrlift predict`` and the extensions their files may have (first = default).
OUTPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "exr": (".exr",),
    "hdr": (".hdr", ".pic", ".rgbe"),
    "tiff": (".tif", ".tiff"),
    "png16": (".png",),
    "ntire": (".png",),
    "png-pq": (".png",),
    "png-hlg": (".png",),
    "uhdr": (".jpg", ".jpeg"),
    "avif": (".avif",),
    "avif-hlg": (".avif",),
}
#: Default extension per format (kept for callers of the old table).
FORMATS = {k: v[0] for k, v in OUTPUT_FORMATS.items()}
#: Name suffix used beside the input / in an output folder (the stem is the input's).
DEFAULT_SUFFIX = {**FORMATS, "uhdr": ".uhdr.jpg", "png-pq": ".pq.png", "png-hlg": ".hlg.png",
                  "avif-hlg": ".hlg.avif"}
#: The format an ``-o`` extension means when ``--format`` is not given.
EXT_FORMAT = {".exr": "exr", ".hdr": "hdr", ".pic": "hdr", ".rgbe": "hdr", ".tif": "tiff", ".tiff": "tiff",
              ".png": "png16", ".jpg": "uhdr", ".jpeg": "uhdr", ".avif": "avif"}
_NO_HDR = {
    ".bmp": "BMP holds 8-bit SDR only",
    ".webp": "WebP holds 8-bit SDR only",
    ".gif": "GIF holds 8-bit palette images only",
    ".jpe": "use .jpg for an Ultra HDR (gain-map) JPEG",
    ".jfif": "use .jpg for an Ultra HDR (gain-map) JPEG",
    ".jxl": "JPEG XL is not written (no maintained encoder here signals PQ/HLG); use .avif or .exr",
    ".heic": "HEIF is not written; use .avif",
    ".heif": "HEIF is not written; use .avif",
    ".npy": "use .exr for linear HDR",
}
#: Formats that take ``--peak-nits`` / ``--max-boost``.
PEAK_FORMATS = ("uhdr", "avif", "avif-hlg", "png-pq", "png-hlg")


def _extensions() -> str:
    return ", ".join(sorted(EXT_FORMAT))


def out_is_file(out: str | None) -> bool:
    """True when ``-o`` names a file: it has an extension, no trailing separator, and is not a folder."""
    if not out or out.endswith(("/", os.sep)):
        return False
    p = Path(out)
    return bool(p.suffix) and not p.is_dir()


def resolve_format(out: str | None, fmt: str | None) -> str:
    """The output format for ``-o out`` and ``--format fmt``; one-line HdrliftError on a conflict.

    A folder (or no ``-o``) writes ``fmt`` or EXR. A file's extension must be able to hold HDR and
    must be one that ``fmt`` writes.
    """
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise HdrliftError(f"unknown format {fmt!r} (use one of {', '.join(OUTPUT_FORMATS)})")
    if not out_is_file(out):
        if out and os.path.exists(out.rstrip("/" + os.sep) or out) and not os.path.isdir(out):
            raise HdrliftError(f"{out}: exists and is not a folder (an output file needs an HDR extension)")
        return fmt or "exr"
    assert out is not None
    ext = Path(out).suffix.lower()
    if ext not in EXT_FORMAT:
        why = _NO_HDR.get(ext, "not an HDR output extension")
        raise HdrliftError(f"{out}: cannot write HDR to {ext or 'a file without extension'!r} ({why}); "
                           f"HDR extensions: {_extensions()}; a folder: end -o with /")
    if fmt is None:
        return EXT_FORMAT[ext]
    if ext not in OUTPUT_FORMATS[fmt]:
        raise HdrliftError(
            f"{out}: --format {fmt} writes {'/'.join(OUTPUT_FORMATS[fmt])} files, not {ext} "
            f"(drop --format to write {EXT_FORMAT[ext]}, or change the extension)"
        )
    return fmt


def _base_name(main: Path, fmt: str) -> str:
    """``x.uhdr.jpg`` -> ``x``; ``out.exr`` -> ``out`` (for the preview's name)."""
    name = main.name
    for suf in sorted({DEFAULT_SUFFIX[fmt], *OUTPUT_FORMATS[fmt]}, key=len, reverse=True):
        if name.lower().endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return main.stem


def output_paths(
    src: Path, out: str | None, fmt: str, n_inputs: int, preview: bool, root: Path | None = None
) -> dict[str, Path]:
    """Paths written for one input: ``main`` (+ ``ratio`` for ntire/png16, ``preview``).

    ``out``: a file (one input), a folder, or None (beside the input). ``root``: the folder the input
    was found in (``-r``): its sub-folder path below ``root`` is kept below ``out``.
    """
    if out_is_file(out):
        if n_inputs != 1:
            raise HdrliftError(f"{out}: -o names a file but there are {n_inputs} inputs (give a folder)")
        main = Path(out)  # type: ignore[arg-type]
    else:
        d = Path(out) if out else src.parent
        if out and root is not None:
            try:
                d = d / src.parent.relative_to(root)
            except ValueError:
                pass
        main = d / (src.stem + DEFAULT_SUFFIX[fmt])
    paths = {"main": main}
    if fmt in ("ntire", "png16"):
        stem = main.name[: -len(".png")] if main.name.lower().endswith(".png") else main.stem
        paths["ratio"] = main.with_name(stem + "_alignratio.npy")
    if preview:
        paths["preview"] = main.with_name(_base_name(main, fmt) + ".preview.png")
    return paths


def _key(p: Path) -> str:
    return os.path.normcase(os.path.realpath(p))


def plan_outputs(
    files: list[Path],
    out: str | None,
    fmt: str,
    preview: bool,
    roots: dict[Path, Path] | None = None,
) -> tuple[dict[Path, dict[str, Path]], dict[Path, str]]:
    """Output paths per input, and one-line errors for inputs that cannot be written.

    An input whose outputs would replace an input file (itself or another one; ``--overwrite`` does not
    change this), or that shares an output path with another input, gets an error instead of paths.
    """
    roots = roots or {}
    inputs = {_key(f): f for f in files}
    plans: dict[Path, dict[str, Path]] = {}
    errors: dict[Path, str] = {}
    owner: dict[str, Path] = {}
    for f in files:
        paths = output_paths(f, out, fmt, len(files), preview, roots.get(f))
        for p in paths.values():
            k = _key(p)
            if k in inputs:
                errors[f] = (f"{p}: would replace the input {inputs[k]} (inputs are never overwritten; "
                             "write elsewhere with -o FOLDER)")
                break
            if k in owner and owner[k] != f:
                errors[f] = f"{p}: also the output of {owner[k]} (use -r, or -o with different names)"
                break
        if f in errors:
            continue
        for p in paths.values():
            owner[_key(p)] = f
        plans[f] = paths
    return plans, errors


def provenance(method: str | None = None, source: Path | None = None, **extra: Any) -> dict[str, str]:
    """Attributes saying who wrote a file: ``hdrlift/version``, ``hdrlift/method``, ``hdrlift/input``, ..."""
    from hdrlift._version import __version__

    out = {"hdrlift/version": __version__}
    if method:
        out["hdrlift/method"] = str(method)
    if source is not None:
        out["hdrlift/input"] = Path(source).name
    for k, v in extra.items():
        if v is not None:
            out[f"hdrlift/{k}"] = str(v)
    return out


def write_outputs(
    hdr: Any,
    paths: dict[str, Path],
    fmt: str,
    overwrite: bool,
    half: bool,
    ldr: Any = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Write the HDR in ``fmt`` (+ preview), each file atomically; a failed set leaves no new file.

    Shape: ``hdr`` (H, W, 3) linear Rec.709 HDR (1.0 = SDR white); ``ldr`` (H, W, 3) the input photo,
    sRGB-encoded in [0,1] (the SDR base of an Ultra HDR JPEG; None = the HDR clipped at 1).
    ``options``: ``compression`` (EXR), ``peak_nits`` / ``max_boost`` (uhdr, avif, png-pq/hlg),
    ``uhdr_fit`` ("clip" default / "scale": Ultra HDR HDRCapacityMax just above 1 / at the content peak),
    ``bits`` (avif: 10 or 12), ``attributes`` (provenance strings written where the format has room),
    ``source`` (the input file: a JPEG photo is reused as the Ultra HDR base when unchanged by reading).
    """
    import numpy as np

    import hdrlift.io as io

    opt = dict(options or {})
    attrs: dict[str, str] = dict(opt.pop("attributes", None) or {})
    peak = {k: opt[k] for k in ("peak_nits", "max_boost") if opt.get(k) is not None}
    main = paths["main"]
    try:
        main.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from hdrlift.errors import ImageWriteError

        raise ImageWriteError(f"{main}: cannot create folder {main.parent} ({e.strerror or e})") from None
    written: list[Path] = []
    existed = {k: p.exists() for k, p in paths.items()}
    try:
        if fmt == "ntire":
            io.write_ntire(main, np.clip(hdr, 0, None) ** (1 / 2.24), overwrite=overwrite, encoding="ntire",
                           text=attrs)
            written += [main, paths["ratio"]]
        elif fmt == "png16":
            io.write_ntire(main, np.clip(hdr, 0, None), overwrite=overwrite, encoding="linear", text=attrs)
            written += [main, paths["ratio"]]
        elif fmt == "exr":
            io.write_exr(main, hdr, overwrite=overwrite, dtype="half" if half else "float",
                         compression=opt.get("compression") or "zip", attributes=attrs,
                         white_luminance=io.colour.REFERENCE_WHITE_NITS)
            written.append(main)
        elif fmt == "uhdr":
            src = opt.get("source")
            photo = Path(src).read_bytes() if src is not None and Path(src).suffix.lower() in (
                ".jpg", ".jpeg") else None  # reused as the SDR base when it decodes to ``ldr`` exactly
            io.write_uhdr(main, hdr, sdr=ldr, overwrite=overwrite, max_boost=peak.get("max_boost"),
                          peak_nits=peak.get("peak_nits"), photo_jpeg=photo,
                          hdr_capacity_max="peak" if opt.get("uhdr_fit") == "scale" else None)
            written.append(main)
        elif fmt in ("png-pq", "png-hlg"):
            io.write_png_hdr(main, hdr, transfer=fmt[4:], overwrite=overwrite, peak_nits=_peak_nits(peak),
                             text=attrs)
            written.append(main)
        elif fmt in ("avif", "avif-hlg"):
            io.write_avif(main, hdr, transfer="hlg" if fmt == "avif-hlg" else "pq", bits=opt.get("bits") or 10,
                          overwrite=overwrite, peak_nits=_peak_nits(peak))
            written.append(main)
        elif fmt == "tiff":
            io.write_image(main, np.asarray(hdr, dtype=np.float32), overwrite=overwrite, format="tiff")
            written.append(main)
        elif fmt == "hdr":
            io.write_image(main, hdr, overwrite=overwrite, format="hdr")
            written.append(main)
        else:
            raise HdrliftError(f"{main}: unknown output format {fmt!r}")
        if "preview" in paths:
            io.write_preview(paths["preview"], hdr, overwrite=overwrite)
    except BaseException:
        for k, p in paths.items():
            if p in written and not existed[k]:
                try:
                    os.remove(p)
                except OSError:
                    pass
        raise


def _peak_nits(peak: dict[str, float]) -> float | None:
    """--peak-nits, or --max-boost in cd/m2 (1.0 = 203 cd/m2); the lower when both are given."""
    from hdrlift.io.colour import REFERENCE_WHITE_NITS

    vals = [float(peak["peak_nits"])] if "peak_nits" in peak else []
    if "max_boost" in peak:
        vals.append(float(peak["max_boost"]) * REFERENCE_WHITE_NITS)
    return min(vals) if vals else None
