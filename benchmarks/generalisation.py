"""The generalisation suite (issue #22): every method against plain sRGB decoding on four cameras.

    python benchmarks/generalisation.py --method twostage.polyhaven --method hdrunet.polyhaven [--json out.json]

Scenes: ``--split`` (default the v2 validation split, 21 scenes no shipped weight trained on) under
``--root``; parts ``a_default``, ``b_heldout``, ``c_srgb``, ``c_srgb_clean`` (see
:mod:`hdrlift.tools.suite`). ``linear`` is always scored. A method may be a shipped weight, an
operator or a checkpoint directory (``runs/x/checkpoints/step-0001000``), so this is also the
checkpoint-picking tool: ``score`` is the smallest gain over linear across the parts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from hdrlift.data.splits import read_split
    from hdrlift.tools.suite import DEFAULT_CRF_FILE, PARTS, build_suite, format_suite, parse_blend, run_suite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", action="append", default=[], help="method to score (repeatable; linear is always in)")
    ap.add_argument("--root", default="../shared/data/hdr", help="HDR data folder (default: %(default)s)")
    ap.add_argument("--split", default="configs/splits/hdr_v2_val.txt", help="scene list (default: %(default)s)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts (default: the four of the shipping "
                    "rule; on request the diagnostic d_processed and d_localtone: the held-out camera with in-camera "
                    "saturation and sharpening, or with local tone mapping)")
    ap.add_argument("--max-side", type=int, default=384, help="long side of the captures (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N scenes (0 = all)")
    ap.add_argument("--seed", type=int, default=22, help="capture seed (default: %(default)s)")
    ap.add_argument("--crf-file", default=DEFAULT_CRF_FILE, help="DoRF curves for the held-out camera")
    ap.add_argument("--json", type=Path, help="also write the report as JSON here")
    ap.add_argument("--blend", action="append", default=[], metavar="TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]",
                    help="also score each network blended with the decoded photo (repeatable), e.g. 0.9,0")
    ap.add_argument("--camera", action="append", default=[], metavar="MODEL",
                    help="also score every --blend with this decoder of the photo (a curve estimator weight or "
                    "checkpoint; repeatable)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"),
                    help="the networks' precision (default: %(default)s; auto = what hdrlift predict runs: bf16 on "
                    "a CPU with native bfloat16)")
    ap.add_argument("--raw", action="store_true", help="networks without the blend their weight declares")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="print an existing report as a Markdown table (rows: --method, default all) and exit")
    args = ap.parse_args(argv)
    if args.render:
        from hdrlift.tools.suite import format_suite_markdown

        print(format_suite_markdown(json.loads(args.render.read_text()), args.method or None))
        return 0
    files = read_split(args.split, args.root)
    if args.limit:
        files = files[: args.limit]
    t0 = time.time()
    pairs = build_suite(files, [p for p in args.parts.split(",") if p], args.max_side, args.seed, args.crf_file)
    try:
        blends = [parse_blend(b) for b in args.blend]
    except ValueError:
        ap.error(f"--blend takes TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]] (numbers; DETAIL may be auto), got {args.blend}")
    report = run_suite(args.method, pairs, blends=blends, raw=args.raw, threads=args.threads,
                       cameras=args.camera, precision=args.precision)
    report["setup"] = {"split": args.split, "scenes": len(files), "max_side": args.max_side, "seed": args.seed,
                       "precision": args.precision, "crf_file": args.crf_file,
                       "command": "python benchmarks/generalisation.py "
                       + " ".join(sys.argv[1:] if argv is None else argv), "seconds": round(time.time() - t0, 1)}
    print(format_suite(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    from hdrlift.errors import run_script

    run_script(main)  # a bad path or data: one line, no traceback
