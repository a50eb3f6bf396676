"""Record the benchmark figures of shipped weights in their config.json (``meta.benchmark``).

    hdrlift evaluate --data pairs_val --method linear --model hdrunet.polyhaven ... \\
        --metrics psnr_mu,psnr_l,ssim_mu,psnr_mu_aligned,clipped_rmse --json > eval.json
    python scripts/record_benchmark.py eval.json --pairs "hdrlift degrade val split, seed 0, ..."

Every summary row whose method names a shipped weight gets its metrics, the number of pairs, the
``linear`` row's PSNR-mu of the same evaluation and the ``--pairs`` description; ``hdrlift models
--pretrained`` prints them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "hdrlift" / "weights"
KEYS = ("psnr_mu", "psnr_l", "ssim_mu", "psnr_mu_aligned", "clipped_rmse", "sec_per_image")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_json", type=Path)
    ap.add_argument("--pairs", required=True, help="description of the evaluated pairs")
    args = ap.parse_args(argv)
    summary = json.loads(args.eval_json.read_text())["summary"]
    linear = summary.get("linear", {}).get("psnr_mu")
    done = 0
    for name, row in summary.items():
        cfg_path = WEIGHTS / name / "config.json"
        if not cfg_path.is_file():
            continue
        cfg = json.loads(cfg_path.read_text())
        bench = {k: round(float(row[k]), 4) for k in KEYS if row.get(k) is not None}
        bench.update(n=int(row["n"]), pairs=args.pairs)
        if linear is not None:
            bench["linear_psnr_mu"] = round(float(linear), 4)
        cfg.setdefault("meta", {})["benchmark"] = bench
        tmp = cfg_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        tmp.replace(cfg_path)
        print(f"{name}: PSNR-mu {bench.get('psnr_mu')} dB (linear {bench.get('linear_psnr_mu')})")
        done += 1
    if not done:
        print(f"{args.eval_json}: no shipped weight among {', '.join(summary)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
