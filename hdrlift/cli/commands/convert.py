"""``hdrlift convert``: import the authors' HDRUNet ``.pth`` as an hdrlift checkpoint."""

from __future__ import annotations

import argparse
import os
from typing import Any

from hdrlift.errors import HdrliftError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("convert", help="import the authors' HDRUNet .pth into an hdrlift checkpoint",
                       epilog="examples:\n  hdrlift convert HDRUNet.pth -o runs/hdrunet_official\n"
                       "  hdrlift predict photo.jpg -m runs/hdrunet_official\n")
    p.add_argument("pth", help="official HDRUNet state dict (.pth)")
    p.add_argument("-o", "--output", required=True, help="checkpoint directory to write")
    p.add_argument("--arch", default="hdrunet", choices=["hdrunet"],
                   help="architecture of the .pth (default hdrunet, the only one with official weights)")
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in the output directory")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from hdrlift.checkpoint import check_checkpoint_target, save_model
    from hdrlift.models.hdrunet import load_official_pth

    if not os.path.isfile(args.pth):
        raise HdrliftError(f"{args.pth}: no such file")
    check_checkpoint_target(args.output, args.overwrite)  # before reading the .pth
    model = load_official_pth(args.pth)
    d = save_model(model, args.output, meta={"converted_from": os.path.basename(args.pth)},
                   overwrite=args.overwrite)
    print(f"wrote {d}/model.safetensors and config.json")
    return 0
