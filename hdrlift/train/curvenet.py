"""Train CurveNet (hdrlift/models/curvenet.py): one camera-curve exponent per photo, from the photo.

    python -m hdrlift.train.curvenet --out runs/curvenet --samples 10000 --epochs 40

Data: views of the v2 *training* scenes (``configs/splits/hdr_v2_train.txt``; perspective views of
the panoramas, random crops of the flat photos), each captured by a random camera: sRGB, gamma,
filmic, EMoR-basis curves and the *training* DoRF curves (``crf_table_subset="train"``; the held-out
fifth stays unseen for the suite's part b), the default noise and JPEG, 1-15 % clipped pixels.
Target per capture: the oracle exponent ``g`` of ``srgb_to_linear(ldr) ** g`` fitted to the true
luminance on the well-exposed pixels (least squares in log2, with a free scale, as the suite aligns).
Loss (``--loss db``, the default): ``log(e0 + var(log2 Y_lin) * (g_pred - g)^2) - log(e0)`` with
``e0`` the squared log2 error left at the oracle exponent (plus a quantisation floor): the extra error
of a wrong exponent *in decibels*, as the suite averages PSNR. A clean sRGB photo (tiny ``e0``) is
then expensive to get wrong, as it is on the suite; ``--loss mse`` is the plain excess error.

Checkpoints are picked on the suite's four parts (21 validation scenes, never trained on): the
smallest PSNR-mu gain over sRGB decoding, the suite score. Writes ``OUT/best`` and ``OUT/last``
(hdrlift checkpoints) and ``OUT/log.jsonl``. Deterministic for a given ``--seed``.
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

#: kinds of view of a panorama and their probabilities (``--views mix``): a pinhole view, the whole
#: equirectangular image (as photos of panoramas are often shown, and as the suite and the
#: independent sets capture them), a crop of it
PANORAMA_VIEWS = {"perspective": 0.4, "whole": 0.3, "crop": 0.3}


def _views(img: np.ndarray, rng: np.random.Generator, size: int, mix: bool = False) -> torch.Tensor:
    """A random view (3, h, w) linear of one scene: for panoramas a perspective view (or, with ``mix``,
    one of :data:`PANORAMA_VIEWS`), a crop otherwise."""
    import torch.nn.functional as F

    from hdrlift.data.hdr_folder import perspective_view

    h, w = img.shape[:2]
    kind = "perspective"
    if mix and w == 2 * h:
        kind = str(rng.choice(list(PANORAMA_VIEWS), p=list(PANORAMA_VIEWS.values())))
    if kind == "whole":
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        out = (max(8, size // 2), size)
        v = F.interpolate(t, size=out, mode="bilinear", antialias=True, align_corners=False)[0]
        return (v.flip(-1) if rng.random() < 0.5 else v).clamp(min=0).contiguous()
    if w == 2 * h and kind == "perspective":
        v = perspective_view(img, size, yaw=float(rng.uniform(-180, 180)), pitch=float(rng.uniform(-25, 35)),
                             roll=float(rng.uniform(-8, 8)), fov=float(rng.uniform(50, 100)))
    else:
        s = float(rng.uniform(0.45, 1.0))
        ch, cw = max(8, int(h * s)), max(8, int(w * s))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = torch.from_numpy(np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])).permute(2, 0, 1)[None].float()
        v = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    a = float(rng.uniform(0.6, 1.0))  # aspect ratio: crop the square view
    if rng.random() < 0.5:
        v = v[:, : max(8, int(size * a)), :]
    else:
        v = v[:, :, : max(8, int(size * a))]
    if rng.random() < 0.5:
        v = v.flip(-1)
    return v.clamp(min=0).contiguous()


#: curve kinds of the training captures (``table`` = the training DoRF curves, when the file exists)
TRAIN_CRF_WEIGHTS = {"srgb": 0.35, "gamma": 0.1, "filmic": 0.1, "basis": 0.15, "table": 0.3}


def make_dataset(files: list[Path], n: int, seed: int, side: int, crf_file: str | None,
                 views: str = "perspective") -> dict[str, torch.Tensor]:
    """``n`` training captures: thumbnails (n, 3, side, side) float16, targets g (n,), weights w (n,)
    (variance of log2 decoded luminance) and residuals e0 (n,) (squared log2 error at the target).

    ``crf_file=None`` (no DoRF file): the captures use the parametric curves only. ``views``:
    ``perspective`` (pinhole views of panoramas) or ``mix`` (:data:`PANORAMA_VIEWS`)."""
    from hdrlift.data.hdr_folder import load_hdr_images
    from hdrlift.degrade import CameraConfig, sample_params, simulate
    from hdrlift.models.curvenet import thumbnail
    from hdrlift.tools.suite import oracle_exponent

    weights = dict(TRAIN_CRF_WEIGHTS)
    if crf_file is None:
        del weights["table"]
    cam = CameraConfig(crf_weights=weights, crf_table_path=crf_file, crf_table_subset="train")
    imgs, _ = load_hdr_images(files)
    rng = np.random.default_rng(seed)
    g_torch = torch.Generator().manual_seed(seed)
    thumbs: list[torch.Tensor] = []
    gs: list[float] = []
    ws: list[float] = []
    es: list[float] = []
    t0 = time.time()
    while len(gs) < n:
        img = imgs[int(rng.integers(len(imgs)))]
        view = _views(img, rng, int(rng.integers(160, 400)), mix=views == "mix")
        res = simulate(view, sample_params(cam, g_torch, view))
        assert isinstance(res.ldr, torch.Tensor) and isinstance(res.hdr_target, torch.Tensor)  # torch in, torch out
        ldr = res.ldr.permute(1, 2, 0).numpy()
        o = oracle_exponent(ldr, res.hdr_target.permute(1, 2, 0).numpy())
        if o is None or not 0.3 < o[0] < 2.5:
            continue
        thumbs.append(thumbnail(res.ldr[None].float(), side)[0].half())
        gs.append(o[0])
        ws.append(o[1])
        es.append(o[2])
        if len(gs) % 1000 == 0:
            print(f"  data {len(gs)}/{n} ({time.time() - t0:.0f} s)", flush=True)
    return {"thumbs": torch.stack(thumbs), "g": torch.tensor(gs), "w": torch.tensor(ws), "e0": torch.tensor(es)}


def load_or_make(files: list[Path], n: int, seed: int, side: int, crf: str | None, split: str,
                 cache: str | None, views: str = "perspective") -> dict[str, torch.Tensor]:
    """:func:`make_dataset`, read from / written to ``cache`` (``{seed}`` replaced) when given; a cache made
    with other settings is regenerated."""
    fields: dict[str, Any] = {"samples": n, "seed": seed, "side": side, "crf": crf, "split": split}
    if views != "perspective":
        fields["views"] = views
    key = json.dumps(fields, sort_keys=True)
    path = Path(cache.replace("{seed}", str(seed))) if cache else None
    if path is not None and path.is_file():
        cached = torch.load(path, weights_only=True)
        if cached.get("key") == key:
            return cached["data"]
    data = make_dataset(files, n, seed, side, crf, views)
    if path is not None:
        tmp = path.with_suffix(".tmp")
        torch.save({"key": key, "data": data}, tmp)
        tmp.replace(path)
    return data


#: squared log2 error added to every capture's residual in the decibel loss (8-bit quantisation order)
E0_FLOOR = 1e-4


def curve_loss(
    g_pred: torch.Tensor, g: torch.Tensor, w: torch.Tensor, e0: torch.Tensor, kind: str = "db"
) -> torch.Tensor:
    """Mean training loss of predicted exponents (see the module docstring).

    Shape:
        (B,) x4 -> ()
    """
    excess = w * (g_pred - g) ** 2
    if kind == "mse":
        return excess.mean()
    base = e0 + E0_FLOOR
    return torch.log1p(excess / base).mean()


def validate(model: torch.nn.Module, pairs: list[Any]) -> dict[str, float]:
    """Mean PSNR-mu gain over sRGB decoding per suite part, and the score (the smallest gain)."""
    from hdrlift.ops.transfer import srgb_to_linear
    from hdrlift.tools.suite import pair_metrics

    gains: dict[str, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for pr in pairs:
            x = torch.from_numpy(pr.ldr).permute(2, 0, 1)[None]
            out = model(x)[0].permute(1, 2, 0).numpy()
            lin = srgb_to_linear(torch.from_numpy(pr.ldr)).numpy()
            d = pair_metrics(pr.hdr, out, pr.ldr)["psnr_mu"] - pair_metrics(pr.hdr, lin, pr.ldr)["psnr_mu"]
            gains.setdefault(pr.group, []).append(d)
    res = {p: float(np.mean(v)) for p, v in gains.items()}
    res["score"] = min(res.values())
    return res


def main(argv: list[str] | None = None) -> int:
    from hdrlift.checkpoint import save_model
    from hdrlift.data.splits import read_split
    from hdrlift.models import create_model
    from hdrlift.models.curvenet import CurveNet
    from hdrlift.tools.suite import DEFAULT_CRF_FILE, PARTS, build_suite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (best/, last/, log.jsonl)")
    ap.add_argument("--root", default="../shared/data/hdr")
    ap.add_argument("--train-split", default="configs/splits/hdr_v2_train.txt")
    ap.add_argument("--val-split", default="configs/splits/hdr_v2_val.txt")
    ap.add_argument("--crf-file", default=DEFAULT_CRF_FILE, help="DoRF curves ('' = parametric curves only)")
    ap.add_argument("--val-parts", default=",".join(PARTS), help="suite parts validated on (default all four)")
    ap.add_argument("--model", default="curvenet", help="registry name (curvenet, curvenet_tiny)")
    ap.add_argument("--hparams", default="{}", help="JSON hyper-parameters over the registry's ('{\"gate\": true}')")
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-every", type=int, default=5, help="epochs between suite validations")
    ap.add_argument("--val-limit", type=int, default=0, help="validation scenes (0 = all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--loss", choices=("db", "mse"), default="db", help="training loss (default: %(default)s)")
    ap.add_argument("--data-cache", help="reuse / write the generated captures here (.pt; '{seed}' is replaced)")
    ap.add_argument("--views", choices=("perspective", "mix"), default="mix",
                    help="panorama views: pinhole only, or pinhole / whole / crop (default: %(default)s)")
    ap.add_argument("--data-seeds", default="", help="comma-separated data seeds, --samples each (default --seed)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = create_model(args.model, **json.loads(args.hparams))
    assert isinstance(model, CurveNet), f"--model {args.model} is not a CurveNet"
    t0 = time.time()
    crf = args.crf_file or None
    files = read_split(args.train_split, args.root)
    sets = [load_or_make(files, args.samples, int(sd), model.side, crf, args.train_split, args.data_cache, args.views)
            for sd in (args.data_seeds.split(",") if args.data_seeds else [args.seed])]
    data = {k: torch.cat([d[k] for d in sets]) for k in sets[0]}
    val_files = read_split(args.val_split, args.root)
    pairs = build_suite(val_files[: args.val_limit] if args.val_limit else val_files,
                        [p for p in args.val_parts.split(",") if p], crf_file=args.crf_file)
    print(f"data {len(data['g'])} captures, g median {data['g'].median():.3f}, {time.time() - t0:.0f} s; "
          f"validation {len(pairs)} suite pairs", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "log.jsonl").open("a")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    n = len(data["g"])
    steps = args.epochs * math.ceil(n / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed + 1)
    best = -1e9
    meta = {"trained_on": args.train_split, "samples": n, "epochs": args.epochs, "loss": args.loss, "views": args.views,
            "command": "python -m hdrlift.train.curvenet " + " ".join(sys.argv[1:] if argv is None else argv)}
    for ep in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            th = data["thumbs"][idx].float()
            flip = torch.rand(len(idx), generator=gen) < 0.5
            th = torch.where(flip.view(-1, 1, 1, 1), th.flip(-1), th)
            g = model.estimate_from_thumbnail(th)
            loss = curve_loss(g, data["g"][idx], data["w"][idx], data["e0"][idx], args.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        rec: dict[str, Any] = {"epoch": ep, "loss": tot / n, "seconds": round(time.time() - t0, 1)}
        if ep % args.val_every == 0 or ep == args.epochs:
            rec["val"] = validate(model, pairs)
            if rec["val"]["score"] > best:
                best = rec["val"]["score"]
                save_model(model, args.out / "best", meta={**meta, "epoch": ep, "val": rec["val"]})
        save_model(model, args.out / "last", meta={**meta, "epoch": ep})
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
