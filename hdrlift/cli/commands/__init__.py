"""One module per ``hdrlift`` command (:data:`COMMANDS`, in the order of ``hdrlift --help``).

Each module defines ``add_parser(sub)`` (its arguments, help text and examples; the parser's
``func`` default is the module's ``cmd_<command>(args) -> int``) and keeps its heavy imports inside
that function, so building the whole parser (``hdrlift --help``, completion) imports neither torch
nor the training code. :mod:`hdrlift.cli.main` only wires them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS = ("predict", "operators", "models", "convert", "view", "degrade", "evaluate", "prep", "train", "export",
            "bench", "completion")


def command_modules() -> list[ModuleType]:
    """The command modules, in :data:`COMMANDS` order."""
    return [importlib.import_module(f"{__name__}.{name}") for name in COMMANDS]
