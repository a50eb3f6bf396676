"""``hdrlift bench``: time and peak memory per model and image size."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hdrlift.cli import argtypes

BENCH_EPILOG = """\
examples:
  hdrlift bench --models uhd_bilateral,hdrunet --sizes 512,1080p
  hdrlift bench --models twostage.polyhaven --sizes 4k --max-memory 2GB --json
  hdrlift bench --models uhd_bilateral --sizes 4k --device cuda --precision fp16
  hdrlift bench --models uhd_bilateral --sizes 4k --kernels torch   # without the native kernel
  hdrlift bench --models twostage.polyhaven --sizes 4k --blend none  # the shipped network without its blend
"""


def add_parser(sub: Any) -> None:
    from hdrlift.cli.helptext import METHODS_FULL_NAMES, lazy

    p = sub.add_parser("bench", help="time and peak memory per model and size", epilog=BENCH_EPILOG)
    lazy(p.add_argument("--models", default="hdrunet,twostage,uhd_bilateral,duhdr", metavar="LIST",
                        help="comma-separated methods (default hdrunet,twostage,uhd_bilateral,duhdr). A bare "
                        "architecture name times that architecture at its paper width with random weights; "
                        "NAME.polyhaven the shipped weight (its width in docs/models.md) with the blend it declares, "
                        "what predict runs. %(methods)s"), methods=METHODS_FULL_NAMES)
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
    p.add_argument("--blend", default="auto", metavar="auto|none|TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]",
                   help="as in predict: auto (default) times the network and the blend its weight declares, what "
                   "predict runs; none the network alone")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON (every field, errors included)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from hdrlift.tools.bench import parse_sizes, run_bench

    rows = run_bench(args.models.split(","), parse_sizes(args.sizes), runs=args.runs, tile=args.tile,
                     strategy=args.strategy, device=args.device, precision=args.precision,
                     max_memory=args.max_memory, threads=args.threads, kernels=args.kernels,
                     blend=args.blend)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from hdrlift.tools.evaluate import format_table

        cols = ["model", "size", "precision", "kernel", "blend", "median_s", "peak_rss_mb", "gmac", "gmac_per_s",
                "ratio_to_floor", "tile"]
        print(format_table(rows, cols + (["error"] if any("error" in r for r in rows) else [])))
    return 0
