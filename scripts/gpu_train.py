"""Train every method side by side on one GPU from data packed into the checkout (issue #22, item 4).

The device tool copies the working tree (at most 64 MiB, the tracked files included) and nothing beside
it, and returns at most 8 files of at most 16 MiB from ``$OUT``. So training there runs in two steps:

    python scripts/gpu_train.py pack --out packed                    # here, once: data into the checkout
    python scripts/gpu_train.py train --packed packed --methods twostage,hdrunet,uhd_bilateral,duhdr \\
        --minutes 8 --out $OUT                                        # there (device tool, carry ["packed"])
    python scripts/gpu_train.py profile --packed packed --out $OUT    # there, first: ms a step per batch size
    python scripts/gpu_train.py run-dir <returned>/twostage runs/twostage_gpu   # here: a run directory
    python scripts/ship_weights.py runs/twostage_gpu --name twostage.polyhaven  # ... that ships as usual

``pack`` writes a git-ignored folder with the v2 training scenes (exposure-normalised as
:func:`hdrlift.data.sources.load_hdr_images` does, down-scaled to ``--max-side``, float16 rounded to
8 mantissa bits - the precision of the Radiance files most scenes come from), the measured DoRF curves
(``crf/dorf.npy``, row 0 the grid, row 1 + i curve i of the file, so ``crf_table_subset`` train / holdout
name the same curves), the generalisation suite's pairs (:func:`hdrlift.tools.suite.build_suite`,
parts ``a_default``, ``b_heldout``, ``c_srgb``; LDR as uint8, the reference as the float16 scene times
the pair's exposure and white balance) and ``manifest.json``. Arrays travel in LZMA-compressed ``.npz``
files (float16 split into high and low byte planes, which compress to about half), read by ``np.load``.

``train`` unpacks the scenes to ``.npy`` files in a temporary folder and starts one process per method,
all on the same device, the DataLoader workers split across the cores. Each process trains its
``configs/train/<method>_gpu.yaml`` recipe (``hdrlift.train.recipes``) under bf16 autocast on CUDA (fp32
on the CPU) until the wall-clock limit, validates on the packed suite pairs every minute (PSNR-mu after
alignment on the well-exposed pixels, :func:`hdrlift.tools.suite.pair_metrics`; criterion = the
smallest gain over ``linear`` across the parts) and keeps only its best checkpoint so far in
``$OUT/<method>/`` (``model.safetensors`` + ``config.json``; the validation history and the resolved
config are in its meta). A checkpoint whose float32 weights would exceed the 16 MiB that comes back is
stored in float16 (bfloat16 if a value does not fit float16); the final table reports the validation of
the stored file as loaded back.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the device has the checkout but no installed hdrlift
    sys.path.insert(0, str(ROOT))

from hdrlift.checkpoint import save_model_as, state_bytes  # noqa: E402
from hdrlift.checkpoint import storage_dtype as _storage_dtype  # noqa: E402
from hdrlift.data.packed import (  # noqa: E402
    PACK_FORMAT,
    PACK_VERSION,
    decode_f16,
    encode_f16,
    fp16_scale,
    load_val_pairs,
    read_manifest,
    unpack_train,
    write_npz_lzma,
)
from hdrlift.data.synth import resize_max_side  # noqa: E402
from hdrlift.errors import ConfigError, DataError, HdrliftError, one_line  # noqa: E402
from hdrlift.train.trainer import wallclock_horizon  # noqa: E402

METHODS = ("twostage", "hdrunet", "uhd_bilateral", "duhdr")
#: suite parts packed for validation during training (issue #22, item 2: (b), (c), (a))
VAL_PARTS = ("b_heldout", "c_srgb", "a_default")
#: what the device tool carries: the whole working tree, tracked files included
TREE_LIMIT = 64 * 2**20
#: what one returned file may hold (the tool's limit), less room for the safetensors header
FILE_LIMIT = 16 * 2**20
CKPT_LIMIT = FILE_LIMIT - 256 * 1024
#: mantissa bits kept in the packed training scenes (float16 has 10; Radiance RGBE files have 8)
TRAIN_MANTISSA_BITS = 8


def _log(msg: str) -> None:
    print(msg, flush=True)


# ============================================================================= packed arrays


# ============================================================================= pack


def tree_bytes(root: Path, exclude: Path | None = None) -> int | None:
    """Bytes of the working tree the device tool carries (tracked + untracked-not-ignored files), or None
    when ``root`` is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    total = 0
    ex = exclude.resolve() if exclude is not None else None
    for rel in {r for r in out.decode(errors="replace").split("\0") if r}:
        p = root / rel
        if ex is not None and (p.resolve() == ex or ex in p.resolve().parents):
            continue
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def _is_ignored(root: Path, path: Path) -> bool:
    r = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", f"{path.resolve()}/"], capture_output=True)
    return r.returncode == 0


