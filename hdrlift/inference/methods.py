"""Resolve a method name to something that maps an LDR batch to linear HDR.

Accepted: ``"default"``, a classical operator (``landis``), an architecture name with shipped weights
(``hdrunet`` -> its shipped weight), a shipped pretrained name (``hdrunet.polyhaven``), or a checkpoint
directory / training run directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hdrlift.errors import ModelError

if TYPE_CHECKING:
    from hdrlift.models.base import HDRModel

#: Used when no trained network is shipped: the best *expanding* classical operator in BENCHMARKS.md
#: (linear / akyuz / masia score marginally higher PSNR-mu but leave clipped highlights at 1.0, i.e.
#: reconstruct nothing; kovaleski is the best of the operators that expand highlights).
DEFAULT_OPERATOR = "kovaleski"


@dataclass
class Method:
    """A resolved method: ``fn`` maps (B,3,H,W) sRGB LDR -> (B,3,H,W) linear HDR.

    ``model``: the network of a ``"network"`` method; the runtime reads its declared contract
    (:class:`~hdrlift.models.base.HDRModel`), never its name."""

    name: str
    kind: str  # "operator" | "network"
    fn: Any
    model: HDRModel | None = None


def default_method_name() -> str:
    """The default of ``hdrlift predict``: the shipped default network, else the best operator."""
    from hdrlift.checkpoint import WEIGHTS_DIR, pretrained_names

    dfile = WEIGHTS_DIR / "default.json"
    if dfile.is_file():
        name = json.loads(dfile.read_text()).get("default")
        if name in pretrained_names():
            return str(name)
    return DEFAULT_OPERATOR


def default_camera_estimator() -> str:
    """The decoder ``--camera estimate`` loads: ``camera_estimator`` of the shipped ``default.json``."""
    from hdrlift.checkpoint import WEIGHTS_DIR, pretrained_names

    dfile = WEIGHTS_DIR / "default.json"
    name = json.loads(dfile.read_text()).get("camera_estimator") if dfile.is_file() else None
    if name not in pretrained_names():
        raise ModelError("no camera estimator is shipped in this installation (default.json camera_estimator); "
                         "give --camera a weight or checkpoint, or use --camera srgb")
    return str(name)


def _run_dir_checkpoint(p: Path) -> Path | None:
    for which in ("best.json", "last.json"):
        f = p / which
        if f.is_file():
            try:
                d = p / json.loads(f.read_text())["dir"]
            except (ValueError, KeyError):
                continue
            if (d / "config.json").is_file():
                return d
    return None


def resolve_method(name: str, device: str | torch.device = "cpu") -> Method:
    """Map ``name`` to a :class:`Method` (raises ModelError with the valid choices)."""
    from hdrlift.operators import get_operator, list_operators

    if name == "default":
        name = default_method_name()
    op_names = [o.name for o in list_operators()]
    if name in op_names:
        op = get_operator(name)
        return Method(name=name, kind="operator", fn=op.fn)
    from hdrlift.checkpoint import load_model, pretrained_names
    from hdrlift.models import list_models

    p = Path(name)
    target: str | Path | None = None
    if p.is_dir():
        target = _run_dir_checkpoint(p) or p
    elif name in pretrained_names():
        target = name
    elif name in [s.name for s in list_models()]:
        shipped = [n for n in pretrained_names() if n.split(".")[0] == name]
        if not shipped:
            raise ModelError(
                f"no trained weights are shipped for '{name}'; pass a checkpoint directory "
                f"(see 'hdrlift train') or one of: {', '.join(pretrained_names() + op_names)}"
            )
        target = shipped[0]
    if target is None:
        raise ModelError(
            f"unknown method '{name}'; operators: {', '.join(op_names)}; "
            f"pretrained: {', '.join(pretrained_names()) or 'none'}; or a checkpoint directory"
        )
    model = load_model(target, map_location="cpu").to(device)
    model.eval()
    return Method(name=str(name), kind="network", fn=model, model=model)
