"""Help text computed when it is shown (so ``hdrlift --help`` stays instant and never imports torch).

argparse expands ``%(name)s`` in a help line from the attributes of its action, so an option whose help
says ``%(methods)s`` gets ``action.methods = METHODS`` and the method names are looked up only when
``--help`` is printed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def method_names() -> dict[str, Any]:
    """{"default": name, "pretrained": [...], "operators": [...]} (imports torch: call lazily)."""
    from hdrlift.checkpoint import default_name, pretrained_names
    from hdrlift.operators import list_operators

    return {"default": default_name(), "pretrained": list(pretrained_names()),
            "operators": [o.name for o in list_operators()]}


class _Lazy:
    """A value whose text is computed on first ``str()``."""

    def __init__(self, make: Any) -> None:
        self._make = make

    def __str__(self) -> str:
        return str(self._make())


def _methods_text(short_names: bool = True) -> str:
    try:
        m = method_names()
    except Exception as exc:  # help must print even where the method registry cannot load
        return f"(method list unavailable: {exc})"
    nets = ", ".join(m["pretrained"]) or "none shipped"
    archs = sorted({n.split(".")[0] for n in m["pretrained"]})
    return (f"default = {m['default']}; shipped networks: {nets}"
            + (f" (or just {', '.join(archs)})" if archs and short_names else "")
            + f"; operators: {', '.join(m['operators'])}; or a checkpoint/run directory")


#: Use as ``action.methods = METHODS`` with ``%(methods)s`` in the help line.
METHODS = _Lazy(_methods_text)
#: The same without the short names of the shipped networks (where a bare name means the architecture).
METHODS_FULL_NAMES = _Lazy(lambda: _methods_text(short_names=False))


def lazy(action: Any, **values: Any) -> Any:
    """Attach lazy ``%(name)s`` values to an argparse action; returns the action."""
    for k, v in values.items():
        setattr(action, k, v)
    return action
