"""How much of the camera curve can a single image tell? A regression test of the camera model's curves.

    python benchmarks/crf_identifiability.py [--data ../shared/data/hdr] [--per-image 40] [--side 256]

Captures every training image (configs/splits/hdr_train.txt) ``--per-image`` times and every validation
image (hdr_val.txt) half as often with the project's camera model (``CameraConfig`` defaults, exposures
-1 .. +1.5 stops around the auto exposure, images down-scaled to ``--side`` px), then fits a ridge
regression from global image statistics to the camera's inverse curve (128 samples, NTIRE mu-law mapped,
the domain of ``hdrlift.losses.duhdr.loss_curve``) on the training captures and scores it on the
validation captures. Statistics: 32-bin histograms of R, G, B and their mean, and the mean gradient
magnitude in 16 brightness bins (edge contrast against brightness: what a curve's slope changes).

Prints, as mean L1 between mu-law mapped inverse curves on the validation captures: the best constant
curve (the median of the training curves), and the regression at several ridge strengths (train / val).
A regression no better than the constant means these statistics carry no curve information that
generalises to unseen scenes. JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

MU = 5000.0


def mu_map(y: np.ndarray) -> np.ndarray:
    return np.log1p(MU * np.clip(y, 0.0, None)) / np.log1p(MU)


def image_stats(ldr: np.ndarray) -> np.ndarray:
    """Global statistics of an encoded LDR image. Shape: (3, H, W) in [0, 1] -> (144,)"""
    hists = [np.histogram(c, bins=32, range=(0.0, 1.0))[0] / c.size for c in (*ldr, ldr.mean(0))]
    lum = ldr.mean(0)
    grad = np.abs(np.diff(lum, axis=1))[:-1] + np.abs(np.diff(lum, axis=0))[:, :-1]
    bins = np.clip((lum[:-1, :-1] * 16).astype(int), 0, 15)
    sums = np.bincount(bins.ravel(), grad.ravel(), 16)
    counts = np.bincount(bins.ravel(), None, 16)
    return np.concatenate([*hists, sums / np.maximum(counts, 1)])


def captures(files: list[Path], n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from hdrlift import io
    from hdrlift.degrade.camera import compute_hdr_stats, crf_curve, sample_params, simulate
    from hdrlift.degrade.config import CameraConfig
    from hdrlift.degrade.crf import invert_curve_numpy

    cfg = CameraConfig(exposure_stops=(-1.0, 1.5))
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for f in files:
        t = torch.from_numpy(np.ascontiguousarray(io.read_image(f), dtype=np.float32)).permute(2, 0, 1)[None]
        if max(t.shape[-2:]) > side:
            t = F.interpolate(t, scale_factor=side / max(t.shape[-2:]), mode="area")
        hdr = t[0].clamp(min=0.0)
        stats = compute_hdr_stats(hdr)
        for _ in range(n):
            params = sample_params(cfg, gen, stats)
            ldr = simulate(hdr, params).ldr
            xs.append(image_stats(ldr.numpy() if isinstance(ldr, torch.Tensor) else ldr))
            ys.append(mu_map(invert_curve_numpy(crf_curve(params, 1024)))[::8])
    return np.asarray(xs), np.asarray(ys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/hdr")
    ap.add_argument("--per-image", type=int, default=40)
    ap.add_argument("--side", type=int, default=256)
    args = ap.parse_args()
    from hdrlift.data.splits import read_split

    train = read_split("configs/splits/hdr_train.txt", Path(args.data))
    val = read_split("configs/splits/hdr_val.txt", Path(args.data))
    xtr, ytr = captures(train, args.per_image, args.side, seed=1)
    xva, yva = captures(val, max(1, args.per_image // 2), args.side, seed=2)
    const = np.median(ytr, axis=0)
    ridge: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"train_captures": len(xtr), "val_captures": len(xva),
                           "constant_val": float(np.abs(yva - const).mean()), "ridge": ridge}
    print(f"{len(xtr)} training / {len(xva)} validation captures; curve error = mean L1 of mu-law inverse curves")
    print(f"best constant curve (median of the training curves): val {out['constant_val']:.4f}")
    mx, sx = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mx) / sx, (xva - mx) / sx
    ymean = ytr.mean(0)
    for lam in (1.0, 10.0, 100.0, 1000.0):
        w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (ytr - ymean))
        tr, va = float(np.abs(a @ w + ymean - ytr).mean()), float(np.abs(b @ w + ymean - yva).mean())
        ridge[str(lam)] = {"train": tr, "val": va}
        print(f"ridge regression, strength {lam:g}: train {tr:.4f}  val {va:.4f}")
    print(json.dumps(out))


if __name__ == "__main__":
    from hdrlift.errors import run_script

    run_script(main)  # a bad path or data: one line, no traceback
