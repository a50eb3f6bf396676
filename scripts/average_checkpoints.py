"""Average the weights of several checkpoints of one run into a new checkpoint directory.

    python scripts/average_checkpoints.py runs/hdrunet_cpu_v3 step-0004000 step-0004500 step-0005000 \
        [-o runs/hdrunet_cpu_v3/averaged/avg-4000-5000]

Short CPU trainings swing by a few tenths of a dB PSNR-mu from one checkpoint to the next; the mean of
the last few checkpoints (weight averaging) is usually as good as the best of them without selecting on
a validation set. Evaluate the result like any checkpoint (``hdrlift evaluate --model DIR``) and ship it
with ``scripts/ship_weights.py RUN --name arch.tag --checkpoint DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's hdrlift, whatever is installed
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from hdrlift import rundir
    from hdrlift.checkpoint import average_checkpoints
    from hdrlift.errors import HdrliftError

    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("checkpoints", nargs="+", help="checkpoint directory names under RUN/checkpoints")
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args(argv)
    dirs = [args.run / rundir.CHECKPOINTS / c for c in args.checkpoints]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        print(f"no such checkpoint: {', '.join(missing)}", file=sys.stderr)
        return 1
    steps = [str(rundir.step_of(d)) if rundir.step_of(d) >= 0 else d.name for d in dirs]
    out = args.out or args.run / "averaged" / f"avg-{'-'.join(steps)}"
    if out.exists():
        print(f"{out}: exists", file=sys.stderr)
        return 1
    try:
        average_checkpoints(dirs, out)
    except HdrliftError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out} (mean of {len(dirs)} checkpoints)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
