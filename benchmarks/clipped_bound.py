"""How low can the clipped-pixel error go? Oracle fits of the true log2 luminance inside clipped regions.

    python benchmarks/clipped_bound.py PAIRS_DIR [--method linear --method twostage.polyhaven ...]

The ``clipped_rmse`` metric is the RMSE of log2 luminance over the pixels whose LDR max channel is >= 0.99.
For each NTIRE pair of PAIRS_DIR (``hdrlift degrade --layout ntire``) this script fits the *true*
log2 luminance of those pixels with predictors that are given the answer, so each is a lower bound for
any method that only predicts what the predictor can express:

* ``oracle image constant``: one value per image (the true mean): the RMSE is the spread of the truth;
* ``oracle region constant``: one value per connected clipped region (8-connected blob);
* ``oracle image features``: least squares per image on features a method can see: log(1 + distance to
  the region's edge) and its square, log region area, the LDR min and mean channel and min channel^2;
* ``oracle region features``: the same least squares per clipped region (regions of <= 10 pixels: their mean).

Each row is the mean over pairs with clipped pixels, like ``hdrlift evaluate``'s ``clipped_rmse``; methods
given with ``--method`` are scored alongside (the real metric).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hdrlift.tools.suite import ORACLES, oracle_rmses  # one owner: the suite module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pairs", type=Path, help="NTIRE-layout pairs folder from hdrlift degrade")
    ap.add_argument("--method", action="append", default=[], help="also score this method (repeatable)")
    args = ap.parse_args()
    from hdrlift.errors import DataError
    from hdrlift.inference.api import reconstruct
    from hdrlift.metrics.clipped import clipped_log_rmse
    from hdrlift.tools.evaluate import iter_ntire_pairs

    rows: dict[str, list[float]] = {k: [] for k in (*ORACLES, *args.method)}
    for pair in iter_ntire_pairs(args.pairs):
        ldr, ref = pair.ldr, pair.hdr
        o = oracle_rmses(ref, ldr)
        if o is None:
            continue
        for k, v in o.items():
            rows[k].append(v)
        for m in args.method:
            rows[m].append(clipped_log_rmse(ref, np.asarray(reconstruct(ldr, method=m)), ldr))
    n = len(rows[ORACLES[0]])
    if n == 0:
        raise DataError(f"{args.pairs}: no pair has clipped pixels (LDR max channel >= 0.99)")
    print(f"clipped_rmse (stops), mean over {n} pairs with clipped pixels of {args.pairs}")
    for k, errs in rows.items():
        print(f"  {k:<28} {np.mean(errs):.3f}")


if __name__ == "__main__":
    from hdrlift.errors import run_script

    run_script(main)  # a bad path or data: one line, no traceback
