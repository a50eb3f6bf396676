"""Where the PSNR-mu of an 8-bit input goes: oracle experiments on the benchmark pairs.

    python benchmarks/quality_budget.py [--data ../shared/data/hdr] [--split configs/splits/hdr_val.txt]
        [--models duhdr.polyhaven] [--networks hdrunet.polyhaven,linear]

Makes the pairs of BENCHMARKS.md section 2 (`hdrlift degrade ... --seed 0 --exposures=-1,0,1.5
--max-side 512`, same camera parameters) and scores, in PSNR-mu against the reference:

* plain sRGB decoding of the input, and of the same capture re-simulated without noise, without JPEG,
  with quantisation only, and before quantisation (the noise-free encoded image);
* the camera's true inverse curve applied to the input and to the noise-free encoded image (what a
  perfect CRF estimate gives, without and with perfect denoising; clipped pixels stay at 1);
* for each DuHDR weight given: its Dnet output decoded with sRGB and with the true curve (what its
  denoising gives), and the mu-law L1 between INnet's inverse curve and the true one, next to the same
  error of a constant sRGB guess (what its CRF estimate gives);
* the clipped-region error (``clipped_rmse``, stops) of plain linearisation, of linearisation with the
  clipped pixels multiplied by 2 or 4, and of an oracle that knows each image's best single gain for its
  clipped pixels (the spread of the true log2 luminance there: what no global highlight boost beats);
* for each network given with ``--networks`` (any method name or weight): its PSNR-mu on the input and
  on the same capture simulated without noise (does it reconstruct a clean photo as well as a noisy one?).

Prints one table (means over the pairs) and a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/hdr")
    ap.add_argument("--split", default="configs/splits/hdr_val.txt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exposures", default="-1,0,1.5")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--models", default="", help="comma-separated DuHDR weights to analyse")
    ap.add_argument("--networks", default="", help="comma-separated methods / weights to score on clean captures")
    args = ap.parse_args()

    from hdrlift.checkpoint import load_model
    from hdrlift.data.splits import read_split
    from hdrlift.data.synth import capture_pairs
    from hdrlift.degrade.camera import crf_curve, simulate
    from hdrlift.degrade.crf import crf_table, invert_curve_numpy
    from hdrlift.inference.api import reconstruct
    from hdrlift.losses.duhdr import loss_curve
    from hdrlift.metrics import clipped_log_rmse
    from hdrlift.metrics.clipped import clipped_mask
    from hdrlift.metrics.ntire import psnr_mu
    from hdrlift.ops.transfer import srgb_to_linear

    files = read_split(args.split, Path(args.data))
    exposures = tuple(float(e) for e in args.exposures.split(","))
    pairs = list(capture_pairs(files, exposures, max_side=args.max_side, seed=args.seed))
    models: dict[str, Any] = {m: load_model(m).eval() for m in filter(None, args.models.split(","))}
    srgb_inv = torch.from_numpy(invert_curve_numpy(crf_table("srgb", (), 1024))).float()[None]
    variants: dict[str, dict[str, Any]] = {
        "no noise": {"shot_sigma": (0.0, 0.0, 0.0), "read_sigma": (0.0, 0.0, 0.0)},
        "no JPEG": {"jpeg_quality": None},
        "quantisation only": {"shot_sigma": (0.0, 0.0, 0.0), "read_sigma": (0.0, 0.0, 0.0), "jpeg_quality": None},
    }
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(float(value))

    def srgb_decode(x: np.ndarray | torch.Tensor) -> np.ndarray:
        return srgb_to_linear(torch.as_tensor(x)).numpy()

    for p in pairs:
        src = p.hdr / (p.params.exposure * np.asarray(p.params.wb, np.float32))  # the scene before capture
        inv = invert_curve_numpy(crf_curve(p.params, 1024))
        grid = np.linspace(0.0, 1.0, inv.size)
        clean = simulate(src, p.params, clean_encoded=True).encoded_clean
        assert isinstance(clean, np.ndarray), "simulate(clean_encoded=True) of an array gives an array"
        add("sRGB decoding of the input (= linear)", psnr_mu(p.hdr, srgb_decode(p.ldr)))
        for name, kw in variants.items():
            ldr = simulate(src, dataclasses.replace(p.params, **kw)).ldr
            add(f"sRGB decoding, capture with {name}", psnr_mu(p.hdr, srgb_decode(ldr)))
        add("sRGB decoding of the noise-free encoded image", psnr_mu(p.hdr, srgb_decode(clean)))
        add("true inverse curve on the input", psnr_mu(p.hdr, np.interp(p.ldr, grid, inv)))
        add("true inverse curve on the noise-free encoded image", psnr_mu(p.hdr, np.interp(clean, grid, inv)))
        true_t = torch.from_numpy(inv).float()[None]
        add("curve error (mu-law L1) of a constant sRGB guess", loss_curve(srgb_inv, true_t).item())
        lin = srgb_decode(p.ldr)
        mask = clipped_mask(p.ldr, 0.99)
        if mask.any():
            for k in (1.0, 2.0, 4.0):
                boosted = lin.copy()
                boosted[mask] *= k
                err = clipped_log_rmse(p.hdr, boosted, p.ldr)
                add(f"clipped error (stops): linearisation, clipped pixels x{k:g}", err)
            w = np.array([0.2126, 0.7152, 0.0722], np.float32)
            ratio = np.log2(np.maximum(p.hdr[mask] @ w, 1e-6)) - np.log2(np.maximum(lin[mask] @ w, 1e-6))
            add("clipped error (stops): oracle best gain per image", float(ratio.std()))
        clean_capture = simulate(src, dataclasses.replace(p.params, **variants["no noise"])).ldr
        for name in filter(None, args.networks.split(",")):
            add(f"{name} on the input", psnr_mu(p.hdr, np.asarray(reconstruct(p.ldr, method=name))))
            out_clean = np.asarray(reconstruct(clean_capture, method=name))
            add(f"{name} on the capture without noise", psnr_mu(p.hdr, out_clean))
        x = torch.from_numpy(p.ldr).permute(2, 0, 1)[None]
        for name, m in models.items():
            with torch.no_grad():
                d = m.dequantize(x)[0].permute(1, 2, 0).numpy()
                est = m.estimate_crf(x)
            add(f"{name}: sRGB decoding of Dnet's output", psnr_mu(p.hdr, srgb_decode(d)))
            add(f"{name}: true inverse curve on Dnet's output", psnr_mu(p.hdr, np.interp(d, grid, inv)))
            add(f"{name}: curve error (mu-law L1) of INnet", loss_curve(est, true_t).item())
    summary = {k: round(float(np.mean(v)), 4) for k, v in rows.items()}
    width = max(len(k) for k in summary)
    print(f"{len(pairs)} pairs ({args.split}, seed {args.seed}, exposures {args.exposures}, max side {args.max_side})")
    for key, mean in summary.items():
        unit = "" if "curve error" in key or "stops" in key else " dB"
        print(f"{key:<{width}}  {mean:.4f}{unit}" if not unit else f"{key:<{width}}  {mean:.2f}{unit}")
    print(json.dumps({"pairs": len(pairs), "summary": summary}))


if __name__ == "__main__":
    main()