def pack(args: argparse.Namespace) -> int:
    """``pack``: write the packed folder (atomically: built beside it, renamed when complete)."""
    from hdrlift.data.sources import load_hdr_images
    from hdrlift.data.splits import read_split
    from hdrlift.degrade.crf_basis import load_dorf, resample_curves
    from hdrlift.tools.suite import SUITE_EXPOSURES, build_suite

    out = Path(args.out)
    if out.exists() and not (out / "manifest.json").is_file():
        raise DataError(f"{out}: exists and is not a packed folder (no manifest.json); not replacing it")
    tree = tree_bytes(ROOT, exclude=out)
    if args.limit_mib is not None:
        limit = int(args.limit_mib * 2**20)
        limit_note = f"--limit-mib {args.limit_mib}"
    elif tree is None:
        raise ConfigError(f"{ROOT}: not a git checkout, cannot size the tree that travels; give --limit-mib")
    else:
        limit = TREE_LIMIT - tree - int(args.margin_mib * 2**20)
        limit_note = (f"64 MiB device limit - {tree / 2**20:.1f} MiB of working tree - "
                      f"{args.margin_mib} MiB margin")
    if limit <= 0:
        raise DataError(f"the working tree ({(tree or 0) / 2**20:.1f} MiB) leaves no room for packed data "
                        f"under the device tool's 64 MiB")
    train_files = read_split(args.train_split, args.root)
    val_files = read_split(args.val_split, args.root)
    if not Path(args.crf_file).is_file():
        raise DataError(f"{args.crf_file}: DoRF curve file not found (--crf-file)")

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "train").mkdir(parents=True)
    (tmp / "val").mkdir()
    (tmp / "crf").mkdir()
    t0 = time.time()
    try:
        manifest = _pack_into(tmp, args, train_files, val_files, load_hdr_images, load_dorf, resample_curves,
                              build_suite, SUITE_EXPOSURES)
        total = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        manifest["sizes"]["total_bytes"] = total
        manifest["sizes"]["limit_bytes"] = limit
        manifest["sizes"]["limit"] = limit_note
        manifest["sizes"]["tree_bytes_without_packed"] = tree
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        total = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        if total > limit:
            sz = manifest["sizes"]
            raise DataError(f"{out}: packed data is {total / 2**20:.2f} MiB (training scenes "
                            f"{sz['train_bytes'] / 2**20:.2f}, validation {sz['val_bytes'] / 2**20:.2f}, curves "
                            f"{sz['crf_bytes'] / 2**20:.2f}), above the {limit / 2**20:.2f} MiB limit ({limit_note}); "
                            f"use a smaller --max-side or --val-max-side")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    s = manifest["sizes"]
    _log(f"packed {len(train_files)} training scenes ({s['train_bytes'] / 2**20:.2f} MiB), "
         f"{s['val_pairs']} validation pairs ({s['val_bytes'] / 2**20:.2f} MiB), {s['crf_curves']} DoRF curves "
         f"({s['crf_bytes'] / 2**20:.2f} MiB): total {total / 2**20:.2f} MiB of {limit / 2**20:.2f} MiB allowed "
         f"({limit_note}) in {time.time() - t0:.0f} s -> {out}")
    inside = ROOT.resolve() in out.resolve().parents
    if not inside:
        _log(f"note: {out} is outside the checkout {ROOT}: the device tool will not carry it")
    elif tree is not None and not _is_ignored(ROOT, out):
        _log(f"note: {out} is not git-ignored: it travels as untracked files (carry is not needed)")
    return 0


def _pack_into(tmp: Path, args: argparse.Namespace, train_files: list[Path], val_files: list[Path],
               load_hdr_images: Any, load_dorf: Any, resample_curves: Any, build_suite: Any,
               suite_exposures: Any) -> dict[str, Any]:
    from hdrlift.data.sources import normalise_exposure

    root = Path(args.root)
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT, "format_version": PACK_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python scripts/gpu_train.py " + " ".join(sys.argv[1:]),
        "sources": {"root": str(root), "train_split": str(args.train_split), "val_split": str(args.val_split),
                    "crf_file": str(args.crf_file)},
        "train": {"max_side": args.max_side, "mantissa_bits": TRAIN_MANTISSA_BITS,
                  "normalisation": "hdrlift.data.sources.load_hdr_images, then again after down-scaling "
                                   "(median luminance 0.18)",
                  "scenes": []},
        "sizes": {},
    }
    # --- training scenes
    train_bytes = 0
    for i, f in enumerate(train_files):
        imgs, _ = load_hdr_images([f], on_bad="error")
        # normalised again after down-scaling, so that load_hdr_images leaves the unpacked file as it is
        img = normalise_exposure(resize_max_side(imgs[0], args.max_side))
        scale = fp16_scale(img)  # load_hdr_images' normalisation undoes it
        planes, clamped = encode_f16(img * scale, TRAIN_MANTISSA_BITS)
        name = f"train/{i:03d}_{f.stem}.npz"
        train_bytes += write_npz_lzma(tmp / name, planes)
        manifest["train"]["scenes"].append({"file": name, "source": str(f.relative_to(root)),
                                            "shape": list(img.shape[:2]), "scale": scale, "clamped_pixels": clamped})
        _log(f"  train {i + 1}/{len(train_files)} {f.relative_to(root)} {img.shape[1]}x{img.shape[0]}")
    # --- DoRF curves, resampled as the camera model does (hdrlift.degrade.camera)
    grid, curves = load_dorf(args.crf_file)
    res = resample_curves(grid, curves, 1024)
    table = np.concatenate([np.linspace(0.0, 1.0, res.shape[1])[None], res]).astype(np.float32)
    np.save(tmp / "crf" / "dorf.npy", table)
    crf_bytes = (tmp / "crf" / "dorf.npy").stat().st_size
    manifest["crf"] = {"file": "crf/dorf.npy", "curves": int(res.shape[0]), "samples": int(res.shape[1]),
                       "layout": "row 0 = irradiance grid, row 1 + i = curve i of the source file",
                       "dtype": "float32"}
    # --- validation pairs of the generalisation suite
    pairs = build_suite(val_files, parts=VAL_PARTS, max_side=args.val_max_side, crf_file=args.crf_file)
    imgs, kept = load_hdr_images(val_files, on_bad="error")
    scenes: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for img, f in zip(imgs, kept):
        scene = resize_max_side(img, args.val_max_side)
        planes, _ = encode_f16(scene * fp16_scale(scene), 10)  # the pairs' gains absorb the scale
        key = f"val/{len(scenes):03d}_{f.stem}.npz"
        scenes[str(f)] = {"file": key, "source": str(f.relative_to(root)), "shape": list(scene.shape[:2]),
                          "pairs": []}
        arrays[key] = dict(planes)
    for p in pairs:
        s, gain = _scene_of(scenes, arrays, p)
        ldr8 = np.round(np.asarray(p.ldr) * 255.0).astype(np.uint8)
        if np.abs(ldr8 / 255.0 - p.ldr).max() > 1e-5:
            raise DataError(f"suite pair {p.group}/{p.name}: LDR is not 8-bit; cannot pack it as uint8")
        k = f"ldr_{len(s['pairs']):02d}"
        arrays[s["file"]][k] = np.ascontiguousarray(ldr8.transpose(2, 0, 1))
        s["pairs"].append({"part": p.group, "name": p.name, "ldr": k, "gain": gain})
    val_bytes = sum(write_npz_lzma(tmp / key, arr) for key, arr in arrays.items())
    manifest["val"] = {"max_side": args.val_max_side, "parts": list(VAL_PARTS), "exposures": list(suite_exposures),
                       "builder": "hdrlift.tools.suite.build_suite (seed 22)",
                       "hdr": "scene (float16) x gain (the pair's exposure x white balance)",
                       "scenes": list(scenes.values())}
    manifest["sizes"] = {"train_bytes": train_bytes, "val_bytes": val_bytes, "crf_bytes": crf_bytes,
                         "val_pairs": len(pairs), "crf_curves": int(res.shape[0])}
    return manifest


