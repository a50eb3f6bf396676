"""``hdrlift export``: export a network to ONNX."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError

EXPORT_EPILOG = """\
examples:
  hdrlift export twostage.polyhaven --onnx twostage.onnx            # shipped weights
  hdrlift export runs/ts_lr --onnx mine.onnx --size 512 512 --opset 18

The graph has dynamic batch, height and width; with onnxruntime installed the export is checked
against PyTorch at the example size and at a second, odd size.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a network to ONNX", epilog=EXPORT_EPILOG)
    p.add_argument("model", help="architecture (random init), shipped weight or checkpoint dir")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"), help="example size")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing .onnx file")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from hdrlift.tools.export import export_onnx

    out = Path(args.onnx)
    if out.exists() and not args.overwrite:
        raise HdrliftError(f"{out}: exists (use --overwrite)")
    info = export_onnx(args.model, out, size=tuple(args.size), opset=args.opset)
    print(json.dumps(info, indent=2))
    return 0
