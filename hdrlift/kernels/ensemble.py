"""Kernel of :class:`~hdrlift.models.ensemble.Ensemble`: each member runs its own kernel.

Without it an ensemble would run its members' plain forwards, bypassing their lean CPU kernels (the
region tiles and in-place activations of ``twostage.eval`` and ``hdrunet.eval``). ``ensemble.members``
asks :func:`~hdrlift.kernels.base.for_model` for each member's kernel (``kernels="torch"``: the ensemble
accepts no member with a global part, so no member that has a native kernel), sums ``w_i * max(y_i, 0)``
in float32, and offers ``forward_region`` when every member's kernel has it (the tiler's region mode).

Precision: each member's kernel takes the precision itself (CPU ``bf16`` converts that member's weights);
the ensemble's boundary stays float32 (``bf16 = "lowres"``: not one bfloat16 network).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hdrlift.kernels.base import Box, Kernel, entry, for_model, register
from hdrlift.models.ensemble import Ensemble


def _plain_mean(model: Any, ldr: torch.Tensor, box: Box | None = None) -> torch.Tensor:
    """The ensemble's own forward, each member fed in its weights' dtype (they may be bfloat16 after a
    member kernel converted them); the window ``box`` of it when given."""
    out: torch.Tensor | None = None
    for w, member in zip(model.weights, model.members):
        if w <= 0:
            continue
        p = next(member.parameters(), None)
        y = member(ldr.to(p.dtype) if p is not None else ldr).float().clamp(min=0.0) * w
        out = y if out is None else out + y
    assert out is not None  # the ensemble has a member of positive weight
    if box is not None:
        out = out[..., box[0] : box[1], box[2] : box[3]]
    return out


@register(Ensemble)
class EnsembleMembers(Kernel):
    """The weighted mean of the members' kernels.

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (float32);
        forward_region(ldr, box): -> (B, 3, bottom - top, right - left), box = (top, bottom, left, right)
        (only when every member's kernel has it).
    """

    name = "ensemble.members"
    kind = "torch"
    bf16 = "lowres"
    autocast_ok = True  # it only adds the members' float32 results; each member kernel checks autocast itself
    checks_weight_dtype = False  # the members' kernels own their weights' dtype (bf16 converts them)
    model: Ensemble

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model, device, precision)
        ens: Any = model
        #: (weight, kernel) of the members of positive weight
        self.parts = [(float(w), for_model(m, self.device, precision, "torch"))
                      for w, m in zip(ens.weights, ens.members) if w > 0]
        self._region = all(callable(getattr(k, "forward_region", None)) for _, k in self.parts)

    def options(self) -> dict[str, Any]:
        return {"members": " + ".join(f"{k.name} {str(k.dtype).replace('torch.', '')}" for _, k in self.parts)}

    @entry(_plain_mean)
    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        """Shape: (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0."""
        return self._mean(lambda k: k(ldr))

    @entry(_plain_mean)
    def _forward_region(self, ldr: torch.Tensor, box: Box) -> torch.Tensor:
        return self._mean(lambda k: k.forward_region(ldr, box))

    def _mean(self, run: Any) -> torch.Tensor:
        out: torch.Tensor | None = None
        for w, k in self.parts:
            y = run(k).clamp_(min=0.0).mul_(w)
            out = y if out is None else out.add_(y)
        assert out is not None
        return out

    def __getattr__(self, name: str) -> Any:
        if name == "forward_region" and self.__dict__.get("_region"):
            return self._forward_region
        return super().__getattr__(name)