def _scene_of(scenes: dict[str, dict[str, Any]], arrays: dict[str, dict[str, np.ndarray]],
              pair: Any) -> tuple[dict[str, Any], list[float]]:
    """The validation scene of a suite pair (by file stem, then by fit) and its per-channel gain."""
    stem = pair.name.rsplit("_ev", 1)[0]
    found = []
    for src, s in scenes.items():
        if Path(src).stem == stem and tuple(s["shape"]) == tuple(pair.hdr.shape[:2]):
            g = _pair_gain(arrays[s["file"]], pair)
            if g is not None:
                found.append((s, g))
    if len(found) != 1:
        raise DataError(f"suite pair {pair.group}/{pair.name}: {len(found)} validation scenes reproduce its "
                        f"reference as scene x exposure x white balance; cannot pack it")
    return found[0]


def _pair_gain(planes: dict[str, np.ndarray], pair: Any) -> list[float] | None:
    """Per-channel gain g with pair.hdr = scene * g (the capture's exposure x white balance), fitted by least
    squares and accepted only to float16 accuracy (None otherwise)."""
    s = decode_f16(planes["hi"], planes["lo"]).astype(np.float64)
    h = np.asarray(pair.hdr, np.float64)
    if s.shape != h.shape:
        return None
    g = (s * h).sum(axis=(0, 1)) / np.maximum((s * s).sum(axis=(0, 1)), 1e-30)
    rec = s * g
    if not np.allclose(rec, h, rtol=2e-3, atol=1e-6 * float(max(g.max(), 1e-12))):
        return None
    return [float(v) for v in g]


# ============================================================================= configs


def method_overrides(method: str, sets: list[str] | None) -> list[str]:
    """The ``--set [METHOD:]KEY=VALUE`` entries that apply to ``method``: unprefixed ones and its own."""
    out = []
    for item in sets or []:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in METHODS:
                raise ConfigError(f"--set {item!r}: unknown method {head!r}; valid: {', '.join(METHODS)}")
            if head == method:
                out.append(rest)
        else:
            out.append(item)
    return out


def method_config(method: str, packed: Path, split: Path, work: Path, tiny: bool, workers: int, threads: int,
                  init: str = "", sets: list[str] | None = None) -> Any:
    """The method's ``configs/train/<method>_gpu.yaml`` mapped onto the packed data, with the ``--set``
    overrides that apply to it (:func:`method_overrides`; recorded in every checkpoint's ``meta.config``).

    ``tiny``: the registry's tiny widths, small patches and batches (the CPU test)."""
    from hdrlift.train.config import apply_overrides, config_from_dict
    from hdrlift.train.recipes import check_config

    path = ROOT / "configs" / "train" / f"{method}_gpu.yaml"
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no GPU config for method {method!r}") from None
    d = data.setdefault("data", {})
    d["root"] = str(work)
    d["train_split"] = str(split)
    d["val_split"] = None
    d["val_camera"] = None
    d["workers"] = workers
    cam = d.get("camera") or {}
    if cam.get("crf_table_path"):
        cam["crf_table_path"] = str((packed / "crf" / "dorf.npy").resolve())
    d["camera"] = cam
    data["threads"] = threads
    data["tensorboard"] = False
    data["init"] = init
    if tiny:
        data["model"] = {"name": f"{method}_tiny", "hparams": {}}
        d["patch"] = 32
        d["batch"] = 2
        data["steps"] = 2
        data["init"] = ""
        if method == "uhd_bilateral":
            d["patch"] = 64
    ovs = method_overrides(method, sets)
    apply_overrides(data, ovs)
    cfg = config_from_dict(data)
    if ovs:
        check_config(cfg, where=f"--set for {method}")
    return cfg


# ============================================================================= validation


def _linear_baseline(pairs: list[Any]) -> dict[str, float]:
    """Mean PSNR-mu of plain sRGB decoding per part (the baseline of the gains)."""
    from hdrlift.operators.global_ops import linear
    from hdrlift.tools.suite import pair_metrics

    acc: dict[str, list[float]] = {}
    for p in pairs:
        x, _ = p.tensors()
        out = linear(x)[0].permute(1, 2, 0).numpy()
        acc.setdefault(p.group, []).append(pair_metrics(p.hdr, out, p.ldr)["psnr_mu"])
    return {k: float(np.nanmean(v)) for k, v in acc.items()}


