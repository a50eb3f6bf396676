"""``hdrlift completion``: print a bash or zsh completion script (or the method names, for the scripts)."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
examples:
  eval "$(hdrlift completion bash)"                                   # this bash session
  hdrlift completion bash > ~/.local/share/bash-completion/completions/hdrlift
  hdrlift completion zsh > "${fpath[1]}/_hdrlift"                     # zsh, then restart it
"""


def add_parser(sub: Any) -> None:
    c = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script for bash or zsh on stdout.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("shell", choices=["bash", "zsh", "methods"],
                   help="bash or zsh ('methods' prints the method names, for the scripts)")
    c.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    """The script for ``args.root_parser`` (the whole ``hdrlift`` parser, set by :func:`hdrlift.cli.main.main`)."""
    from hdrlift.cli import completion

    if args.shell == "methods":
        from hdrlift.cli.helptext import method_names

        m = method_names()
        archs = sorted({n.split(".")[0] for n in m["pretrained"]})
        print("\n".join(["default", *m["pretrained"], *archs, *m["operators"]]))
        return 0
    parser = args.root_parser
    print(completion.bash_script(parser) if args.shell == "bash" else completion.zsh_script(parser), end="")
    return 0
