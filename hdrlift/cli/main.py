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

COMMANDS = ("predict", "view", "degrade", "evaluate", "operators", "models", "train", "convert", "export", "bench",
            "prep", "completion")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (no usage block) with exit code 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from hdrlift.cli import commands_data, commands_predict, commands_train, commands_view

    p = _Parser(
        prog="hdrlift",
        description="Single-image LDR -> HDR reconstruction (networks, classical operators, metrics).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"hdrlift {__version__}",
                   help="print the version and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    commands_predict.add_parsers(sub)
    commands_view.add_parsers(sub)
    commands_data.add_parsers(sub)
    commands_train.add_parsers(sub)
    c = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script for bash or zsh on stdout.",
                       epilog=COMPLETION_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("shell", choices=["bash", "zsh", "methods"],
                   help="bash or zsh ('methods' prints the method names, for the scripts)")
    c.set_defaults(func=_cmd_completion)
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

COMPLETION_EPILOG = """\
examples:
  eval "$(hdrlift completion bash)"                                   # this bash session
  hdrlift completion bash > ~/.local/share/bash-completion/completions/hdrlift
  hdrlift completion zsh > "${fpath[1]}/_hdrlift"                     # zsh, then restart it
"""


def _cmd_completion(args: argparse.Namespace) -> int:
    from hdrlift.cli import completion

    if args.shell == "methods":
        from hdrlift.cli.helptext import method_names

        m = method_names()
        archs = sorted({n.split(".")[0] for n in m["pretrained"]})
        print("\n".join(["default", *m["pretrained"], *archs, *m["operators"]]))
        return 0
    parser = build_parser()
    print(completion.bash_script(parser) if args.shell == "bash" else completion.zsh_script(parser), end="")
    return 0


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
