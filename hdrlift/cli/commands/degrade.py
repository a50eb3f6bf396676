"""``hdrlift degrade``: synthesise LDR/HDR pairs from real HDR images with the camera model."""

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


DEGRADE_EPILOG = """\
examples:
  hdrlift degrade ../shared/data/hdr -o pairs/ --seed 1              # one capture per HDR image
  hdrlift degrade scene.exr -o pairs/ --exposures -1,0,1.5 --layout plain
  hdrlift degrade hdr/ -o pairs/ --camera configs/camera/srgb.yaml --max-side 1024
  hdrlift evaluate --data pairs/ --method linear --model twostage.polyhaven   # score methods on them

Each pair is an 8-bit photo taken by the simulated camera (exposure, noise, curve, quantisation,
JPEG) and its linear HDR scaled so that 1.0 = the photo's clipping level. manifest.csv records
every parameter, so a seed always gives the same pairs.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("degrade", help="synthesise LDR/HDR training pairs from real HDR images",
                       epilog=DEGRADE_EPILOG)
    p.add_argument("inputs", nargs="+", help="HDR files (.exr/.hdr) or folders")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the camera parameters (default 0; the same seed gives the same pairs)")
    p.add_argument("--camera", help="camera-model YAML (keys of hdrlift.degrade.CameraConfig)")
    p.add_argument("--exposures", type=_floats, default=[0.0],
                   help="exposure offsets in stops from auto exposure, e.g. -1,0,1.5 (default 0)")
    p.add_argument("--layout", choices=["ntire", "plain", "both"], default="both",
                   help="NTIRE 2021 files and/or plain LDR PNG + EXR (default both)")
    p.add_argument("--max-side", type=int, default=0, help="down-scale so the long side is at most this")
    p.add_argument("--split", help="only files listed in this split file (paths relative to the input folder)")
    p.add_argument("--overwrite", action="store_true", help="replace the pairs of an existing output folder")
    p.set_defaults(func=cmd_degrade)


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
