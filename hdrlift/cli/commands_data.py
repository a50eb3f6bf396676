"""``hdrlift degrade``, ``hdrlift evaluate`` and ``hdrlift prep``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError


def _floats(s: str) -> list[float]:
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("degrade", help="synthesise LDR/HDR training pairs from real HDR images")
    p.add_argument("inputs", nargs="+", help="HDR files (.exr/.hdr) or folders")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera", help="camera-model YAML (keys of hdrlift.degrade.CameraConfig)")
    p.add_argument("--exposures", type=_floats, default=[0.0],
                   help="exposure offsets in stops from auto exposure, e.g. -1,0,1.5 (default 0)")
    p.add_argument("--layout", choices=["ntire", "plain", "both"], default="both",
                   help="NTIRE 2021 files and/or plain LDR PNG + EXR (default both)")
    p.add_argument("--max-side", type=int, default=0, help="down-scale so the long side is at most this")
    p.add_argument("--split", help="only files listed in this split file (paths relative to the input folder)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("evaluate", help="score predictions or compare methods on pairs")
    p.add_argument("--pred", help="folder of predictions (EXR/HDR, or NTIRE png + alignratio)")
    p.add_argument("--ref", help="folder of references (NTIRE _gt.png + alignratio, or EXR/HDR)")
    p.add_argument("--ldr", help="folder of the LDR inputs (for the clipped-region metric; default --ref)")
    p.add_argument("--data", help="pairs folder made by 'hdrlift degrade' (ntire layout) to run methods on")
    p.add_argument("--dataset", help="dataset kind of --root (ntire, paired, sice, fivek, hdr_real, hdr_eye)")
    p.add_argument("--root", help="dataset root for --dataset")
    p.add_argument("--method", action="append", default=[], help="operator or network (repeatable)")
    p.add_argument("--model", action="append", default=[], help="network weight or checkpoint (repeatable)")
    p.add_argument("--metrics", default="psnr_mu,psnr_l,ssim_mu,clipped_rmse",
                   help="comma-separated metric names")
    p.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "auto"],
                   help="network precision (default fp32 for reproducible metrics; other rows are labelled "
                   "name@precision)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", help="also write the per-image table to this CSV file")
    p.add_argument("--per-image", action="store_true", help="print per-image rows too")
    p.add_argument("--group-by", metavar="FIELD",
                   help="also report means per value of a manifest.csv field of --data/--ref "
                   "(ev, crf, jpeg_quality, ...)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("prep", help="data preparation (NTIRE pre-cropping as in HDRUNet)")
    p.add_argument("kind", choices=["ntire-crops"], help="what to prepare")
    p.add_argument("input", help="NTIRE folder with <id>_medium.png / <id>_gt.png / <id>_alignratio.npy")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--size", type=int, default=480)
    p.add_argument("--stride", type=int, default=240)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_prep)


def cmd_degrade(args: argparse.Namespace) -> int:
    import numpy as np
    import yaml
    from tqdm import tqdm

    import hdrlift.io as io
    from hdrlift.data.splits import list_hdr_files, read_split
    from hdrlift.data.synth import capture_pairs, params_to_json
    from hdrlift.degrade import CameraConfig

    files: list[Path] = []
    for s in args.inputs:
        p = Path(s)
        if p.is_dir():
            files += read_split(args.split, p) if args.split else list_hdr_files(p)
        elif p.is_file():
            files.append(p)
        else:
            raise HdrliftError(f"{p}: no such file or directory")
    cam = CameraConfig()
    if args.camera:
        try:
            cam = CameraConfig.from_dict(yaml.safe_load(Path(args.camera).read_text()) or {})
        except OSError as exc:
            raise HdrliftError(f"{args.camera}: cannot read camera config ({exc.strerror})") from None
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    if manifest.exists() and not args.overwrite:
        raise HdrliftError(f"{manifest}: exists (use --overwrite)")
    rows = []
    bad: list[str] = []

    def report(msg: str) -> None:
        bad.append(msg)
        print(f"hdrlift: error: {msg}", file=sys.stderr)

    n = len(files) * len(args.exposures)
    pairs = capture_pairs(files, args.exposures, args.max_side or None, args.seed, cam, report=report)
    for k, pair in enumerate(tqdm(pairs,
                                  total=n, desc="degrade", unit="pair", file=sys.stderr, disable=n < 2)):
        pid = f"{k:04d}"
        if args.layout in ("ntire", "both"):
            io.write_image(out / f"{pid}_medium.png", np.round(pair.ldr * 255).astype(np.uint8),
                           overwrite=args.overwrite)
            io.write_ntire(out / f"{pid}_gt.png", np.clip(pair.hdr, 0, None) ** (1 / 2.24), overwrite=args.overwrite)
        if args.layout in ("plain", "both"):
            (out / "plain").mkdir(exist_ok=True)
            io.write_image(out / "plain" / f"{pid}.png", np.round(pair.ldr * 255).astype(np.uint8),
                           overwrite=args.overwrite)
            io.write_image(out / "plain" / f"{pid}.exr", pair.hdr, overwrite=args.overwrite, exr_dtype="float")
        rows.append({"id": pid, "name": pair.name, "source": pair.source, "ev": pair.ev,
                     "params": json.dumps(params_to_json(pair.params))})
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "name", "source", "ev", "params"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} pairs to {out} (seed {args.seed})")
    return 1 if bad else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hdrlift.inference.evaluate import (
        compare_methods,
        format_table,
        group_summary,
        manifest_field,
        mean_metrics,
        score_folders,
    )

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    groups = None
    if args.group_by:
        folder = args.data or args.ref
        if not folder:
            raise HdrliftError("--group-by needs --data or --ref (a pairs folder with the manifest.csv of "
                               "'hdrlift degrade')")
        groups = manifest_field(Path(folder), args.group_by)
    if args.pred or args.ref:
        if not (args.pred and args.ref):
            raise HdrliftError("--pred and --ref must be given together")
        rows = score_folders(Path(args.pred), Path(args.ref), Path(args.ldr) if args.ldr else None, metrics,
                             limit=args.limit)
        summary = {"pred": mean_metrics(rows, metrics, str(args.pred))}
        summary["pred"]["sec_per_image"] = None
    elif args.data or args.dataset:
        methods = list(args.method) + list(args.model)
        if not methods:
            raise HdrliftError("give at least one --method or --model to evaluate")
        rows, summary = compare_methods(methods, data=args.data, dataset=args.dataset, root=args.root,
                                        metrics=metrics, limit=args.limit, device=args.device, tile=args.tile,
                                        precision=args.precision)
    else:
        raise HdrliftError("give --pred/--ref, or --data (or --dataset/--root) with --method/--model")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            keys = list(rows[0].keys()) if rows else ["name"]
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    grouped = group_summary(rows, groups, args.group_by, metrics) if groups is not None else None
    if args.json:
        doc: dict[str, Any] = {"summary": summary, "rows": rows}
        if grouped is not None:
            doc["groups"] = {"field": args.group_by, "rows": grouped}
        print(json.dumps(doc, indent=2, default=float))
    else:
        if args.per_image:
            print(format_table(rows, ["method", "name", *metrics]))
            print()
        print(format_table(list(summary.values()), ["method", "n", *metrics, "sec_per_image"]))
        if grouped is not None:
            print()
            print(format_table(grouped, ["method", args.group_by, "n", *metrics]))
    return 0


def cmd_prep(args: argparse.Namespace) -> int:
    from hdrlift.data.ntire import precrop_ntire

    n = precrop_ntire(Path(args.input), Path(args.output), size=args.size, stride=args.stride,
                      overwrite=args.overwrite)
    print(f"wrote {n} sub-image pairs to {args.output}")
    return 0
