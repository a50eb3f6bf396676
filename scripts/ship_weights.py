"""Copy a checkpoint of a training run into the package as a shipped weight ``arch.tag``.

    python scripts/ship_weights.py runs/hdrunet_cpu --name hdrunet.polyhaven [--default] [--checkpoint last]

``--checkpoint best`` (default) takes the run's best in-training validation checkpoint, ``last`` its
last one (preferable when the validation set is small and noisy: no selection on it), ``step-0004000``
that checkpoint directory (e.g. picked on a second, larger evaluation set), or any checkpoint directory
path (e.g. one written by ``scripts/average_checkpoints.py``).

Writes ``hdrlift/weights/<name>/model.safetensors`` (``--weights-dir`` elsewhere) + ``config.json`` (with
the run's meta: steps, wall time, validation metrics) and ``golden.json`` (the output on
:func:`hdrlift.checkpoint.golden_input`, checked by tests/test_weights.py). ``--default`` makes it the
default of ``hdrlift predict``. ``--dtype fp16`` stores the floating tensors in float16 (bfloat16 where a
value exceeds its range; :func:`hdrlift.checkpoint.save_model_as`), half the bytes; ``load_model`` loads
them into the float32 network. ``--restore NAME --dtype fp16`` re-stores an already shipped weight that way,
its meta kept (the run directory is not needed), and writes its golden output again.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's hdrlift, whatever is installed
    sys.path.insert(0, str(ROOT))
WEIGHTS = ROOT / "hdrlift" / "weights"


def run_meta(run: Path, step: int | None = None) -> dict:
    """Run facts for the card; ``val`` = the in-training validation of the shipped ``step``."""
    from hdrlift import rundir

    log = [json.loads(x) for x in (run / rundir.LOG).read_text().splitlines() if x.strip()]
    train = [r for r in log if r["kind"] == "train"]
    wall = (train[-1]["time"] - train[0]["time"]) if len(train) > 1 else 0.0
    best = rundir.read_pointer(run, "best") or {}
    val = best.get("meta", {}).get("val", {})
    if step is not None:
        rows = [r for r in log if r["kind"] == "val" and r["step"] == step]
        val = {k: v for k, v in rows[-1].items() if k not in ("step", "kind", "time")} if rows else {}
    return {"run_dir": run.name, "best_step": best.get("step"),
            "best_psnr_mu": best.get("meta", {}).get("best_psnr_mu"),  # the run's, not the shipped step's
            "last_step": train[-1]["step"] if train else 0,
            "train_wall_hours_logged": round(wall / 3600, 2), "val": val}


def _write_golden(model: torch.nn.Module, out: Path) -> torch.Tensor:
    """``golden.json``: the weight's output on :func:`hdrlift.checkpoint.golden_input` (tests/test_weights.py)."""
    from hdrlift.checkpoint import golden_input

    with torch.inference_mode():
        y = model.eval()(golden_input())
    (out / "golden.json").write_text(json.dumps({
        "input": "hdrlift.checkpoint.golden_input", "shape": list(y.shape),
        "mean": float(y.mean()), "max": float(y.max()),
        "samples": [float(v) for v in y.flatten()[:: max(y.numel() // 64, 1)].tolist()],
    }, indent=1) + "\n")
    return y


def _restore(name: str, weights_dir: Path, dtype: str) -> int:
    """Re-store the shipped weight ``name`` with its floating tensors in ``dtype``, meta kept; new golden."""
    import tempfile

    from hdrlift.checkpoint import load_model, save_model, save_model_as

    src = weights_dir / name
    if not (src / "config.json").is_file():
        print(f"hdrlift: error: {src}: no shipped weight there", file=sys.stderr)
        return 1
    model = load_model(src)
    meta = dict((model.checkpoint_config or {}).get("meta", {}))
    meta.pop("stored_dtype", None)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=weights_dir))
    try:
        stage = tmp / name  # written beside, then swapped in: never a half-written weight
        if dtype == "fp32":
            save_model(model, stage, meta=meta)
        else:
            save_model_as(model, stage, dtype, meta=meta)
        stored = load_model(stage)
        _write_golden(stored, stage)
        old = tmp / "old"
        src.rename(old)
        stage.rename(src)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in src.iterdir()) / 1e6
    print(f"re-stored {name} as {(stored.checkpoint_config or {}).get('meta', {}).get('stored_dtype', dtype)} "
          f"({size:.1f} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from hdrlift import rundir
    from hdrlift.checkpoint import load_model, save_model, save_model_as
    from hdrlift.errors import ConfigError

    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, nargs="?", help="the training run (not with --restore)")
    ap.add_argument("--name", help="arch.tag, e.g. hdrunet.polyhaven")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"), help="storage of the floating tensors")
    ap.add_argument("--restore", metavar="NAME", help="re-store the shipped weight NAME in --dtype (meta kept)")
    ap.add_argument("--default", action="store_true")
    ap.add_argument("--checkpoint", default="best",
                    help="best | last | step-NNNNNNN (a checkpoint directory of the run, e.g. picked on a second set)"
                         " | a checkpoint directory path")
    ap.add_argument("--weights-dir", type=Path, default=WEIGHTS,
                    help="where shipped weights live (default hdrlift/weights of this checkout)")
    ap.add_argument("--machine", default=f"{platform.machine()} {platform.processor() or ''} 2 cores".strip())
    args = ap.parse_args(argv)
    if args.restore:
        return _restore(args.restore, args.weights_dir, args.dtype)
    if args.run is None or not args.name:
        ap.error("a run and --name are needed (or --restore NAME)")
    try:
        ck = rundir.select_checkpoint(args.run, args.checkpoint)
    except ConfigError as exc:
        print(f"hdrlift: error: {exc}", file=sys.stderr)
        return 1
    model = load_model(ck)
    meta = dict((model.checkpoint_config or {}).get("meta", {}))
    meta.update(run_meta(args.run, int(meta["step"]) if "step" in meta else None))
    if not meta["val"]:  # the run did not validate at this step: the same validation, run now
        from hdrlift.data import build_val_pairs
        from hdrlift.train.config import load_config
        from hdrlift.train.trainer import validate

        cfg = load_config(args.run / rundir.CONFIG)
        meta["val"] = validate(model, build_val_pairs(cfg), torch.device("cpu"))
        meta["val_note"] = "the run's in-training validation, computed when shipping"
    meta["machine"] = args.machine
    recipe = [f"{d}/{args.run.name}.yaml" for d in ("configs/train", "docs/history/configs")
              if (ROOT / d / f"{args.run.name}.yaml").is_file()]
    meta["recipe"] = recipe[0] if recipe else f"(no config file named {args.run.name}.yaml)"
    meta["shipped_checkpoint"] = f"{args.checkpoint} ({ck.name})"
    import yaml

    init = (yaml.safe_load((args.run / rundir.CONFIG).read_text()) or {}).get("init")
    if init:
        meta["init"] = init
    out = args.weights_dir / args.name
    if out.exists():
        shutil.rmtree(out)
    if args.dtype == "fp32":
        save_model(model, out, meta=meta)
    else:
        save_model_as(model, out, args.dtype, meta=meta)
    y = _write_golden(load_model(out), out)  # the golden output of the file as stored
    if args.default:
        dfile = args.weights_dir / "default.json"  # other keys (the camera estimator) are kept
        d = json.loads(dfile.read_text()) if dfile.is_file() else {}
        dfile.write_text(json.dumps({**d, "default": args.name}) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"shipped {args.name} from {ck} ({size:.1f} MB); val {meta.get('val')}")
    print(f"golden mean {float(y.mean()):.5f}; numpy {np.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
