"""``hdrlift train``: train a method from a YAML recipe, or resume a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hdrlift.cli import argtypes
from hdrlift.errors import HdrliftError

TRAIN_EPILOG = """\
examples:
  hdrlift train configs/train/hdrunet.yaml --max-steps 200          # the paper's recipe, a short run
  hdrlift train configs/train/twostage_cpu_v5.yaml --set optim.lr=1e-4 --out runs/ts_lr   # continue the default
  hdrlift train --resume runs/ts_lr                                 # continue after a stop or crash
  hdrlift predict photo.jpg -m runs/ts_lr                           # use the run's best checkpoint
  torchrun --nproc_per_node 4 -m hdrlift train configs/train/hdrunet.yaml   # DDP on 4 GPUs

See docs/training.md for the recipes and their keys.
"""


def add_parser(sub: Any) -> None:
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


def cmd_train(args: argparse.Namespace) -> int:
    from hdrlift.train.config import config_from_dict, load_config
    from hdrlift.train.recipes import check_config
    from hdrlift.train.trainer import train

    if args.resume:
        rd = Path(args.resume)
        from hdrlift.errors import ConfigError
        from hdrlift.rundir import CONFIG
        from hdrlift.train.config import apply_overrides
        from hdrlift.train.state import read_run_config

        saved = read_run_config(rd)
        try:
            cfg = config_from_dict(apply_overrides(saved, args.overrides))
        except ConfigError as exc:
            raise ConfigError(f"{rd / CONFIG} (with --set): {exc}") from None
        check_config(cfg, where=f"{rd / CONFIG}")
        run = train(cfg, resume=rd, device=args.device, progress=not args.no_progress,
                    max_steps_this_run=args.max_steps)
    else:
        if not args.config:
            raise HdrliftError("give a config file or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        check_config(cfg, where=args.config)
        if args.out:
            cfg.out_dir = args.out
        from hdrlift.rundir import is_run_dir

        if is_run_dir(cfg.out_dir):
            raise HdrliftError(f"{cfg.out_dir}: run exists; use --resume {cfg.out_dir} or another --out")
        run = train(cfg, device=args.device, progress=not args.no_progress, max_steps_this_run=args.max_steps)
    print(f"run directory: {run}")
    return 0
