"""``hdrlift predict``: reconstruct HDR from LDR photos (files and folders, batches, shards)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hdrlift.cli import argtypes
from hdrlift.errors import HdrliftError
from hdrlift.inference.outputs import OUTPUT_FORMATS

LDR_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
DEFAULT_MAX_PIXELS = 200_000_000

PREDICT_EPILOG = """\
examples:
  hdrlift predict examples/rocket.jpg -o out/         # out/rocket.exr + out/rocket.preview.png
  hdrlift predict photo.jpg                           # photo.exr + photo.preview.png beside the photo
  hdrlift predict photos/ -r -o out/ --skip-existing  # a folder tree; run again to resume
  hdrlift predict photo.jpg -m hdrunet -f uhdr        # another network; an Ultra HDR gain-map JPEG
  hdrlift predict big.tif --max-memory 4GB            # any size within a memory budget
  hdrlift predict photos/ -o out/ --shard 0/4         # the first of 4 processes sharing a folder
  hdrlift view out/rocket.exr examples/rocket.jpg     # look at a result (exposure slider, before/after)

The HDR is linear light with 1.0 = the photo's clipping level; highlights above 1.0 are the
reconstruction. 'hdrlift models --pretrained' and 'hdrlift operators' describe the methods.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="reconstruct HDR from LDR photos (writes EXR + tone-mapped preview)",
                       description="Reconstruct linear HDR from 8-bit photos (JPEG/PNG/TIFF/WebP).",
                       epilog=PREDICT_EPILOG)
    p.add_argument("inputs", nargs="+", help="photos (JPEG/PNG/TIFF/BMP/WebP) or folders of them")
    p.add_argument("-o", "--output",
                   help="output file (one input; its extension picks the format: .exr .hdr .tif .png .jpg "
                        ".avif) or folder (ends in / or exists; -r keeps sub-folders); default: beside each "
                        "input. An input file is never overwritten"),
    from hdrlift.cli.helptext import METHODS, lazy

    lazy(p.add_argument("-m", "--method", default="default", metavar="METHOD",
                        help="network or classical operator: %(methods)s"), methods=METHODS)
    p.add_argument("-f", "--format", default=None, choices=list(OUTPUT_FORMATS),
                   help="output format (default: from -o's extension, else exr): exr, hdr, tiff (float), "
                        "png16 (linear 16-bit + alignratio), ntire (gamma 2.24), png-pq/png-hlg (16-bit PNG "
                        "with cICP), uhdr (Ultra HDR gain-map JPEG), avif (PQ) / avif-hlg; see docs/formats.md")
    p.add_argument("--compression", default=None,
                   choices=["none", "zip", "zips", "piz", "rle", "pxr24", "b44", "b44a", "dwaa", "dwab"],
                   help="EXR compression (default zip; piz also lossless; dwaa/dwab/b44 lossy and smallest, "
                        "see docs/formats.md)")
    p.add_argument("--peak-nits", type=float, default=None, metavar="NITS",
                   help="uhdr/avif/png-pq/png-hlg: clip the HDR at NITS cd/m2 with SDR white = 203 cd/m2 "
                        "(default: the content's own peak; PQ ends at 10000, HLG at about 765)")
    p.add_argument("--max-boost", type=float, default=None, metavar="X",
                   help="same as --peak-nits as a multiple of SDR white (e.g. 4 = 2 stops of headroom)")
    p.add_argument("--bits", type=int, default=None, choices=[10, 12], help="avif/avif-hlg bit depth (default 10)")
    p.add_argument("--uhdr-fit", default=None, choices=["clip", "scale"],
                   help="uhdr on screens with less headroom than the content: clip (default: the whole "
                        "reconstruction on any HDR screen, clipped at its peak) or scale (HDRCapacityMax = "
                        "content peak: boost scaled down, highlights compressed; see docs/formats.md)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print errors only (no progress bars, no summary line)")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=True,
                   help="also write <name>.preview.png, a tone-mapped 8-bit view (default on)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose outputs exist (resume)")
    p.add_argument("-r", "--recursive", action="store_true", help="search folders recursively")
    p.add_argument("--shard", type=argtypes.shard, default=None, metavar="INDEX/COUNT",
                   help="predict only inputs INDEX, INDEX+COUNT, ... of the sorted list, so COUNT processes "
                   "share them (e.g. --shard $RANK/$WORLD_SIZE; indices from 0); default: all inputs, "
                   "WORLD_SIZE/RANK are never used implicitly")
    p.add_argument("--device", default="auto", type=argtypes.device,
                   help="auto (CUDA when available, else CPU) | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--tile", type=argtypes.tile, default=None,
                   help="tile size for large images (default: from --max-memory; 0 = no tiling)")
    p.add_argument("--max-memory", default=None, metavar="SIZE", type=argtypes.memory,
                   help="peak memory of the process, e.g. 2GB or 512MiB (default 1.5GB; on CUDA: GPU memory "
                        "for the network); picks the largest tile that fits")
    p.add_argument("--strategy", default="tile", choices=["tile", "deu", "ses", "none"],
                   help="large-image strategy (default tile)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="network precision (default auto: bf16 on CPUs with native bfloat16, AVX512-BF16/AMX, "
                   "about 2x faster, PSNR-mu within 0.1 dB; fp32 elsewhere); fp16/bf16 autocast on CUDA")
    p.add_argument("--kernels", default="auto", choices=["auto", "torch", "native", "plain"],
                   help="inference kernels (default auto: native code where it could be built, else torch code; a "
                   "failed build warns once); torch = no compiled code; native = the model's native kernel or an "
                   "error; plain = the model's own forward (the reference). -v says which one ran")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print the method, device, precision and inference kernel used, and per image its time")
    p.add_argument("--blend", default="auto", metavar="auto|none|TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]",
                   help="blend the network's result with the decoded photo (hdrlift.ops.blend): auto = what the "
                   "weight declares (docs/models.md), none = the network alone, TAU,MID = the photo below max "
                   "channel TAU, mixed with weight MID (on the local tone only, Gaussian SIGMA px, if given), the "
                   "network towards the clipping level; DETAIL weighs the SIGMA rule against the per-pixel one "
                   "(auto = per photo: the network's detail where the photo is noisy or compressed); HIGHLIGHT "
                   "k in [0, 4] multiplies log2 luminance above the clipping level by 1 + k (default 0)")
    p.add_argument("--camera", default="auto", metavar="auto|srgb|estimate|MODEL",
                   help="how the photo the network is blended with is decoded: auto = what the weight declares "
                   "(docs/models.md), srgb = the sRGB curve, estimate = the shipped per-photo curve estimator "
                   "(curvenet.polyhaven), or a weight / checkpoint whose output is the decoded photo")
    p.add_argument("--max-pixels", type=argtypes.positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images with more than N pixels, checked before decoding "
                   f"(default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--half", action=argparse.BooleanOptionalAction, default=True,
                   help="EXR in half floats (default; ample for 1.0 = clipping level, range up to 65504); "
                   "--no-half writes 32-bit floats")
    p.add_argument("--json", action="store_true", help="print a JSON summary (outputs, seconds, errors per input)")
    p.set_defaults(func=cmd_predict)


def _is_hdrlift_output(p: Path) -> bool:
    """Files hdrlift predict writes that look like LDR inputs: previews, Ultra HDR, PQ/HLG PNGs, and
    16-bit PNGs with an ``_alignratio.npy`` beside them (png16/ntire); folder scans skip them."""
    name = p.name.lower()
    if ".preview." in name or name.endswith((".uhdr.jpg", ".uhdr.jpeg", ".pq.png", ".hlg.png")):
        return True
    return name.endswith(".png") and p.with_name(p.name[:-4] + "_alignratio.npy").exists()


def _collect(inputs: list[str], recursive: bool, with_roots: bool = False) -> Any:
    """Image files of ``inputs`` (files and folders) and one-line errors; with ``with_roots`` also
    {file: the folder it was found in} so ``-r -o DIR`` can keep the relative structure."""
    from hdrlift.io.atomic import is_temp_name  # an interrupted write's leftover is never an input

    files: list[Path] = []
    errors: list[str] = []
    roots: dict[Path, Path] = {}
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            found = sorted(q for q in it if q.is_file() and q.suffix.lower() in LDR_EXTS
                           and not _is_hdrlift_output(q) and not is_temp_name(q))
            if not found:
                errors.append(f"{p}: no images found in folder")
            files += found
            roots.update({q: p for q in found})
        elif p.exists():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or directory")
    return (files, errors, roots) if with_roots else (files, errors)


def cmd_predict(args: argparse.Namespace) -> int:
    from hdrlift.inference.batch import predict_files
    from hdrlift.inference.outputs import PEAK_FORMATS, out_is_file, resolve_format

    fmt = resolve_format(args.output, args.format)
    if args.compression is not None and fmt != "exr":
        raise HdrliftError(f"--compression applies to EXR output, not {fmt}")
    for flag, val in (("--peak-nits", args.peak_nits), ("--max-boost", args.max_boost)):
        if val is not None and fmt not in PEAK_FORMATS:
            raise HdrliftError(f"{flag} applies to {', '.join(PEAK_FORMATS)} output, not {fmt}")
    if args.peak_nits is not None and args.peak_nits <= 0:
        raise HdrliftError(f"--peak-nits must be > 0, got {args.peak_nits:g}")
    if args.max_boost is not None and args.max_boost < 1:
        raise HdrliftError(f"--max-boost must be >= 1 (1 = SDR white), got {args.max_boost:g}")
    if args.bits is not None and fmt not in ("avif", "avif-hlg"):
        raise HdrliftError(f"--bits applies to avif and avif-hlg output, not {fmt}")
    if args.uhdr_fit is not None and fmt != "uhdr":
        raise HdrliftError(f"--uhdr-fit applies to uhdr output, not {fmt}")
    options = {"compression": args.compression, "peak_nits": args.peak_nits, "max_boost": args.max_boost,
               "bits": args.bits, "uhdr_fit": args.uhdr_fit}
    extra: dict[str, Any] = {}
    from hdrlift.inference.memory import parse_memory, set_process_scope

    set_process_scope()  # on the command line --max-memory bounds the whole process
    if args.max_memory is not None:
        extra["max_memory"] = parse_memory(args.max_memory)
    files, errors, roots = _collect(args.inputs, args.recursive, with_roots=True)
    for e in errors:
        print(f"hdrlift: error: {e}", file=sys.stderr)
    if out_is_file(args.output) and len(files) > 1:
        raise HdrliftError(f"{args.output}: -o names a file but there are {len(files)} inputs (give a folder)")
    t0 = time.perf_counter()
    results = predict_files(
        files,
        method=args.method,
        out=args.output,
        fmt=fmt,
        preview=args.preview,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        device=args.device,
        tile=args.tile,
        strategy=args.strategy,
        precision=args.precision,
        kernels=args.kernels,
        verbose=args.verbose,
        blend=args.blend,
        camera=args.camera,
        max_pixels=args.max_pixels,
        half=args.half,
        debug=args.debug,
        progress=not args.quiet,
        roots=roots,
        options=options,
        shard=args.shard,
        **extra,
    )
    failed = len(errors) + sum(1 for r in results if r["status"] == "error")
    if args.json:
        print(json.dumps({"results": results, "errors": errors}, indent=2))
    elif not args.quiet:
        print(_summary(results, failed, fmt, time.perf_counter() - t0), file=sys.stderr)
    return 1 if failed else 0


def _summary(results: list[dict[str, Any]], failed: int, fmt: str, seconds: float) -> str:
    """One line per run: files written / skipped / failed, time, where (the folder, or the file)."""
    ok = [r for r in results if r["status"] == "ok"]
    skipped = sum(1 for r in results if r["status"] == "skipped")
    where = ""
    if ok:
        mains = [Path(r["outputs"][0]) for r in ok]
        folders = sorted({str(m.parent) for m in mains})
        where = f" -> {mains[0]}" if len(mains) == 1 else (
            f" -> {folders[0]}/" if len(folders) == 1 else f" -> {len(folders)} folders")
    parts = [f"{len(ok)} written ({fmt})"]
    if skipped:
        parts.append(f"{skipped} skipped")
    if failed:
        parts.append(f"{failed} failed")
    return f"hdrlift: {', '.join(parts)} in {seconds:.1f} s{where}"
