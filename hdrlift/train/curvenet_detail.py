"""Train CurveNet's degradation branch and calibrate its detail gate (issue #22).

    python -m hdrlift.train.curvenet_detail --init components/curvenet.polyhaven --out runs/curvenet_detail \\
        --calibrate twostage.polyhaven

On noisy or JPEG-compressed photos the networks' own fine detail (their denoising) beats the photo's
pixels; on clean photos the photo's pixels win by dB (the generalisation suite, BENCHMARKS.md section
1). Which case a photo is, is a property of its camera, not of its scene, and it is visible at native
resolution. This script:

1. starts from a trained CurveNet (``--init``; its exponent part is frozen and kept bit for bit) and adds
   the degradation branch (:class:`hdrlift.models.curvenet.CurveNet`, ``detail_width``);
2. trains the branch to regress the relative noise at mid-grey from native-resolution crops of captures
   of the v2 *training* scenes (the JPEG grid statistic needs no training) by the project's camera model
   (relative noise, 4:2:0 JPEG q50-100, 30 % clean captures; the training DoRF curves). The
   suite's held-out camera (Poisson noise, 4:4:4 JPEG, held-out curves) is never sampled;
3. calibrates ``detail_gate`` (3 numbers, logistic regression) on the *training* scenes: the suite's
   cameras a_default, c_srgb, c_srgb_clean (not the held-out b) capture them, ``--calibrate`` (a method)
   is run on each capture and the label is whether its detail beats the photo's pixels there (weighted
   by the PSNR-mu difference);
4. reports the gate on the validation suite (21 scenes never trained on, all four parts) and writes
   ``OUT/best`` (an hdrlift checkpoint) and ``OUT/log.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: mid-grey at which the noise target is measured (linear, 1.0 = clipping)
GREY = 0.18
#: floor added to the relative noise before log10 (a clean 8-bit capture's order)
NOISE_FLOOR = 0.003
#: fraction of clean captures (no noise, no JPEG) in the branch's training data
CLEAN_FRACTION = 0.3
#: the blend whose detail the gate weighs: (tau, mid, sigma) of :func:`hdrlift.ops.blend.blend_with_decoded`
DETAIL_BLEND = (0.9, 0.0, 1.0)


def degradation_targets(params: Any) -> tuple[float, float]:
    """``(noise, jpeg)`` targets of a capture's :class:`~hdrlift.degrade.camera.CameraParams`: log10 of the
    mean relative noise std at mid-grey plus :data:`NOISE_FLOOR`, and ``(100 - q) / 50`` (0 without JPEG)."""
    rel = []
    for s, r in zip(params.shot_sigma, params.read_sigma):
        var = (s * GREY) ** 2 if params.noise_model == "relative" else s * s * GREY
        rel.append(math.sqrt(var + r * r) / GREY)
    q = params.jpeg_quality
    return math.log10(float(np.mean(rel)) + NOISE_FLOOR), 0.0 if q is None else (100.0 - q) / 50.0


def make_dataset(files: list[Path], n: int, seed: int, crop: int, crf_file: str | None,
                 crops_per_capture: int = 2) -> dict[str, torch.Tensor]:
    """``n`` captures' native-resolution crops (n * crops_per_capture, 3, crop, crop) uint8 and their
    targets (.., 2) float32."""
    from hdrlift.data.hdr_folder import load_hdr_images
    from hdrlift.degrade import CameraConfig, sample_params, simulate
    from hdrlift.train.curvenet import TRAIN_CRF_WEIGHTS, _views

    weights = dict(TRAIN_CRF_WEIGHTS)
    if crf_file is None:
        del weights["table"]
    base: dict[str, Any] = {"crf_weights": weights, "crf_table_path": crf_file, "crf_table_subset": "train"}
    cams = [CameraConfig(**base, jpeg_quality=(50, 100)), CameraConfig(**base, noise_prob=0.0, jpeg_prob=0.0)]
    imgs, _ = load_hdr_images(files)
    rng = np.random.default_rng(seed)
    g_torch = torch.Generator().manual_seed(seed)
    xs: list[torch.Tensor] = []
    ys: list[tuple[float, float]] = []
    t0 = time.time()
    for i in range(n):
        img = imgs[int(rng.integers(len(imgs)))]
        view = _views(img, rng, int(rng.integers(200, 420)))
        cam = cams[1] if rng.random() < CLEAN_FRACTION else cams[0]
        params = sample_params(cam, g_torch, view)
        res = simulate(view, params)
        assert isinstance(res.ldr, torch.Tensor)
        t = degradation_targets(params)
        h, w = res.ldr.shape[-2:]
        for _ in range(crops_per_capture):
            y0, x0 = int(rng.integers(0, max(1, h - crop + 1))), int(rng.integers(0, max(1, w - crop + 1)))
            c = res.ldr[:, y0:y0 + crop, x0:x0 + crop]
            if c.shape[-2:] != (crop, crop):
                c = torch.nn.functional.pad(c, (0, crop - c.shape[-1], 0, crop - c.shape[-2]), mode="replicate")
            xs.append((c * 255.0).round().clamp(0, 255).to(torch.uint8))
            ys.append(t)
        if (i + 1) % 1000 == 0:
            print(f"  data {i + 1}/{n} ({time.time() - t0:.0f} s)", flush=True)
    return {"x": torch.stack(xs), "y": torch.tensor(ys, dtype=torch.float32)}


def _suite_gains(method: str, pairs: list[Any], model: Any, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: PSNR-mu of the method's output in the detail blend minus in the per-pixel blend, and the
    branch's (noise, jpeg) regression; both with the estimator's decoded photo."""
    from hdrlift.inference.predictor import Predictor, set_threads
    from hdrlift.ops.blend import blend_with_decoded
    from hdrlift.tools.suite import pair_metrics

    set_threads(threads)
    pred = Predictor(method, blend="none")
    diffs, degr = [], []
    for pr in pairs:
        out = torch.from_numpy(np.asarray(pred(pr.ldr))).permute(2, 0, 1)
        x = torch.from_numpy(pr.ldr).permute(2, 0, 1)
        with torch.no_grad():
            dec = model(x[None])[0]
            degr.append(model.degradation(x[None])[0].numpy())
        tau, mid, sigma = DETAIL_BLEND
        hwc = [blend_with_decoded(x, out, tau, mid, sigma, decoded=dec, detail=d).permute(1, 2, 0).numpy()
               for d in (1.0, 0.0)]
        p1, p0 = (pair_metrics(pr.hdr, o, pr.ldr)["psnr_mu"] for o in hwc)
        diffs.append(p1 - p0)
    return np.asarray(diffs), np.asarray(degr)


