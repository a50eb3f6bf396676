"""A method name as something that maps an LDR batch to linear HDR.

The names (``"default"``, a classical operator, an architecture with shipped weights, a shipped weight, a
checkpoint or training run directory) are resolved by :func:`hdrlift.checkpoint.resolve_name`, the one
owner of that; this module only loads what it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from hdrlift.errors import ModelError

if TYPE_CHECKING:
    from hdrlift.models.base import HDRModel

@dataclass
class Method:
    """A resolved method: ``fn`` maps (B,3,H,W) sRGB LDR -> (B,3,H,W) linear HDR.

    ``model``: the network of a ``"network"`` method; the runtime reads its declared contract
    (:class:`~hdrlift.models.base.HDRModel`), never its name."""

    name: str
    kind: str  # "operator" | "network"
    fn: Any
    model: HDRModel | None = None


def default_camera_estimator() -> str:
    """The decoder ``--camera estimate`` loads: the checkpoint directory ``camera_estimator`` of the shipped
    ``default.json`` names, relative to the weights folder (a component of the default's blend, not a
    method of its own: ``hdrlift/weights/components/``)."""
    from hdrlift.checkpoint import WEIGHTS_DIR

    dfile = WEIGHTS_DIR / "default.json"
    name = json.loads(dfile.read_text()).get("camera_estimator") if dfile.is_file() else None
    if not isinstance(name, str) or not (WEIGHTS_DIR / name / "config.json").is_file():
        raise ModelError("no camera estimator is shipped in this installation (default.json camera_estimator); "
                         "give --camera a weight or checkpoint, or use --camera srgb")
    return str(WEIGHTS_DIR / name)


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
