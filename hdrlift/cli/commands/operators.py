"""``hdrlift operators``: list the classical expansion operators."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("operators", help="list classical expansion operators",
                       epilog="examples:\n  hdrlift operators\n  hdrlift operators --json\n"
                       "  hdrlift predict photo.jpg -m kovaleski      # use one of them\n")
    p.add_argument("--json", action="store_true", help="print name, description and citation as JSON")
    p.set_defaults(func=cmd_operators)


def cmd_operators(args: argparse.Namespace) -> int:
    from hdrlift.operators import list_operators

    ops = list_operators()
    if args.json:
        print(json.dumps([{"name": o.name, "description": o.description, "citation": o.citation} for o in ops],
                         indent=2))
        return 0
    w = max(len(o.name) for o in ops)
    for o in ops:
        print(f"{o.name:<{w}}  {o.description}")
        print(f"{'':<{w}}  {o.citation}")
    return 0
