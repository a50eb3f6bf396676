"""``hdrlift`` command line: ``main(argv) -> int`` (0 ok, 1 on an hdrlift error, 2 on usage).

Heavy imports happen inside each command so ``hdrlift --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from hdrlift._version import __version__
from hdrlift.errors import HdrliftError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (no usage block) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``hdrlift`` parser: one sub-parser per module of :mod:`hdrlift.cli.commands`."""
    from hdrlift.cli.commands import command_modules

    p = _Parser(
        prog="hdrlift",
        description="Single-image LDR -> HDR reconstruction (networks, classical operators, metrics).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"hdrlift {__version__}",
                   help="print the version and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(root_parser=p)  # for ``hdrlift completion``, which describes the whole parser
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for mod in command_modules():
        mod.add_parser(sub)
    for sp in sub.choices.values():  # keep the line breaks of every command's examples
        if sp.epilog and sp.formatter_class is argparse.HelpFormatter:
            sp.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


EPILOG = """\
examples:
  hdrlift predict examples/rocket.jpg -o out/       # out/rocket.exr + out/rocket.preview.png
  hdrlift view out/rocket.exr examples/rocket.jpg   # out/rocket.view.html, open it in a browser
  hdrlift predict photos/ -o out/ -m hdrunet        # a folder, another method
  hdrlift COMMAND --help                            # options and examples of a command

'hdrlift completion bash' (or zsh) prints a shell completion script.
"""

# A value that starts with "-" and a digit: "-1", "-0.5", "-1,0,1.5", "-2:2".
_NEGATIVE_VALUE = re.compile(r"^-\.?\d[\d.,:eE+-]*$")


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions if a.option_strings and a.nargs is None for s in a.option_strings}


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--exposures -1,0,1.5`` -> ``--exposures=-1,0,1.5`` (and ``-x -1`` -> ``-x-1``).

    argparse takes a word that starts with "-" for an option unless it is a plain negative number, so a
    list of numbers that starts with a negative one could only be given as ``--opt=-1,0``. An option that
    takes one value and is followed by such a word gets it as its value (per command: only options of
    the command given are considered).
    """
    subs = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    takes = _value_options(parser)
    out: list[str] = []
    i, in_command = 0, False
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            out += argv[i:]
            break
        if not in_command and subs is not None and tok in subs.choices:
            in_command, takes = True, _value_options(subs.choices[tok])
        elif tok in takes and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}" if tok.startswith("--") else tok + argv[i + 1])
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, list(sys.argv[1:] if argv is None else argv)))
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
