"""Ship an ensemble of shipped weights as one weight (``hdrlift.models.ensemble``).

    python scripts/make_ensemble.py --members twostage.polyhaven,hdrunet.polyhaven --name ensemble.polyhaven \\
        [--weights 0.5,0.5] [--dtype fp16] [--default]

The members' networks and weights are copied as they are (no training); the ensemble declares the blend with
the decoded photo of its first member (``meta.output_blend``), applied once to the mean. Writes
``hdrlift/weights/<name>/`` (model.safetensors, config.json with the members' provenance, golden.json).
Record its suite figures afterwards with ``benchmarks/generalisation.py`` and ``scripts/record_suite.py``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WEIGHTS = ROOT / "hdrlift" / "weights"


def main(argv: list[str] | None = None) -> int:
    from hdrlift.checkpoint import load_model, save_model, save_model_as
    from hdrlift.errors import HdrliftError, one_line
    from hdrlift.models import create_model
    from hdrlift.models.ensemble import Ensemble

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", required=True, help="comma-separated shipped weights or checkpoint directories")
    ap.add_argument("--name", required=True, help="ensemble.TAG")
    ap.add_argument("--weights", default="", help="comma-separated member weights (default: equal)")
    ap.add_argument("--dtype", default="fp16", choices=("fp32", "fp16", "bf16"))
    ap.add_argument("--weights-dir", type=Path, default=WEIGHTS)
    ap.add_argument("--default", action="store_true", help="make it the default of hdrlift predict")
    args = ap.parse_args(argv)
    if not args.name.startswith("ensemble."):
        print(f"hdrlift: error: --name {args.name}: an ensemble weight is named ensemble.TAG", file=sys.stderr)
        return 1
    try:
        names = [m.strip() for m in args.members.split(",") if m.strip()]
        nets = [load_model(n) for n in names]
        weights = [float(v) for v in args.weights.split(",")] if args.weights else None
        ens = create_model("ensemble", members=[{"name": n.arch, "hparams": n.hparams} for n in nets],
                           weights=weights)
        if not isinstance(ens, Ensemble):  # the registry's "ensemble" is this class
            raise ValueError(f"the registry's ensemble is a {type(ens).__name__}")
        for dst, src in zip(ens.members, nets):
            dst.load_state_dict(src.state_dict(), strict=True)
    except (HdrliftError, ValueError) as exc:
        print(f"hdrlift: error: {one_line(exc)}", file=sys.stderr)
        return 1
    metas = [dict((n.checkpoint_config or {}).get("meta", {})) for n in nets]
    meta = {
        "method": "ensemble", "tag": args.name.split(".", 1)[1],
        "members": [{"source": s, "arch": n.arch, "weight": w, "shipped_step": m.get("step"),
                     "machine": m.get("device") or m.get("machine"), "recipe": m.get("recipe")}
                    for s, n, w, m in zip(names, nets, ens.weights, metas)],
        "command": "python scripts/make_ensemble.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "note": "the members' weights as shipped, no training of the ensemble; the blend is the first member's",
    }
    if metas[0].get("output_blend"):
        meta["output_blend"] = metas[0]["output_blend"]
    out = args.weights_dir / args.name
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.name}.", dir=args.weights_dir))
    try:  # written beside, then swapped in: never a half-written weight
        stage = tmp / args.name
        if args.dtype == "fp32":
            save_model(ens, stage, meta=meta)
        else:
            save_model_as(ens, stage, args.dtype, meta=meta)
        from ship_weights import _write_golden

        _write_golden(load_model(stage), stage)
        if out.exists():
            out.rename(tmp / "old")
        stage.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.default:
        import json

        dfile = args.weights_dir / "default.json"
        d = json.loads(dfile.read_text()) if dfile.is_file() else {}
        d["default"] = args.name
        dfile.write_text(json.dumps(d) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"shipped {args.name}: {' + '.join(names)} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
