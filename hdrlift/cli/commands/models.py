"""``hdrlift models``: list the network architectures and the shipped weights."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="list network architectures (and shipped weights)",
                       epilog="examples:\n"
                       "  hdrlift models                     # architectures, parameter counts, papers\n"
                       "  hdrlift models --pretrained        # shipped weights and their scores\n"
                       "  hdrlift predict photo.jpg -m hdrunet.polyhaven\n")
    p.add_argument("--pretrained", action="store_true", help="list shipped weights with validation scores")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from hdrlift.checkpoint import default_name, pretrained_names, read_config, resolve
    from hdrlift.models import create_model, list_models

    if args.pretrained:
        rows = []
        default = default_name() if pretrained_names() else None
        for name in pretrained_names():
            c = read_config(resolve(name))
            val = c.get("meta", {}).get("val", {})
            bench = c.get("meta", {}).get("benchmark", {})
            rows.append({"name": name, "default": name == default, "arch": c["arch"], "psnr_mu": val.get("psnr_mu"),
                         "clipped_rmse": val.get("clipped_rmse"), "steps": c.get("meta", {}).get("step"),
                         "benchmark_psnr_mu": bench.get("psnr_mu"),
                         "benchmark_linear_psnr_mu": bench.get("linear_psnr_mu"),
                         "suite": c.get("meta", {}).get("suite"),
                         "device": c.get("meta", {}).get("device") or c.get("meta", {}).get("machine"),
                         "members": c.get("meta", {}).get("members"),
                         "output_blend": c.get("meta", {}).get("output_blend")})
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("no pretrained weights are shipped in this installation")
        else:
            for r in rows:
                # the in-training validations differ between weights (sets, sizes): --json has them; the
                # suite below is the one validation all weights share
                dev = f"  trained on {r['device']}" if r.get("device") else ""
                what = (f"mean of {' + '.join(str(m.get('source')) for m in r['members'])}" if r.get("members")
                        else f"shipped step {r['steps']}{dev}")
                print(f"{r['name'] + (' (default)' if r['default'] else ''):<30} arch {r['arch']:<14} {what}")
                suite = r["suite"] or {}
                figs = [(p, suite[p]) for p in ("a_default", "b_heldout", "c_srgb", "c_srgb_clean") if p in suite]
                if figs:  # the generalisation suite (docs/models.md): PSNR-mu and gain over linear per camera
                    print(f"{'':<30} suite: " + "; ".join(
                        f"{p} {v['psnr_mu']:.2f} dB ({v['gain']:+.2f} vs linear)" for p, v in figs))
                    clip = [(p, v) for p, v in figs if "clip_stops" in v and "oracle_clip_stops" in v]
                    if clip:  # the clipped error beside the per-region oracle that knows each region's level
                        print(f"{'':<30} clipped error (stops; per-region oracle): " + "; ".join(
                            f"{p} {v['clip_stops']:.2f} ({v['oracle_clip_stops']:.2f})" for p, v in clip))
                if r["output_blend"]:
                    b = r["output_blend"]
                    print(f"{'':<30} blend with the decoded photo: tau {b['tau']:g}, mid {b['mid']:g}, "
                          f"sigma {b.get('sigma', 0):g}, detail {b.get('detail', 1)}, "
                          f"highlight {b.get('highlight', 0):g}, camera {b.get('camera', 'srgb')}")
            if default:
                print(f"default of hdrlift predict (--method default): {default}")
        return 0
    rows = []
    for s in list_models():
        n = create_model(s.name).num_parameters()
        rows.append({"name": s.name, "paper": s.paper, "params": n, "domain": s.domain,
                     "multiple": s.size.multiple, "global_context": s.size.global_context,
                     "description": s.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<20} {r['params']:>11,d} params  {r['description']}")
        print(f"{'':<20} paper: {r['paper']}")
        print(f"{'':<20} inside: {r['domain']}; size multiple {r['multiple']}"
              + (f"; global: {r['global_context']}" if r["global_context"] else ""))
    return 0
