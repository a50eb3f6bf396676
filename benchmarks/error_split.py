"""Split a method's PSNR-mu error on NTIRE pairs into a smooth part, a detail part and a bias.

    python benchmarks/error_split.py PAIRS_DIR METHOD [METHOD ...] [--every 3] [--limit 10]

For each pair (every ``--every``-th of the manifest, at most ``--limit``) and each method (operator name or
weight), in the NTIRE tone-mapped domain (``T(x) = log(1 + 5000 tanh(x / n)) / log(5001)``, n = 99th
percentile of the reference): the RMS of the error's 15x15 box-filtered part ("smooth": tone and exposure
errors), the RMS of the rest ("detail": noise, blur, texture) and the mean error ("bias": > 0 = brighter
than the reference). Prints one line per pair and method and the means. PAIRS_DIR: an NTIRE-layout
folder from `hdrlift degrade`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("methods", nargs="+")
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args()
    from hdrlift import io
    from hdrlift.data.ntire import ntire_records
    from hdrlift.inference.api import reconstruct
    from hdrlift.metrics.ntire import ntire_mu_norm, ntire_mu_tonemap, psnr_mu
    from hdrlift.tools.evaluate import manifest_field, read_reference

    records = ntire_records(args.pairs)[:: args.every][: args.limit]
    # id -> capture name (e.g. CandleGlass_ev-1.0), from hdrlift degrade's manifest.csv when there is one
    manifest = manifest_field(args.pairs, "name") if (args.pairs / "manifest.csv").is_file() else {}
    sums: dict[str, list[np.ndarray]] = {m: [] for m in args.methods}
    for rec in records:
        ldr = io.read_image(rec.ldr)  # sRGB-encoded, [0, 1]
        ref = read_reference(rec.target)
        n = ntire_mu_norm(ref)
        for m in args.methods:
            out = np.asarray(reconstruct(ldr, method=m))
            err = ntire_mu_tonemap(out, n) - ntire_mu_tonemap(ref, n)
            smooth = uniform_filter(err, (15, 15, 1))
            vals = np.array([psnr_mu(ref, out), np.sqrt((smooth**2).mean()), np.sqrt(((err - smooth) ** 2).mean()),
                             err.mean()])
            sums[m].append(vals)
            print(f"{manifest.get(rec.name, rec.name)[:28]:<28} {m:<24} PSNR-mu {vals[0]:6.2f}  smooth {vals[1]:.4f}  "
                  f"detail {vals[2]:.4f}  bias {vals[3]:+.4f}")
    for m, v in sums.items():
        a = np.mean(v, axis=0)
        print(f"mean over {len(v)} pairs  {m:<24} PSNR-mu {a[0]:6.2f}  smooth {a[1]:.4f}  detail {a[2]:.4f}  "
              f"bias {a[3]:+.4f}")


if __name__ == "__main__":
    from hdrlift.errors import run_script

    run_script(main)  # a bad path or data: one line, no traceback
