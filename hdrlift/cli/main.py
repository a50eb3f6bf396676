"""``hdrlift`` command line: ``main(argv) -> int`` (0 ok, 1 on an hdrlift error, 2 on usage).

Heavy imports happen inside each command so ``hdrlift --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hdrlift._version import __version__
from hdrlift.errors import HdrliftError

COMMANDS = ("predict", "view", "degrade", "evaluate", "operators", "models", "train", "convert", "export", "bench",
            "prep", "completion")


def build_parser() -> argparse.ArgumentParser:
    from hdrlift.cli import commands_data, commands_predict, commands_train, commands_view

    p = argparse.ArgumentParser(
        prog="hdrlift",
        description="Single-image LDR -> HDR reconstruction (networks, classical operators, metrics).",
    )
    p.add_argument("--version", action="version", version=f"hdrlift {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    commands_predict.add_parsers(sub)
    commands_view.add_parsers(sub)
    commands_data.add_parsers(sub)
    commands_train.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HdrliftError as exc:
        if args.debug:
            raise
        print(f"hdrlift: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hdrlift: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
