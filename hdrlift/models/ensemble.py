"""An ensemble of fully convolutional hdrlift networks: the weighted mean of their linear HDR outputs.

Not a paper's method: a way to run several of them as one model. Each member keeps its own architecture and
weights (``hparams["members"]``: registry name and hyper-parameters of each; the state dict holds them as
``members.<i>.<name>``); the ensemble's output is ``sum_i w_i * max(member_i(ldr), 0)`` with the weights
normalised to sum 1. Because it is one :class:`~hdrlift.models.base.HDRModel`, everything the runtime does
with a network (tiling, the declared blend with the decoded photo, precision, export) applies to it as a
whole: the blend is applied once, to the mean.

Why: on the generalisation suite (BENCHMARKS.md section 1) twostage.polyhaven and hdrunet.polyhaven alone
each gain +2.5 dB at least; their mean, blended as either weight declares, gains +2.73 / +3.00 / +3.62 /
+3.19 dB on the four cameras, more than either on every camera, and its clipped error is lower (1.18 / 1.11
stops against 1.20 / 1.13): their errors are partly independent (docs/models.md, ``ensemble.polyhaven``).

Size requirements: the largest receptive field of the members (tiles stay exact) and the least common
multiple of their multiples. Members with a global part (uhd_bilateral's low-resolution branch, CurveNet)
or an unknown receptive field (DuHDR) are refused: a mean of tiles would not equal the mean of the whole.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hdrlift.errors import ModelError
from hdrlift.models.base import HDRModel, ModelSpec, SizeRequirements

_PAPER = "hdrlift (no paper): the weighted mean of member networks"
_DOMAIN = "each member's own; the mean is taken of the members' linear HDR outputs (1.0 = clipping level)"


def _member_size(model: HDRModel) -> SizeRequirements:
    """A member's size requirements: its registry spec, its own receptive field where it declares one."""
    from hdrlift.models.registry import get_spec

    size = get_spec(model.arch).size
    rf = getattr(model, "receptive_field", None)
    if isinstance(rf, int):
        size = SizeRequirements(multiple=size.multiple, receptive_field=rf, global_context=size.global_context,
                                min_size=size.min_size, pointwise=size.pointwise)
    return size


class _MeanOf(nn.Module):
    """The exportable form: the weighted mean of the members' exportable forms."""

    def __init__(self, modules: list[nn.Module], weights: list[float]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self.weights = list(weights)

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        out = self.weights[0] * self.parts[0](ldr).clamp(min=0.0)
        for w, m in zip(self.weights[1:], self.parts[1:]):
            out = out + w * m(ldr).clamp(min=0.0)
        return out


class Ensemble(HDRModel):
    """The weighted mean of member networks' linear HDR outputs.

    Args:
        members: ``[{"name": registry name, "hparams": {...}}, ...]`` (at least two; the hyper-parameters
            default to the variant's); each must be fully convolutional with a known receptive field.
        weights: one non-negative weight per member (normalised to sum 1); default equal.

    Shape:
        (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping level).
    """

    arch = "ensemble"
    inside_domain = _DOMAIN

    def __init__(self, members: list[dict[str, Any]] | None = None, weights: list[float] | None = None) -> None:
        from hdrlift.models.registry import create_model

        if not isinstance(members, list) or len(members) < 2:
            raise ModelError(f"ensemble: members must list at least two networks, got {members!r}")
        built: list[HDRModel] = []
        for i, m in enumerate(members):
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                raise ModelError(f"ensemble: member {i} must be {{'name': ..., 'hparams': {{...}}}}, got {m!r}")
            if m["name"].split("_")[0] == "ensemble":
                raise ModelError("ensemble: a member cannot be an ensemble")
            built.append(create_model(m["name"], **dict(m.get("hparams") or {})))
        w = [1.0] * len(built) if weights is None else [float(v) for v in weights]
        if len(w) != len(built) or any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
            raise ModelError(f"ensemble: weights must be {len(built)} non-negative numbers, not all 0; got {weights}")
        sizes = []
        for m, mod in zip(members, built):
            size = _member_size(mod)
            if size.global_context or size.receptive_field <= 0:
                raise ModelError(f"ensemble: member {m['name']} is not fully convolutional with a known receptive "
                                 "field (a global part or an unknown one); tiles of the mean would not be exact")
            sizes.append(size)
        norm = [v / sum(w) for v in w]
        spec_members = [{"name": m["name"], "hparams": mod.hparams} for m, mod in zip(members, built)]
        super().__init__(members=spec_members, weights=norm)
        self.members = nn.ModuleList(built)
        self.weights = norm
        #: the members' largest receptive field and the least common multiple of their multiples
        self.receptive_field = max(s.receptive_field for s in sizes)
        self.multiple = math.lcm(*(max(int(s.multiple), 1) for s in sizes))
        #: bfloat16 on the CPU only when every member allows it
        self.cpu_bf16 = "network" if all(mod.cpu_bf16 == "network" for mod in built) else "never"  # type: ignore[misc]

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Shape: (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0."""
        out = self.weights[0] * self.members[0](ldr).clamp(min=0.0)
        for w, m in zip(self.weights[1:], self.members[1:]):
            if w > 0:
                out = out + w * m(ldr).clamp(min=0.0)
        return out

    def export_module(self) -> nn.Module:
        """The weighted mean of the members' exportable forms.

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0
        """
        return _MeanOf([m.export_module() for m in self.members if isinstance(m, HDRModel)], self.weights)


def _members(suffix: str) -> list[dict[str, Any]]:
    return [{"name": f"twostage{suffix}", "hparams": {}}, {"name": f"hdrunet{suffix}", "hparams": {}}]


SPECS = [
    ModelSpec(
        name="ensemble",
        cls=Ensemble,
        paper=_PAPER,
        description="mean of member networks (default: twostage + hdrunet at the papers' widths)",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=4, receptive_field=0),
        hparams={"members": _members(""), "weights": [0.5, 0.5]},
    ),
    ModelSpec(
        name="ensemble_tiny",
        cls=Ensemble,
        paper=_PAPER,
        description="ensemble test variant (twostage_tiny + hdrunet_tiny)",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=4, receptive_field=0),
        hparams={"members": _members("_tiny"), "weights": [0.5, 0.5]},
    ),
]
