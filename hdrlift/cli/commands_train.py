"""``hdrlift train``, ``hdrlift export`` and ``hdrlift bench``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hdrlift.cli import argtypes
from hdrlift.errors import HdrliftError

TRAIN_EPILOG = """\
examples:
  hdrlift train configs/train/hdrunet_cpu.yaml --max-steps 200      # a short CPU run
  hdrlift train configs/train/twostage_cpu.yaml --set optim.lr=1e-4 --out runs/ts_lr
  hdrlift train --resume runs/ts_lr                                 # continue after a stop or crash
  hdrlift predict photo.jpg -m runs/ts_lr                           # use the run's best checkpoint
  torchrun --nproc_per_node 4 -m hdrlift train configs/train/hdrunet.yaml   # DDP on 4 GPUs

See docs/training.md for the recipes and their keys.
"""

EXPORT_EPILOG = """\
examples:
  hdrlift export twostage.polyhaven --onnx twostage.onnx            # shipped weights
  hdrlift export runs/ts_lr --onnx mine.onnx --size 512 512 --opset 18

The graph has dynamic batch, height and width; with onnxruntime installed the export is checked
against PyTorch at the example size and at a second, odd size.
"""

BENCH_EPILOG = """\
examples:
  hdrlift bench --models uhd_bilateral,hdrunet --sizes 512,1080p
  hdrlift bench --models twostage.polyhaven --sizes 4k --max-memory 2GB --json
  hdrlift bench --models uhd_bilateral --sizes 4k --device cuda --precision fp16
  hdrlift bench --models uhd_bilateral --sizes 4k --kernels torch   # without the native kernel
"""


def add_parsers(sub: Any) -> None:
    from hdrlift.cli.helptext import METHODS, lazy

    p = sub.add_parser("train", help="train a method from a YAML recipe (configs/train/*.yaml)",
                       epilog=TRAIN_EPILOG)
    p.add_argument("config", nargs="?", help="training config YAML (omit with --resume)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)")
    p.add_argument("--resume", help="run directory to continue from its last good checkpoint")
    p.add_argument("--out", help="run directory (default: config out_dir)")
    p.add_argument("--device", default="auto", type=argtypes.device,
                   help="auto (CUDA when available, else CPU) | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--max-steps", type=argtypes.positive_int, default=None,
                   help="stop after this many steps in this call")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only; for batch jobs)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="export a network to ONNX", epilog=EXPORT_EPILOG)
    p.add_argument("model", help="architecture (random init), shipped weight or checkpoint dir")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"), help="example size")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing .onnx file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("bench", help="time and peak memory per model and size", epilog=BENCH_EPILOG)
    lazy(p.add_argument("--models", default="hdrunet,twostage,uhd_bilateral,duhdr", metavar="LIST",
                        help="comma-separated methods (default hdrunet,twostage,uhd_bilateral,duhdr): "
                        "%(methods)s"), methods=METHODS)
    p.add_argument("--sizes", default="512,1080p", help="comma list of 512, 1080p, 4k, 6000x4000, HxW")
    p.add_argument("--runs", type=int, default=3, help="timed runs per case, the median is reported (default 3)")
    p.add_argument("--tile", type=argtypes.tile, default=None,
                   help="tile size as in predict (default: the largest that fits --max-memory; 0 = none)")
    p.add_argument("--strategy", default="tile",
                   help="large-image strategy as in predict: tile | deu | ses | none (default tile)")
    p.add_argument("--device", default="cpu", type=argtypes.device, help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="network precision as in predict (default auto: bf16 on CPUs with native bfloat16)")
    p.add_argument("--max-memory", default=None, type=argtypes.memory,
                   help="peak process memory as in predict (default 1.5GB)")
    p.add_argument("--kernels", default="auto", choices=["auto", "torch", "native", "plain"],
                   help="inference kernels as in predict (default auto); the table's kernel column says which ran")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON (every field, errors included)")
    p.set_defaults(func=cmd_bench)


def cmd_train(args: argparse.Namespace) -> int:
    from hdrlift.train.config import config_from_dict, load_config
    from hdrlift.train.trainer import train

    if args.resume:
        rd = Path(args.resume)
        from hdrlift.errors import ConfigError
        from hdrlift.train.config import apply_overrides
        from hdrlift.train.state import read_run_config

        saved = read_run_config(rd)
        try:
            cfg = config_from_dict(apply_overrides(saved, args.overrides))
        except ConfigError as exc:
            raise ConfigError(f"{rd / 'config.yaml'} (with --set): {exc}") from None
        run = train(cfg, resume=rd, device=args.device, progress=not args.no_progress,
                    max_steps_this_run=args.max_steps)
    else:
        if not args.config:
            raise HdrliftError("give a config file or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        if args.out:
            cfg.out_dir = args.out
        if (Path(cfg.out_dir) / "last.json").exists():
            raise HdrliftError(f"{cfg.out_dir}: run exists; use --resume {cfg.out_dir} or another --out")
        run = train(cfg, device=args.device, progress=not args.no_progress, max_steps_this_run=args.max_steps)
    print(f"run directory: {run}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hdrlift.inference.export import export_onnx

    out = Path(args.onnx)
    if out.exists() and not args.overwrite:
        raise HdrliftError(f"{out}: exists (use --overwrite)")
    info = export_onnx(args.model, out, size=tuple(args.size), opset=args.opset)
    print(json.dumps(info, indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from hdrlift.inference.bench import parse_sizes, run_bench

    rows = run_bench(args.models.split(","), parse_sizes(args.sizes), runs=args.runs, tile=args.tile,
                     strategy=args.strategy, device=args.device, precision=args.precision,
                     max_memory=args.max_memory, threads=args.threads, kernels=args.kernels)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from hdrlift.inference.evaluate import format_table

        cols = ["model", "size", "precision", "kernel", "median_s", "peak_rss_mb", "gmac", "gmac_per_s",
                "ratio_to_floor", "tile"]
        print(format_table(rows, cols + (["error"] if any("error" in r for r in rows) else [])))
    return 0