def fit_gate(diff: np.ndarray, degr: np.ndarray, iters: int = 3000) -> tuple[float, float, float]:
    """Logistic regression of ``diff > 0`` on ``(noise, jpeg)``, each sample weighted by ``|diff|`` (what a
    wrong choice costs), a little L2; returns ``(a, b_noise, b_jpeg)``."""
    x = torch.tensor(np.c_[np.ones(len(diff)), degr], dtype=torch.float64)
    y = torch.tensor(diff > 0, dtype=torch.float64)
    w = torch.tensor(np.abs(diff), dtype=torch.float64)
    w = w / w.sum()
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], max_iter=iters, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = x @ theta
        loss = (w * torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")).sum()
        loss = loss + 1e-4 * (theta[1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    a, bn, bj = (float(v) for v in theta.detach())
    return a, bn, bj


def main(argv: list[str] | None = None) -> int:
    from hdrlift.checkpoint import save_model
    from hdrlift.data.splits import read_split
    from hdrlift.inference.methods import resolve_method
    from hdrlift.models import create_model
    from hdrlift.models.curvenet import CurveNet
    from hdrlift.tools.suite import DEFAULT_CRF_FILE, PARTS, build_suite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True, help="trained CurveNet (weight or checkpoint) whose exponent part is kept")
    ap.add_argument("--out", type=Path, required=True, help="output folder (best/, log.jsonl)")
    ap.add_argument("--calibrate", default="twostage.polyhaven", help="method whose detail the gate weighs")
    ap.add_argument("--root", default="../shared/data/hdr")
    ap.add_argument("--train-split", default="configs/splits/hdr_v2_train.txt")
    ap.add_argument("--val-split", default="configs/splits/hdr_v2_val.txt")
    ap.add_argument("--crf-file", default=DEFAULT_CRF_FILE, help="DoRF curves ('' = parametric curves only)")
    ap.add_argument("--detail-width", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--samples", type=int, default=8000, help="training captures (2 crops each)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-cache", help="reuse / write the generated crops here (.pt)")
    ap.add_argument("--val-limit", type=int, default=0, help="validation / calibration scenes (0 = all)")
    ap.add_argument("--skip-jpeg-crops", action="store_true",
                    help="train the noise regressor on the crops that were never JPEG compressed only (JPEG "
                    "removes the noise it is to see; the grid statistic finds JPEG)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    init = resolve_method(args.init).model
    if not isinstance(init, CurveNet):
        print(f"error: {args.init}: not a CurveNet", file=sys.stderr)
        return 2
    hp = dict(init.hparams)
    hp.update(detail_width=args.detail_width, detail_crop=args.crop)
    model = create_model("curvenet", **hp)
    assert isinstance(model, CurveNet)
    kept = {k: v for k, v in init.state_dict().items() if not k.startswith("detail_")}  # a fresh branch
    missing, unexpected = model.load_state_dict(kept, strict=False)
    if unexpected or any(not k.startswith("detail_") for k in missing):
        print(f"error: {args.init}: state does not match CurveNet ({unexpected} {missing})", file=sys.stderr)
        return 2
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("detail_"))
    crf = args.crf_file or None
    if crf is not None and not Path(crf).is_file():
        crf = None
    train_files = read_split(args.train_split, args.root)
    val_files = read_split(args.val_split, args.root)
    if args.val_limit:
        train_files, val_files = train_files[: args.val_limit], val_files[: args.val_limit]
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "log.jsonl").open("a")
    t0 = time.time()
    key = json.dumps({"samples": args.samples, "seed": args.seed, "crop": args.crop, "crf": crf,
                      "split": args.train_split}, sort_keys=True)
    data = None
    if args.data_cache and Path(args.data_cache).is_file():
        cached = torch.load(args.data_cache, weights_only=True)
        data = cached["data"] if cached.get("key") == key else None
    if data is None:
        data = make_dataset(read_split(args.train_split, args.root), args.samples, args.seed, args.crop, crf)
        if args.data_cache:
            tmp = Path(args.data_cache).with_suffix(".tmp")
            torch.save({"key": key, "data": data}, tmp)
            tmp.replace(args.data_cache)
    xs, ys = data["x"], data["y"]
    if args.skip_jpeg_crops:
        keep = ys[:, 1] == 0
        xs, ys = xs[keep], ys[keep]
    n = len(ys)
    n_val = max(1, n // 20)  # a held-back tail of the crops: fit of the regression only
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    steps = args.epochs * math.ceil((n - n_val) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(n - n_val, generator=gen)
        tot = 0.0
        for i in range(0, n - n_val, args.batch):
            idx = perm[i : i + args.batch]
            xb = xs[idx].float() / 255.0
            if torch.rand((), generator=gen) < 0.5:
                xb = xb.flip(-1)
            loss = torch.nn.functional.mse_loss(model.noise_of_crops(xb), ys[idx, 0])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            pv = model.noise_of_crops(xs[n - n_val :].float() / 255.0)
        held = float(torch.nn.functional.mse_loss(pv, ys[n - n_val :, 0]))
        rec = {"epoch": epoch, "loss": tot / (n - n_val), "held_mse": held, "seconds": round(time.time() - t0, 1)}
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
    model.eval()
    cal_pairs = build_suite(train_files, [p for p in PARTS if p != "b_heldout"], crf_file=args.crf_file)
    diff, degr = _suite_gains(args.calibrate, cal_pairs, model, args.threads)
    gate = fit_gate(diff, degr)
    model.detail_gate = gate
    model.hparams["detail_gate"] = list(gate)
    z = gate[0] + degr @ np.array(gate[1:])
    cal = {"pairs": len(diff), "gate": list(gate), "agree": float(np.mean((z > 0) == (diff > 0))),
           "mean_gain_gated": float(np.mean(diff / (1 + np.exp(-z)))), "mean_gain_all_detail": float(diff.mean()),
           "mean_gain_oracle": float(np.maximum(diff, 0).mean())}
    print(json.dumps({"calibration": cal}), flush=True)
    val_parts = [p for p in PARTS if p != "b_heldout" or crf is not None]  # b needs the DoRF file
    val_pairs = build_suite(val_files, val_parts, crf_file=args.crf_file)
    vdiff, vdegr = _suite_gains(args.calibrate, val_pairs, model, args.threads)
    vz = gate[0] + vdegr @ np.array(gate[1:])
    val: dict[str, Any] = {}
    for part in PARTS:
        m = np.array([p.group == part for p in val_pairs])
        if m.any():
            val[part] = {"agree": float(np.mean((vz[m] > 0) == (vdiff[m] > 0))),
                         "gain_gated": float(np.mean(vdiff[m] / (1 + np.exp(-vz[m])))),
                         "gain_all_detail": float(vdiff[m].mean()),
                         "gain_oracle": float(np.maximum(vdiff[m], 0).mean()),
                         "detail_mean": float(np.mean(1 / (1 + np.exp(-vz[m]))))}
    print(json.dumps({"validation": val}), flush=True)
    log.write(json.dumps({"calibration": cal, "validation": val}) + "\n")
    log.close()
    meta = dict((getattr(init, "checkpoint_config", None) or {}).get("meta", {}))
    meta.update({
        "detail_command": "python -m hdrlift.train.curvenet_detail "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "detail_samples": args.samples, "detail_crops_trained": int(n - n_val), "detail_epochs": args.epochs,
        "detail_calibration": cal, "detail_validation": val, "detail_wall_minutes": round((time.time() - t0) / 60, 1),
    })
    save_model(model, args.out / "best", meta=meta)
    print(f"wrote {args.out / 'best'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
