"""``hdrlift evaluate``: score predictions, or run methods side by side on pairs."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from hdrlift.cli import argtypes
from hdrlift.errors import HdrliftError

EVALUATE_EPILOG = """\
examples:
  hdrlift evaluate --pred out/ --ref pairs/                          # score predictions you made
  hdrlift evaluate --data pairs/ --method linear --model twostage.polyhaven --per-image
  hdrlift evaluate --data pairs/ --model hdrunet --csv scores.csv --group-by ev
  hdrlift evaluate --data pairs/ --compare linear twostage.polyhaven    # paired difference, 95% interval
  hdrlift evaluate --list-metrics
"""


def add_parser(sub: Any) -> None:
    from hdrlift.cli.helptext import METHODS, lazy

    p = sub.add_parser("evaluate", help="score predictions or compare methods on pairs", epilog=EVALUATE_EPILOG)
    p.add_argument("--pred", help="folder of predictions (EXR/HDR, or NTIRE png + alignratio)")
    p.add_argument("--ref", help="folder of references (NTIRE _gt.png + alignratio, or EXR/HDR)")
    p.add_argument("--ldr", help="folder of the LDR inputs (for the clipped-region metric; default --ref)")
    p.add_argument("--data", help="pairs folder made by 'hdrlift degrade' (ntire layout) to run methods on")
    p.add_argument("--dataset", help="dataset kind of --root (ntire, paired, sice, fivek, hdr_real, hdr_eye, "
                   "si_hdr, aim2025)")
    p.add_argument("--root", help="dataset root for --dataset")
    lazy(p.add_argument("--method", action="append", default=[],
                        help="a method to run on the pairs (repeatable): %(methods)s"), methods=METHODS)
    p.add_argument("--model", action="append", default=[], help="network weight or checkpoint (repeatable)")
    p.add_argument("--metrics", default="psnr_mu,psnr_l,ssim_mu,clipped_rmse",
                   help="comma-separated metric names")
    p.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    p.add_argument("--device", default="auto", type=argtypes.device,
                   help="auto (CUDA when available, else CPU) | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--tile", type=argtypes.tile, default=None,
                   help="network tile size (default: the largest that fits predict's memory default; 0 = none)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "auto"],
                   help="network precision (default fp32 for reproducible metrics; other rows are labelled "
                   "name@precision)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", help="also write the per-image table to this CSV file")
    p.add_argument("--per-image", action="store_true", help="print per-image rows too")
    p.add_argument("--group-by", metavar="FIELD",
                   help="also report means per value of a manifest.csv field of --data/--ref "
                   "(ev, crf, jpeg_quality, ...)")
    p.add_argument("--protocol", choices=["ntire2021", "si-hdr", "aim2025"],
                   help="evaluate as a paper/challenge does: fixes input preparation, alignment, metrics and "
                   "display, printed above the table and written into --json (see docs/metrics.md)")
    p.add_argument("--nits-map", choices=["percentile_to_nits", "max_to_nits", "clip_to_nits", "absolute"],
                   help="how relative HDR is put on the display for PU21 / Delta E_ITP / cvvdp (default: the "
                   "protocol's, else percentile_to_nits: reference luminance P99.9 -> --peak-nits)")
    p.add_argument("--peak-nits", type=float,
                   help="cd/m^2 that the --nits-map anchor maps to (default: the protocol's, else 1000)")
    p.add_argument("--nits-percentile", type=float,
                   help="anchor percentile of percentile_to_nits (default: the protocol's, else 99.9)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="run methods A and B on the same pairs and print the paired mean difference B - A of "
                   "every metric with a bootstrap 95%% interval")
    p.add_argument("--bootstrap", type=int, default=10000, metavar="N",
                   help="bootstrap resamples for --compare (default 10000, seeded: reruns give the same interval)")
    p.add_argument("--list-protocols", action="store_true", help="print the protocols' settings and exit")
    p.add_argument("--list-metrics", action="store_true",
                   help="print every metric with its direction, unit and recipe and exit")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hdrlift.tools.evaluate import (
        compare_methods,
        format_table,
        group_summary,
        manifest_field,
        mean_metrics,
        score_folders,
    )

    if args.list_protocols or args.list_metrics:
        return _print_lists(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    protocol = _evaluation_protocol(args, metrics)
    if protocol is not None:
        metrics = protocol.columns()
    groups = None
    if args.group_by:
        folder = args.data or args.ref
        if not folder:
            raise HdrliftError("--group-by needs --data or --ref (a pairs folder with the manifest.csv of "
                               "'hdrlift degrade')")
        groups = manifest_field(Path(folder), args.group_by)
    if args.pred or args.ref:
        if not (args.pred and args.ref):
            raise HdrliftError("--pred and --ref must be given together")
        if args.compare:
            raise HdrliftError("--compare runs two methods: use it with --data (or --dataset/--root)")
        rows = score_folders(Path(args.pred), Path(args.ref), Path(args.ldr) if args.ldr else None, metrics,
                             limit=args.limit, protocol=protocol)
        summary = {"pred": mean_metrics(rows, metrics, str(args.pred))}
        summary["pred"]["sec_per_image"] = None
    elif args.data or args.dataset:
        methods = list(dict.fromkeys(list(args.method) + list(args.model) + list(args.compare or [])))
        if not methods:
            raise HdrliftError("give at least one --method or --model to evaluate")
        rows, summary = compare_methods(methods, data=args.data, dataset=args.dataset, root=args.root,
                                        metrics=metrics, limit=args.limit, device=args.device, tile=args.tile,
                                        precision=args.precision, protocol=protocol)
    else:
        raise HdrliftError("give --pred/--ref, or --data (or --dataset/--root) with --method/--model")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            keys = list(rows[0].keys()) if rows else ["name"]
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    grouped = group_summary(rows, groups, args.group_by, metrics) if groups is not None else None
    comparison = None
    if args.compare:
        from hdrlift.tools.evaluate import paired_comparison

        comparison = paired_comparison(rows, args.compare[0], args.compare[1], metrics, resamples=args.bootstrap)
    if args.json:
        doc: dict[str, Any] = {"summary": summary, "rows": rows}
        if protocol is not None:
            doc["protocol"] = protocol.to_dict()
        if grouped is not None:
            doc["groups"] = {"field": args.group_by, "rows": grouped}
        if comparison is not None:
            doc["compare"] = comparison
        print(json.dumps(doc, indent=2, default=float))
    else:
        if protocol is not None:
            print(protocol.header())
            print()
        if args.per_image:
            print(format_table(rows, ["method", "name", *metrics]))
            print()
        print(format_table(list(summary.values()), ["method", "n", *metrics, "sec_per_image"]))
        if grouped is not None:
            print()
            print(format_table(grouped, ["method", args.group_by, "n", *metrics]))
        if comparison is not None:
            print()
            print(f"paired comparison over the same images ({args.bootstrap} bootstrap resamples, seed 0):")
            for line in comparison["lines"]:
                print(f"  {line}")
    return 0


def _evaluation_protocol(args: argparse.Namespace, metrics: list[str]) -> Any:
    """The --protocol with the display overrides, or a 'custom' one when only display options are given."""
    from hdrlift.metrics.protocols import Protocol, get_protocol
    from hdrlift.metrics.pu21 import Display

    display_opts = (args.nits_map, args.peak_nits, args.nits_percentile)
    if not args.protocol and all(v is None for v in display_opts):
        return None
    base = get_protocol(args.protocol) if args.protocol else Protocol(
        name="custom", title="--metrics on the display given on the command line", source="hdrlift",
        metrics=tuple(metrics), display=Display())
    d = base.display or Display()
    disp = Display(args.nits_map or d.nits_map, args.peak_nits if args.peak_nits is not None else d.peak_nits,
                   args.nits_percentile if args.nits_percentile is not None else d.percentile)
    return base.with_overrides(display=disp if any(v is not None for v in display_opts) else None)


def _print_lists(args: argparse.Namespace) -> int:
    from hdrlift.metrics.protocols import PROTOCOLS
    from hdrlift.metrics.registry import ALL_METRIC_SPECS, METRIC_SPECS

    if args.list_protocols:
        if args.json:
            print(json.dumps([p.to_dict() for p in PROTOCOLS.values()], indent=2))
        else:
            print("\n\n".join(p.header() for p in PROTOCOLS.values()))
    if args.list_metrics:
        if args.json:
            print(json.dumps([s.to_dict() | {"installed": s.name in METRIC_SPECS}
                              for s in ALL_METRIC_SPECS.values()], indent=2))
        else:
            w = max(len(n) for n in ALL_METRIC_SPECS)
            for s in ALL_METRIC_SPECS.values():
                flag = "" if s.name in METRIC_SPECS else " (not installed)"
                unit = s.unit or "-"
                print(f"{s.name:<{w}}  {'higher' if s.higher_is_better else 'lower '} better  {unit:<6}  "
                      f"{s.info}{flag}")
    return 0
