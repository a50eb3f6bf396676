"""Where the clipped-pixel error comes from: per-region level against structure, on the generalisation suite.

    python benchmarks/clipped_decomposition.py --method twostage.polyhaven [--blend auto] [--parts a_default,b_heldout]

For each pair of the suite (:mod:`hdrlift.tools.suite`, validation scenes, 384 px) the method's output -
with the blend its weight declares, or ``--blend`` - is aligned as the suite aligns it and its clipped
error split by :func:`hdrlift.metrics.clipped.clipped_error_decomposition`. Per part: the mean of each
term over the pairs with clipped pixels, beside the per-region oracle (the acceptance bar of issue #22),
how many pairs are already at or below the oracle, and how much of the mean gap to the oracle the five
worst pairs carry.
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from hdrlift.data.splits import read_split
    from hdrlift.inference.predictor import Predictor
    from hdrlift.metrics.clipped import DECOMPOSITION, clipped_error_decomposition
    from hdrlift.tools.suite import DEFAULT_CRF_FILE, PARTS, align_on_well_exposed, build_suite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", action="append", default=[], help="method to decompose (repeatable)")
    ap.add_argument("--blend", default="auto", help="blend for the networks (default: what each weight declares)")
    ap.add_argument("--root", default="../shared/data/hdr", help="HDR data folder (default: %(default)s)")
    ap.add_argument("--split", default="configs/splits/hdr_v2_val.txt", help="scene list (default: %(default)s)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts (default: the four of the shipping "
                    "rule; on request the diagnostic d_processed and d_localtone: the held-out camera with in-camera "
                    "saturation and sharpening, or with local tone mapping)")
    ap.add_argument("--max-side", type=int, default=384, help="long side of the captures (default: %(default)s)")
    ap.add_argument("--crf-file", default=DEFAULT_CRF_FILE, help="DoRF curves for the held-out camera")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    pairs = build_suite(read_split(args.split, args.root), [p for p in args.parts.split(",") if p], args.max_side,
                        crf_file=args.crf_file)
    for m in args.method or ["twostage.polyhaven"]:
        pred = Predictor(m, blend=args.blend)
        rows: dict[str, list[dict[str, float]]] = {}
        for pr in pairs:
            out = np.maximum(np.asarray(pred(pr.ldr)), 0.0)
            d = clipped_error_decomposition(pr.hdr, out * align_on_well_exposed(pr.hdr, out, pr.ldr), pr.ldr)
            if d is not None:
                rows.setdefault(pr.group, []).append(d)
        print(f"{m} (blend {args.blend}): clipped error in stops, mean over the pairs with clipped pixels")
        print(f"  {'part':<14} {'n':>3} " + " ".join(f"{k:>26}" for k in DECOMPOSITION)
              + "  at/below oracle  top-5 share of the gap")
        for part, ds in rows.items():
            a = {k: np.array([d[k] for d in ds]) for k in DECOMPOSITION}
            gap = a["rmse"] - a["oracle_region_constant"]
            share = np.sort(gap)[::-1][:5].sum() / gap.sum() if gap.sum() > 0 else float("nan")
            print(f"  {part:<14} {len(ds):>3} " + " ".join(f"{a[k].mean():>26.3f}" for k in DECOMPOSITION)
                  + f"  {int((gap <= 0).sum()):>7d} of {len(ds):<5d} {share:>10.2f}")
    return 0


if __name__ == "__main__":
    from hdrlift.errors import run_script

    run_script(main)  # a bad path or data: one line, no traceback
