"""Record the generalisation-suite figures of shipped weights in their config.json (``meta.suite``).

    python benchmarks/generalisation.py --method twostage.polyhaven ... --blend 0.9,0 --json suite.json
    python scripts/record_suite.py suite.json [--use hdrunet.polyhaven=0.9,0 ...]

For every shipped weight scored in ``suite.json``: per part (a_default, b_heldout, c_srgb,
c_srgb_clean) its PSNR-mu, linear's PSNR-mu, the gain, PSNR-mu on well-exposed / clipped pixels, the
clipped error in stops, PU21-PSNR and the per-region oracle, plus the score (smallest gain) and the
command. ``--use NAME=TAU,MID`` records the row of that blend variant instead and declares the blend
in the weight (``meta.output_blend``), so the runtime applies it by default (``--blend auto``);
``--use NAME=none`` records the raw row and removes a declared blend; ``--use NAME=TAU,MID@CAMERA``
records the row scored with that decoder of the photo (``generalisation.py --camera CAMERA``) and
declares it too (``meta.output_blend.camera``, see ``hdrlift predict --camera``). ``hdrlift models --pretrained``
prints the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

WEIGHTS = Path(__file__).resolve().parents[1] / "hdrlift" / "weights"
KEYS = ("psnr_mu", "psnr_mu_well", "psnr_mu_clip", "clip_stops", "pu21_psnr")


def _use(spec: str) -> tuple[str, tuple[tuple[Any, ...], str | None] | None]:
    name, _, blend = spec.partition("=")
    blend, _, camera = blend.partition("@")
    if not blend:
        raise SystemExit(f"error: --use takes NAME=TAU,MID or NAME=none, got {spec!r}")
    if blend == "none":
        return name, None
    from hdrlift.tools.suite import parse_blend

    try:
        vals = parse_blend(blend)
    except ValueError as e:
        raise SystemExit(f"error: --use {spec!r}: {e}") from None
    return name, (vals, camera or None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("suite_json", type=Path, help="report of benchmarks/generalisation.py --json")
    ap.add_argument("--use", action="append", default=[],
                    metavar="NAME=TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]][@CAMERA]|none",
                    help="record this blend variant for weight NAME and declare it in the weight")
    args = ap.parse_args(argv)
    from hdrlift.tools.suite import blend_label

    try:
        report = json.loads(args.suite_json.read_text())
        parts = report["parts"]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {args.suite_json}: not a suite report ({e})", file=sys.stderr)
        return 1
    uses = dict(_use(s) for s in args.use)
    done = 0
    for cfg_path in sorted(WEIGHTS.glob("*/config.json")):
        name = cfg_path.parent.name
        blend = uses.get(name, "keep")
        label = name
        if isinstance(blend, tuple):
            label = blend_label(name, blend[0]) + (f"@{blend[1]}" if blend[1] else "")
        if not all(label in rows for rows in parts.values()):
            if name in uses:
                print(f"error: {args.suite_json} has no row {label!r} in every part", file=sys.stderr)
                return 1
            continue
        cfg = json.loads(cfg_path.read_text())
        meta = cfg.setdefault("meta", {})
        rec: dict[str, object] = {}
        for part, rows in parts.items():
            r, lin = rows[label], rows["linear"]
            row = {k: None if r.get(k) is None else round(float(r[k]), 3) for k in KEYS}
            row["linear_psnr_mu"] = round(float(lin["psnr_mu"]), 3)
            row["gain"] = round(float(r["psnr_mu"]) - float(lin["psnr_mu"]), 3)
            row["linear_clip_stops"] = None if lin.get("clip_stops") is None else round(float(lin["clip_stops"]), 3)
            orc = report.get("oracle", {}).get(part)
            row["oracle_clip_stops"] = None if orc is None else round(float(orc), 3)
            row["n"] = int(report.get("n", {}).get(part, 0))
            rec[part] = row
        rec["score"] = round(min(float(v["gain"]) for v in rec.values() if isinstance(v, dict)), 3)
        rec["row"] = label
        rec["command"] = report.get("setup", {}).get("command")
        rec["date"] = datetime.date.today().isoformat()
        meta["suite"] = rec
        if blend is None:
            meta.pop("output_blend", None)
        elif isinstance(blend, tuple):
            b, cam = blend
            meta["output_blend"] = {"tau": b[0], "mid": b[1], "sigma": b[2] if len(b) >= 3 else 0.0}
            if len(b) >= 4:
                meta["output_blend"]["detail"] = b[3]
            if len(b) == 5 and float(b[4]) > 0:
                meta["output_blend"]["highlight"] = b[4]
            if cam:
                meta["output_blend"]["camera"] = cam
        tmp = cfg_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        tmp.replace(cfg_path)
        gains = ", ".join(f"{p} {v['gain']:+.2f}" for p, v in rec.items() if isinstance(v, dict))
        print(f"{name} ({label}): {gains}; score {rec['score']:+.2f} dB")
        done += 1
    if not done:
        print(f"error: {args.suite_json}: no shipped weight scored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
