"""Benchmark of the four networks: time, peak RSS, GMAC; tile-size sweep; DEU/SES vs tiling; ONNX speed.

One command for the full table (each (model, size) in a fresh subprocess, so peak RSS is per case):

    python benchmarks/bench_models.py --sizes 512,1080p,4k,6000x4000 --out benchmarks/results.json

Extras (each optional):
    --tile-sweep 256,512,1024   forward time of each model at --sweep-size for these tile sizes
    --strategies IMAGE          tile / DEU / SES vs the untiled output on a real HDR image (converted to
                                8-bit LDR: exposure so the 90th percentile of luminance is 0.8, clip, sRGB)
    --onnx                      onnxruntime CPU median at 512x512 of each exported model

Random-initialised weights unless --models names shipped weights or checkpoint directories: the speed
and memory numbers do not depend on the weights; the strategy comparison measures consistency with
the untiled output, which for random weights is indicative only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hdrlift.tools.bench import compare_strategies, parse_sizes, run_bench
from hdrlift.tools.evaluate import format_table

MODELS = "hdrunet,twostage,uhd_bilateral,duhdr"
COLS = ["model", "size", "kernel", "median_s", "peak_rss_mb", "gmac", "gmac_per_s", "ratio_to_floor", "tile", "tiles",
        "tile_overhead", "error"]


def ldr_from_hdr(path: str, max_side: int) -> np.ndarray:
    """8-bit sRGB LDR of an HDR file (down-scaled so its long side is at most ``max_side``)."""
    import torch
    import torch.nn.functional as F

    from hdrlift.io import read_image
    from hdrlift.ops.transfer import linear_to_srgb

    hdr = np.asarray(read_image(path), dtype=np.float32)[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(hdr.transpose(2, 0, 1)))[None]
    s = min(1.0, max_side / max(x.shape[-2:]))
    if s < 1.0:
        x = F.interpolate(x, scale_factor=s, mode="area")
    lum = 0.2126 * x[:, 0] + 0.7152 * x[:, 1] + 0.0722 * x[:, 2]
    x = x * (0.8 / max(float(torch.quantile(lum.flatten()[::7], 0.9)), 1e-8))
    ldr = linear_to_srgb(x.clamp(0, 1))[0].permute(1, 2, 0).numpy()
    return (ldr * 255.0 + 0.5).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--sizes", default="512,1080p,4k,6000x4000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-memory", default=None, help="budget per case (default 1GB)")
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    ap.add_argument("--tile-sweep", default="", help="comma list of tile sizes")
    ap.add_argument("--sweep-size", default="1080p")
    ap.add_argument("--strategies", default="", metavar="IMAGE", help="HDR image for the DEU/SES comparison")
    ap.add_argument("--strategy-side", type=int, default=1024, help="long side of the comparison image")
    ap.add_argument("--strategy-tile", type=int, default=256)
    ap.add_argument("--onnx", action="store_true")
    ap.add_argument("--skip-main", action="store_true", help="only the extras")
    ap.add_argument("--out", default="benchmarks/results.json")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    result: dict = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "models": models}

    if not args.skip_main:
        rows = run_bench(models, parse_sizes(args.sizes), runs=args.runs, tile=args.tile,
                         max_memory=args.max_memory, threads=args.threads, timeout=args.timeout)
        print(format_table(rows, COLS))
        result["cases"] = rows
    if args.tile_sweep:
        sweep = []
        for t in (int(v) for v in args.tile_sweep.split(",")):
            sweep += run_bench(models, parse_sizes(args.sweep_size), runs=args.runs, tile=t, threads=args.threads,
                               timeout=args.timeout)
        print(format_table(sweep, ["model", "size", "tile", "tiles", "tile_overhead", "median_s", "peak_rss_mb"]))
        result["tile_sweep"] = sweep
    if args.strategies:
        ldr = ldr_from_hdr(args.strategies, args.strategy_side)
        comp = []
        for m in models:
            comp += compare_strategies(m, ldr, args.strategy_tile, threads=args.threads)
        print(format_table(comp, ["model", "strategy", "tile", "seconds", "psnr_mu", "max_rel_err"]))
        result["strategies"] = {"image": args.strategies, "size": list(ldr.shape[:2]), "rows": comp}
    if args.onnx:
        from hdrlift.tools.export import export_onnx, onnx_speed

        onnx_rows = []
        with tempfile.TemporaryDirectory() as d:
            for m in models:
                info = export_onnx(m, Path(d) / f"{m}.onnx", size=(256, 256))
                info["ort_512_s"] = onnx_speed(info["path"], (512, 512), runs=args.runs, threads=args.threads)
                onnx_rows.append({k: info[k] for k in ("model", "opset", "max_abs_diff", "ort_512_s")})
        print(format_table(onnx_rows, ["model", "opset", "max_abs_diff", "ort_512_s"]))
        result["onnx"] = onnx_rows
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