def validate_suite(model: Any, pairs: list[Any], device: Any, linear: dict[str, float]) -> dict[str, float]:
    """Suite metrics of ``model`` (float32 inference) on the packed pairs: per part the means of
    :func:`~hdrlift.tools.suite.pair_metrics`, the gain over ``linear``; ``score`` = the smallest
    gain across the parts, ``psnr_mu`` = the mean PSNR-mu over the parts."""
    import torch

    from hdrlift.tools.suite import METRICS, pair_metrics

    was = model.training
    model.eval()
    acc: dict[str, dict[str, list[float]]] = {}
    with torch.inference_mode():
        for p in pairs:
            x = p.tensors()[0].to(device)
            y = model(x)[0].float().clamp(min=0).permute(1, 2, 0).cpu().numpy()
            part = acc.setdefault(p.group, {k: [] for k in METRICS})
            for k, v in pair_metrics(p.hdr, y, p.ldr).items():
                part[k].append(v)
    model.train(was)
    out: dict[str, float] = {}
    gains = []
    for group, m in acc.items():
        for k, vals in m.items():
            a = np.asarray([x for x in vals if np.isfinite(x)], np.float64)
            out[f"{group}_{k}"] = float(a.mean()) if a.size else float("nan")
        out[f"{group}_gain"] = out[f"{group}_psnr_mu"] - linear[group]
        gains.append(out[f"{group}_gain"])
    out["score"] = float(min(gains))
    out["psnr_mu"] = float(np.mean([out[f"{p}_psnr_mu"] for p in acc]))
    return out


# ============================================================================= checkpoints


def storage_dtype(model: Any) -> str:
    """``fp32`` when the float32 checkpoint fits a returned file, else ``fp16`` (refused when that does not)."""
    return _storage_dtype(model, CKPT_LIMIT)


# ============================================================================= worker (one method)


def worker(args: argparse.Namespace) -> int:
    """``_worker``: train one method until the deadline; best checkpoint into ``args.out``."""
    import torch
    from torch.utils.data import DataLoader

    from hdrlift.checkpoint import load_model
    from hdrlift.data import build_train_dataset
    from hdrlift.train.config import config_to_dict
    from hdrlift.train.recipes import build_recipe
    from hdrlift.train.trainer import StepSampler, init_weights

    method, packed, work, out = args.method, Path(args.packed), Path(args.work), Path(args.out)
    tag = f"[{method}]"
    manifest = read_manifest(packed)
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = (device.type == "cuda") if args.amp == "auto" else (args.amp == "bf16")
    torch.set_num_threads(max(1, args.threads))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    init = f"{method}.polyhaven" if args.init_shipped else ""
    cfg = method_config(method, packed, work / "train.txt", work, args.tiny, args.workers, args.threads, init,
                        args.set)
    torch.manual_seed(cfg.seed)
    recipe = build_recipe(cfg, device)
    init_note = "from scratch"
    if cfg.init:
        try:
            init_weights(recipe.model, cfg.init)
            init_note = f"from {cfg.init}"
        except HdrliftError as exc:
            init_note = f"from scratch ({cfg.init} not used: {one_line(exc, 120)})"
    amp_note = "fp32"
    if amp:
        names = autocast_subnetworks(recipe.model, device.type)
        amp_note = f"bf16 autocast in {len(names)} sub-networks, glue and losses fp32"
    dtype = storage_dtype(recipe.predictor())
    params = sum(p.numel() for p in recipe.predictor().parameters())
    _log(f"{tag} {cfg.model.name} {cfg.model.hparams or '(defaults)'}: {params / 1e6:.2f} M parameters, "
         f"checkpoint {state_bytes(recipe.predictor(), dtype) / 2**20:.1f} MiB in {dtype}; {init_note}; device "
         f"{device}{' ' + torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}, "
         f"{amp_note}, patch {cfg.data.patch} batch {cfg.data.batch}, "
         f"{cfg.data.workers} loader workers")
    pairs = load_val_pairs(packed, manifest, args.val_pairs)
    linear = json.loads((work / "linear.json").read_text())
    dataset = build_train_dataset(cfg)
    sampler = StepSampler(0, 10**8, cfg.data.batch)
    loader = DataLoader(dataset, batch_size=cfg.data.batch, sampler=sampler, num_workers=cfg.data.workers,
                        pin_memory=device.type == "cuda", drop_last=True,
                        persistent_workers=cfg.data.workers > 0, worker_init_fn=_loader_init,
                        prefetch_factor=4 if cfg.data.workers > 0 else None)
    deadline = float(args.deadline)
    max_steps = args.steps if args.steps > 0 else (cfg.steps if args.tiny and args.steps < 0 else None)
    planned = cfg.steps  # provisional horizon of the schedules, replaced by the measured one below
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -math.inf}
    running: dict[str, float] = {}
    n_run = 0
    step = 0
    t_first: float | None = None
    s_first = 0
    calibrated = max_steps is not None
    calib_s = min(45.0, 0.08 * max(deadline - time.time(), 1.0))
    timing = {"data": 0.0, "step": 0.0}  # seconds waiting for batches / in train steps, since the last validation
    next_val = time.time() + args.val_every
    t_start = time.time()

    def checkpoint_meta(val: dict[str, float]) -> dict[str, Any]:
        return {"step": step, "method": method, "tag": cfg.tag, "val": val, "best_psnr_mu": val.get("psnr_mu"),
                "criterion": "score = smallest PSNR-mu gain over linear across the suite parts "
                             f"{', '.join(VAL_PARTS)} (packed pairs, max side {manifest['val']['max_side']})",
                "train_minutes": round((time.time() - t_start) / 60.0, 3), "device": _device_name(device),
                "amp": "bf16" if amp else "fp32", "init": init_note, "planned_steps": planned,
                "history": history, "config": config_to_dict(cfg), "linear": linear,
                "packed": {"created": manifest.get("created"), "train_scenes": len(manifest["train"]["scenes"]),
                           "train_max_side": manifest["train"]["max_side"], "val_pairs": len(pairs)},
                "trainer": "scripts/gpu_train.py"}

    def validate_and_keep(final: bool = False) -> None:
        t = time.time()
        _AMP_ON[0] = False
        try:
            val = validate_suite(recipe.predictor(), pairs, device, linear)
        finally:
            _AMP_ON[0] = True
        row: dict[str, float | None] = {"step": step, "minutes": round((t - t_start) / 60.0, 3), "time": t, **val,
               **{f"train_{k}": v / max(n_run, 1) for k, v in running.items()}}
        history.append(row)
        is_best = val["score"] > best["score"] or not (out / "config.json").is_file()  # (a NaN score never wins)
        if is_best:
            best.update(val)
            best["step"] = step
            best["dtype"] = save_model_as(recipe.predictor(), out, dtype, checkpoint_meta(val))
        rate = (step - s_first) / max(time.time() - (t_first or t), 1e-9)
        parts = " ".join(f"{p[0]} {val[f'{p}_gain']:+.2f}" for p in VAL_PARTS if f"{p}_gain" in val)
        loss = running["loss"] / n_run if n_run and "loss" in running else float("nan")
        busy = timing["data"] + timing["step"]
        row["data_wait"] = round(timing["data"] / busy, 4) if busy > 0 else None
        per_step = 1000.0 * timing["step"] / max(n_run, 1)
        _log(f"{tag} {'final ' if final else ''}{row['minutes']:.1f} min step {step} ({rate:.1f} it/s; "
             f"{per_step:.0f} ms a step, {100.0 * (row['data_wait'] or 0.0):.0f} % waiting for data) "
             f"loss {loss:.4f} | gain over linear: {parts} min {val['score']:+.2f} dB"
             f"{' *best, saved' if is_best else ''} (val {time.time() - t:.1f} s)")

    parent = os.getppid()
    it = iter(loader)
    while True:
        now = time.time()
        if now >= deadline or (max_steps is not None and step >= max_steps):
            break
        if os.getppid() != parent:  # the train command is gone: keep what is saved, stop
            _log(f"{tag} parent process gone: stopped at step {step}")
            return 1
        t_wait = time.time()
        batch = next(it)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        t_go = time.time()
        logs = recipe.train_step(batch, step)  # its float logs synchronise with the device
        timing["data"] += t_go - t_wait
        timing["step"] += time.time() - t_go
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad:
            _log(f"{tag} stopped: non-finite {bad[0]} = {logs[bad[0]]} at step {step}")
            break
        for k, v in logs.items():
            running[k] = running.get(k, 0.0) + v
        n_run += 1
        step += 1
        if step == (1 if args.tiny else 3):  # the speed is measured after the first (warm-up) steps
            t_first, s_first = time.time(), step
        horizon = None if calibrated else wallclock_horizon(time.time(), t_start, t_first, step, s_first,
                                                             calib_s, deadline)
        if horizon is not None:
            rate = (step - s_first) / max(time.time() - (t_first or t_start), 1e-9)
            planned = horizon
            _rescale_schedule(recipe, planned)
            calibrated = True
            _log(f"{tag} {rate:.1f} it/s after {time.time() - t_start:.0f} s: schedule set to {planned} steps")
        if time.time() >= next_val:
            validate_and_keep()
            running, n_run = {}, 0
            timing = {"data": 0.0, "step": 0.0}
            next_val += args.val_every * max(1, math.ceil((time.time() - next_val) / args.val_every + 1e-9))
    if not history or history[-1]["step"] != step:  # else the last validation was of this very network
        validate_and_keep(final=True)
    stored = load_model(out)
    sval = validate_suite(stored.to(device), pairs, device, linear)
    result = {"method": method, "steps": step, "best_step": best.get("step"), "best": {k: v for k, v in best.items()},
              "stored": sval, "dtype": best.get("dtype"), "params": params, "init": init_note,
              "files": {p.name: p.stat().st_size for p in sorted(out.iterdir())},
              "it_per_s": (step - s_first) / max(time.time() - (t_first or time.time()), 1e-9)}
    (work / f"result_{method}.json").write_text(json.dumps(result) + "\n")
    _log(f"{tag} done: {step} steps; best at step {best.get('step')} (score {best['score']:+.2f} dB); "
         f"stored {best.get('dtype')} checkpoint scores {sval['score']:+.2f} dB")
    return 0


