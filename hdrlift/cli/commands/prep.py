"""``hdrlift prep``: data preparation (NTIRE pre-cropping as in HDRUNet)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

PREP_EPILOG = """\
examples:
  hdrlift prep ntire-crops NTIRE/train -o NTIRE/train_crops                 # 480 px crops, stride 240
  hdrlift prep ntire-crops NTIRE/train -o crops/ --size 256 --stride 128
"""



def add_parser(sub: Any) -> None:
    p = sub.add_parser("prep", help="data preparation (NTIRE pre-cropping as in HDRUNet)", epilog=PREP_EPILOG)
    p.add_argument("kind", choices=["ntire-crops"], help="what to prepare")
    p.add_argument("input", help="NTIRE folder with <id>_medium.png / <id>_gt.png / <id>_alignratio.npy")
    p.add_argument("-o", "--output", required=True, help="folder for the cropped pairs (same file layout)")
    p.add_argument("--size", type=int, default=480, help="crop size in pixels (default 480, as HDRUNet)")
    p.add_argument("--stride", type=int, default=240, help="step between crops in pixels (default 240)")
    p.add_argument("--overwrite", action="store_true", help="replace crops that exist")
    p.set_defaults(func=cmd_prep)


def cmd_prep(args: argparse.Namespace) -> int:
    from hdrlift.data.ntire import precrop_ntire

    n = precrop_ntire(Path(args.input), Path(args.output), size=args.size, stride=args.stride,
                      overwrite=args.overwrite)
    print(f"wrote {n} sub-image pairs to {args.output}")
    return 0
