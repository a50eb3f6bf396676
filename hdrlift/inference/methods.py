"""A method name as something that maps an LDR batch to linear HDR.

The names (``"default"``, a classical operator, an architecture with shipped weights, a shipped weight, a
checkpoint or training run directory) are resolved by :func:`hdrlift.checkpoint.resolve_name`, the one
owner of that; this module only loads what it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Method:
    """A resolved method: ``fn`` maps (B,3,H,W) sRGB LDR -> (B,3,H,W) linear HDR."""

    name: str
    kind: str  # "operator" | "network"
    fn: Any
    model: torch.nn.Module | None = None


def resolve_method(name: str, device: str | torch.device = "cpu") -> Method:
    """Map ``name`` to a :class:`Method` (:func:`hdrlift.checkpoint.resolve_name`; an architecture means its
    shipped weight; ModelError with the valid choices)."""
    from hdrlift.checkpoint import load_model, resolve, resolve_name
    from hdrlift.operators import get_operator

    r = resolve_name(name)
    if r.kind == "operator":
        return Method(name=r.name, kind="operator", fn=get_operator(r.name).fn)
    model = load_model(resolve(name), map_location="cpu").to(device)
    model.eval()
    return Method(name=r.name, kind="network", fn=model, model=model)