#: switched off while validating, so that the validation sees the float32 network that is stored
_AMP_ON = [True]


def _to_float(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() else x
    if isinstance(x, (tuple, list)):
        return type(x)(_to_float(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_float(v) for k, v in x.items()}
    return x


def autocast_subnetworks(model: Any, device_type: str) -> list[str]:
    """bf16 autocast inside each sub-network of ``model`` (its children; containers are entered), outputs
    back to float32: the convolutions run in bf16, while the glue between the sub-networks (bilateral
    slicing, curve application, SFT modulation at the top level) and every loss stay float32 - MS-SSIM's
    variances, CIEDE2000 and the discriminator's BCE (whose sigmoid output rounds to 1.0 in bf16, where
    its clamp cannot keep log(1 - p) finite) are not safe in bf16. Returns the wrapped module names."""
    import torch
    from torch import nn

    wrapped = []

    def wrap(mod: nn.Module, name: str) -> None:
        if isinstance(mod, (nn.ModuleList, nn.ModuleDict)):
            for n, c in mod.named_children():
                wrap(c, f"{name}.{n}")
            return
        fwd = mod.forward

        def forward(*a: Any, _fwd: Any = fwd, **k: Any) -> Any:
            if not _AMP_ON[0]:
                return _fwd(*a, **k)
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                return _to_float(_fwd(*a, **k))

        mod.forward = forward
        wrapped.append(name)

    for n, c in model.named_children():
        wrap(c, n)
    return wrapped


def _loader_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    import platform

    return f"cpu {platform.machine()} {os.cpu_count()} cores"


def _rescale_schedule(recipe: Any, steps: int) -> None:
    """Set the schedule horizon to ``steps`` (learning-rate decay; DuHDR's stage boundaries scale with it)."""
    old = recipe.cfg.steps
    recipe.cfg.steps = int(steps)
    sched = getattr(recipe, "schedule", None)
    if sched:
        recipe.schedule = [(n, int(round(end * steps / old)), lr) for n, end, lr in sched]
    for s in recipe.scheds.values():  # re-evaluate the lr of the current step under the new horizon
        for g, f in zip(s.optimizer.param_groups, s.lr_lambdas):
            g["lr"] = g["initial_lr"] * f(s.last_epoch)


# ============================================================================= train (all methods)


def parse_methods(text: str) -> list[str]:
    """``--methods``: comma-separated names of :data:`METHODS` (a one-line ConfigError otherwise)."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ConfigError(f"--methods: unknown {bad or 'none given'}; valid: {', '.join(METHODS)}")
    return methods


def train(args: argparse.Namespace) -> int:
    """``train``: unpack, then one worker process per method on the same device; final table."""
    packed = Path(args.packed)
    manifest = read_manifest(packed)
    methods = parse_methods(args.methods)
    for m in methods:  # a bad --set fails here, before anything is unpacked
        method_config(m, packed, packed / "train.txt", packed, args.tiny, 0, 1, "", args.set)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ConfigError(f"{out}: not empty (use --overwrite)")
    for m in methods:
        if (out / m).exists():
            shutil.rmtree(out / m)
    out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    workers = args.workers if args.workers is not None else max(1, (cores - len(methods)) // len(methods))
    threads = max(1, cores // len(methods) - workers) if args.device == "cpu" else 1
    work = Path(tempfile.mkdtemp(prefix="hdrlift-gpu-"))
    t0 = time.time()
    procs: dict[str, subprocess.Popen] = {}
    try:
        unpack_train(packed, manifest, work)
        pairs = load_val_pairs(packed, manifest, args.val_pairs)
        import torch

        torch.set_num_threads(1)  # numpy-sized work: more threads only spin
        linear = _linear_baseline(pairs)
        (work / "linear.json").write_text(json.dumps(linear) + "\n")
        _log(f"unpacked {len(manifest['train']['scenes'])} scenes and {len(pairs)} validation pairs in "
             f"{time.time() - t0:.1f} s; linear PSNR-mu per part: "
             + ", ".join(f"{k} {v:.2f}" for k, v in linear.items()))
        deadline = time.time() + args.minutes * 60.0
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}
        for m in methods:
            cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", "--method", m, "--packed", str(packed),
                   "--work", str(work), "--out", str(out / m), "--deadline", f"{deadline:.3f}",
                   "--workers", str(workers), "--threads", str(threads), "--device", args.device,
                   "--amp", args.amp, "--val-every", str(args.val_every), "--val-pairs", str(args.val_pairs)]
            cmd += ["--tiny"] if args.tiny else []
            cmd += ["--steps", str(args.steps)]
            cmd += ["--init-shipped"] if args.init_shipped else []
            for item in args.set or []:
                cmd += ["--set", item]
            procs[m] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                        bufsize=1)
        _log(f"training {', '.join(methods)} for {args.minutes:g} min on device {args.device}: {workers} loader "
             f"workers and {threads} threads per method on {cores} cores")
        signal.signal(signal.SIGTERM, _raise_exit)  # so that the finally below stops the workers
        readers = [threading.Thread(target=_relay, args=(m, p), daemon=True) for m, p in procs.items()]
        for r in readers:
            r.start()
        grace = 240.0 + (600.0 if args.tiny else 0.0)  # the final validations and saves
        for m, p in procs.items():
            try:
                p.wait(timeout=max(deadline + grace - time.time(), 1.0))
            except subprocess.TimeoutExpired:
                _log(f"[{m}] still running {grace:.0f} s after the deadline: stopped")
                p.kill()
                p.wait()
        for r in readers:  # the workers have ended: their pipes reach the end once any loader worker is gone
            r.join(timeout=60)
        results = {}
        for m in methods:
            f = work / f"result_{m}.json"
            if f.is_file():
                results[m] = json.loads(f.read_text())
        _log(format_table(methods, results, linear, time.time() - t0))
        files = sorted(p for p in out.rglob("*") if p.is_file())
        big = [p for p in files if p.stat().st_size > FILE_LIMIT]
        _log(f"{out}: {len(files)} files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB"
             + (f"; ABOVE 16 MiB: {', '.join(map(str, big))}" if big else ""))
        failed = [m for m in methods if m not in results or procs[m].returncode != 0]
        if failed:
            _log(f"failed: {', '.join(failed)}")
        return 1 if failed or big or len(files) > 8 else 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


def profile(args: argparse.Namespace) -> int:
    """``profile``: where a train step's time goes, per method, before any long run is spent.

    One batch is drawn once and kept on the device (no data loading in the timings). For each batch size
    (the GPU recipe's times each ``--batch-mult``) it times ``--steps`` steps after ``--warmup``; then
    torch.profiler records 3 steps at the recipe's batch: the share of the wall time the GPU is busy
    (low = launch- or host-bound: larger batches or CUDA graphs help) and the kernel launches a step.
    Writes ``profile.json`` and ``profile_<method>.txt`` (the profiler's top operators) into ``--out``."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from torch.utils.data import DataLoader

    from hdrlift.data import build_train_dataset
    from hdrlift.train.recipes import build_recipe
    from hdrlift.train.trainer import StepSampler

    packed = Path(args.packed)
    manifest = read_manifest(packed)
    methods = parse_methods(args.methods)
    try:
        mults = sorted({int(v) for v in args.batch_mult.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--batch-mult: comma-separated integers, got {args.batch_mult!r}") from None
    if not mults or min(mults) < 1:
        raise ConfigError(f"--batch-mult: integers >= 1, got {args.batch_mult!r}")
    if args.steps < 1 or args.warmup < 0:
        raise ConfigError(f"--steps must be >= 1 and --warmup >= 0, got {args.steps} and {args.warmup}")
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = (device.type == "cuda") if args.amp == "auto" else (args.amp == "bf16")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hdrlift-profile-"))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    report: dict[str, Any] = {"device": _device_name(device), "amp": "bf16" if amp else "fp32", "methods": {}}
    try:
        unpack_train(packed, manifest, work)
        for m in methods:
            cfg = method_config(m, packed, work / "train.txt", work, args.tiny, 0, 1, "", args.set)
            torch.manual_seed(cfg.seed)
            recipe = build_recipe(cfg, device)
            if amp:
                autocast_subnetworks(recipe.model, device.type)
            base = cfg.data.batch
            # (the training samplers' order: the dataset's length can be 10**8, too long to shuffle)
            loader = DataLoader(build_train_dataset(cfg), batch_size=base,
                                sampler=StepSampler(0, max(mults), base), num_workers=0, drop_last=True)
            chunks: list[dict[str, Any]] = []
            for chunk in loader:
                chunks.append(chunk)
                if len(chunks) >= max(mults):
                    break
            if not chunks:
                raise ConfigError(f"{m}: the packed training data gives no batch of {base}")
            big = {k: (torch.cat([c[k] for c in chunks]) if isinstance(v, torch.Tensor) else v)
                   for k, v in chunks[0].items()}
            big = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in big.items()}
            rows = []
            step = 0
            for mult in [k for k in mults if k <= len(chunks)]:
                b = base * mult
                batch = {k: (v[:b] if isinstance(v, torch.Tensor) else v) for k, v in big.items()}
                try:
                    for _ in range(args.warmup):
                        recipe.train_step(batch, step)
                        step += 1
                    sync()
                    t = time.time()
                    for _ in range(args.steps):
                        recipe.train_step(batch, step)
                        step += 1
                    sync()
                except torch.OutOfMemoryError:
                    _log(f"[{m}] batch {b}: out of memory")
                    rows.append({"batch": b, "oom": True})
                    break
                ms = 1000.0 * (time.time() - t) / args.steps
                mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
                rows.append({"batch": b, "ms_per_step": round(ms, 2), "samples_per_s": round(1000.0 * b / ms, 1),
                             "peak_gib": None if mem is None else round(mem, 2)})
                _log(f"[{m}] batch {b} (patch {cfg.data.patch}): {ms:.1f} ms a step, {1000.0 * b / ms:.1f} "
                     f"samples/s" + ("" if mem is None else f", peak {mem:.1f} GiB"))
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
            batch = {k: (v[:base] if isinstance(v, torch.Tensor) else v) for k, v in big.items()}
            n_prof = 3
            sync()
            t = time.time()
            with torch_profile(activities=acts) as prof:
                for _ in range(n_prof):
                    recipe.train_step(batch, step)
                    step += 1
                sync()
            wall_ms = 1000.0 * (time.time() - t) / n_prof
            avg = prof.key_averages()
            launches = sum(e.count for e in avg if e.key in ("cudaLaunchKernel", "cuLaunchKernel",
                                                               "cudaLaunchKernelExC")) / n_prof
            dev_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)) for e in avg)
            busy = dev_us / 1000.0 / n_prof / wall_ms if device.type == "cuda" else None
            sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
            (out / f"profile_{m}.txt").write_text(avg.table(sort_by=sort, row_limit=30) + "\n")
            summary = {"patch": cfg.data.patch, "recipe_batch": base, "rows": rows,
                       "profiled_ms_per_step": round(wall_ms, 2), "kernel_launches_per_step": launches,
                       "gpu_busy": None if busy is None else round(busy, 3)}
            report["methods"][m] = summary
            _log(f"[{m}] profiled at batch {base}: {wall_ms:.1f} ms a step, {launches:.0f} kernel launches a step"
                 + ("" if busy is None else f", GPU busy {100.0 * busy:.0f} % of the wall time"))
            del recipe, big, batch, chunks
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
        (out / "profile.json").write_text(json.dumps(report, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _relay(method: str, proc: subprocess.Popen) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        print(line if line.startswith(f"[{method}]") else f"[{method}] {line}", flush=True)


def format_table(methods: list[str], results: dict[str, Any], linear: dict[str, float], wall: float) -> str:
    """Final validation table: PSNR-mu and gain over linear per part, the criterion, the stored file."""
    head = f"{'method':<14}{'steps':>7}{'it/s':>7}{'best@':>7}"
    for p in VAL_PARTS:
        head += f"{p + ' dB':>14}{'gain':>7}"
    head += f"{'stops a/b':>11}{'min gain':>9}{'stored':>8}{'dtype':>6}{'MiB':>6}"
    lines = [f"final validation (packed suite pairs; wall {wall / 60:.1f} min)", head,
             f"{'linear':<14}{'':>21}" + "".join(f"{linear.get(p, float('nan')):>14.2f}{0.0:>+7.2f}"
                                                 for p in VAL_PARTS)]
    for m in methods:
        r = results.get(m)
        if r is None:
            lines.append(f"{m:<14} no result (see its log lines above)")
            continue
        b = r["best"]
        row = f"{m:<14}{r['steps']:>7}{r['it_per_s']:>7.1f}{r['best_step']:>7}"
        for p in VAL_PARTS:
            row += f"{b.get(f'{p}_psnr_mu', float('nan')):>14.2f}{b.get(f'{p}_gain', float('nan')):>+7.2f}"
        stops = f"{b.get('a_default_clip_stops', float('nan')):.2f}/{b.get('b_heldout_clip_stops', float('nan')):.2f}"
        size = r["files"].get("model.safetensors", 0) / 2**20
        row += f"{stops:>11}{b['score']:>+9.2f}{r['stored']['score']:>+8.2f}{r['dtype']:>6}{size:>6.1f}"
        lines.append(row)
    lines.append("gain = PSNR-mu minus linear's on the same pairs (after alignment on well-exposed pixels); "
                 "min gain = the checkpoint criterion; stored = min gain of the saved file as loaded back")
    return "\n".join(lines)


# ============================================================================= run-dir (for ship_weights.py)


def run_dir(args: argparse.Namespace) -> int:
    """``run-dir``: turn a returned ``<method>/`` checkpoint into a run directory that
    ``scripts/ship_weights.py`` ships (config.yaml, log.jsonl, best.json, last.json, checkpoints/step-N/)."""
    import yaml

    from hdrlift import rundir
    from hdrlift.checkpoint import read_config

    src, dst = Path(args.checkpoint), Path(args.run)
    cfg = read_config(src)
    meta = cfg.get("meta", {})
    if meta.get("trainer") != "scripts/gpu_train.py" or "config" not in meta:
        raise DataError(f"{src}: not a checkpoint written by scripts/gpu_train.py train")
    if dst.exists() and any(dst.iterdir()) and not args.overwrite:
        raise ConfigError(f"{dst}: not empty (use --overwrite)")
    step = int(meta["step"])
    ck = rundir.checkpoint_dir(dst, step)
    ck.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(src / name, ck / name)
    run_cfg = dict(meta["config"])
    run_cfg["out_dir"] = str(dst)
    (dst / rundir.CONFIG).write_text(yaml.safe_dump(run_cfg, sort_keys=False))
    rows = []
    for h in meta.get("history", []):
        t = float(h.get("time", 0.0))
        rows.append({"step": h["step"], "kind": "train", "time": t,
                     **{k[6:]: v for k, v in h.items() if k.startswith("train_")}})
        val = {k: v for k, v in h.items() if k not in ("step", "time", "minutes") and not k.startswith("train_")}
        rows.append({"step": h["step"], "kind": "val", "time": t, **val})
    (dst / rundir.LOG).write_text("".join(json.dumps(r) + "\n" for r in rows))
    rundir.write_pointer(dst, "best", step, ck, meta={k: meta[k] for k in ("step", "val", "best_psnr_mu") if k in meta})
    rundir.write_pointer(dst, "last", step, ck)
    _log(f"{dst}: run directory of {src} (step {step}, score {meta.get('val', {}).get('score', float('nan')):+.2f}"
         f" dB); ship with: python scripts/ship_weights.py {dst} --name {cfg['arch']}.polyhaven "
         f"--machine \"{meta.get('device', '?')}\"")
    return 0


# ============================================================================= CLI


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="write the packed data folder (inside the checkout, git-ignored)")
    p.add_argument("--out", default="packed")
    p.add_argument("--max-side", type=int, default=512, help="longer side of the training scenes")
    p.add_argument("--val-max-side", type=int, default=160, help="longer side of the validation pairs")
    p.add_argument("--root", default="../shared/data/hdr")
    p.add_argument("--train-split", default=str(ROOT / "configs/splits/hdr_v2_train.txt"))
    p.add_argument("--val-split", default=str(ROOT / "configs/splits/hdr_v2_val.txt"))
    p.add_argument("--crf-file", default="../shared/data/crf/201_CRF_data.mat")
    p.add_argument("--limit-mib", type=float, default=None,
                   help="size limit of the folder (default: 64 MiB minus the working tree minus --margin-mib)")
    p.add_argument("--margin-mib", type=float, default=1.0)
    t = sub.add_parser("train", help="train the methods side by side (on the device)")
    t.add_argument("--packed", default="packed")
    t.add_argument("--methods", default=",".join(METHODS))
    t.add_argument("--minutes", type=float, default=8.0, help="wall-clock training time (all methods in parallel)")
    t.add_argument("--out", required=True, help="where the best checkpoint of each method goes ($OUT)")
    t.add_argument("--init-shipped", action="store_true",
                   help="start from hdrlift/weights/<method>.polyhaven where its widths match")
    t.add_argument("--tiny", action="store_true", help="tiny widths, 2 steps (CPU test)")
    t.add_argument("--steps", type=int, default=-1, help="stop after N steps (0 = at the wall-clock limit; "
                                                          "default: 2 with --tiny, else 0)")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda")
    t.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"),
                   help="autocast: auto = bf16 on CUDA, fp32 on the CPU")
    t.add_argument("--workers", type=int, default=None, help="DataLoader workers per method (default: cores split)")
    t.add_argument("--val-every", type=float, default=60.0, help="seconds between validations")
    t.add_argument("--val-pairs", type=int, default=0, help="validate on the first N pairs of each part (0 = all)")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--set", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="override a key of the GPU recipes (repeatable), e.g. twostage:loss.clip_weight=200 or "
                        "data.scale_min=0.05 (all methods)")
    w = sub.add_parser("_worker", help=argparse.SUPPRESS)
    for k in ("--method", "--packed", "--work", "--out", "--deadline", "--device", "--amp"):
        w.add_argument(k, required=True)
    w.add_argument("--workers", type=int, required=True)
    w.add_argument("--threads", type=int, required=True)
    w.add_argument("--val-every", type=float, default=60.0)
    w.add_argument("--val-pairs", type=int, default=0)
    w.add_argument("--tiny", action="store_true")
    w.add_argument("--steps", type=int, default=-1)
    w.add_argument("--init-shipped", action="store_true")
    w.add_argument("--set", action="append", default=[])
    q = sub.add_parser("profile", help="time a train step per method and batch size, and profile it (on the device)")
    q.add_argument("--packed", default="packed")
    q.add_argument("--methods", default=",".join(METHODS))
    q.add_argument("--out", required=True, help="where profile.json and profile_<method>.txt go ($OUT)")
    q.add_argument("--batch-mult", default="1,2,4", help="batch sizes as multiples of the recipe's (default 1,2,4)")
    q.add_argument("--steps", type=int, default=10, help="timed steps per batch size (default 10)")
    q.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    q.add_argument("--tiny", action="store_true", help="tiny widths (CPU test)")
    q.add_argument("--set", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="override a key of the GPU recipes, as for train")
    q.add_argument("--device", default="auto", help="auto | cpu | cuda")
    q.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"),
                   help="autocast: auto = bf16 on CUDA, fp32 on the CPU")
    r = sub.add_parser("run-dir", help="make a run directory of a returned checkpoint (for ship_weights.py)")
    r.add_argument("checkpoint", help="a returned <method>/ folder")
    r.add_argument("run", help="the run directory to write, e.g. runs/twostage_gpu")
    r.add_argument("--overwrite", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fn = {"pack": pack, "train": train, "_worker": worker, "run-dir": run_dir, "profile": profile}[args.cmd]
    try:
        return fn(args)
    except (HdrliftError, OSError) as exc:
        if args.debug:
            raise
        where = f"[{args.method}] " if args.cmd == "_worker" else ""
        print(f"{where}error: {one_line(exc, 400)}", file=sys.stderr if args.cmd != "_worker" else sys.stdout)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
