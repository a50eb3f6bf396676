"""Shared pieces of the classical expansion operators: input checks, gamma removal, luminance
changes and the rule that maps an operator's output into the project convention.

Project convention (the same as for the networks): input (B, 3, H, W) sRGB-encoded LDR in [0, 1];
output (B, 3, H, W) linear HDR >= 0 with 1.0 = the input camera's clipping level.

The HDR Toolbox operators produce display luminance (cd/m^2, up to a ``Max``). hdrlift converts
with one documented rule (:func:`to_project_scale`): the output is divided, per image, by the
median ratio ``L_out / L_lin`` over the well-exposed pixels (encoded luminance >= 0.1 and every
channel <= 0.9), so well-exposed mid-tones land on the linearised input and highlights keep the
expansion ratio the operator gave them. ``normalize=False`` on any operator returns the raw
toolbox-unit output instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hdrlift.ops.transfer import gamma_decode, luminance, srgb_to_linear

#: Well-exposed pixels used by :func:`to_project_scale`.
WELL_EXPOSED_MIN_LUMA = 0.1
WELL_EXPOSED_MAX_CHANNEL = 0.9


@dataclass(frozen=True)
class OperatorSpec:
    """Registry entry of a classical expansion operator.

    Attributes:
        name: registry name (``landis``).
        fn: ``fn(ldr, **params) -> hdr`` following the project convention.
        citation: the paper.
        description: one line.
        defaults: keyword parameters and their defaults.
        expands: True when clipped highlights come out above 1 (not a plain linearisation).
    """

    name: str
    fn: Callable[..., torch.Tensor]
    citation: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    expands: bool = True


def check_ldr(ldr: torch.Tensor) -> torch.Tensor:
    """Validate an LDR batch (B, 3, H, W), clamp it to [0, 1] and return it as float32/64."""
    if not isinstance(ldr, torch.Tensor) or ldr.dim() != 4 or ldr.shape[1] != 3:
        raise ValueError(f"expected an LDR tensor (B, 3, H, W), got {getattr(ldr, 'shape', type(ldr))}")
    x = ldr if ldr.dtype in (torch.float32, torch.float64) else ldr.float()
    if not torch.isfinite(x).all():
        raise ValueError("LDR input contains NaN or Inf")
    return x.clamp(0.0, 1.0)


def linearize(ldr: torch.Tensor, gamma: str | float = "srgb") -> torch.Tensor:
    """Gamma removal: ``"srgb"`` = IEC 61966-2-1 decoding (default), a number g = ``x ** g``
    (toolbox style, 2.2 when the CRF is unknown, 1.0 for linear input).

    Shape:
        (B, 3, H, W) sRGB-encoded LDR -> same, linear
    """
    if gamma == "srgb":
        return srgb_to_linear(ldr)
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be 'srgb' or a number, got {gamma!r}") from None
    if g <= 0:
        raise ValueError(f"gamma must be positive, got {g}")
    return gamma_decode(ldr, g)


def change_luminance(rgb: torch.Tensor, lum_old: torch.Tensor, lum_new: torch.Tensor) -> torch.Tensor:
    """Scale every channel by ``lum_new / lum_old`` (0 where ``lum_old`` is 0).

    Shape:
        rgb (B, 3, H, W), lum_old / lum_new (B, 1, H, W) -> (B, 3, H, W)
    """
    ratio = torch.where(lum_old > 0, lum_new / lum_old.clamp(min=1e-12), torch.zeros_like(lum_new))
    return rgb * ratio


def image_stat(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a reduction to each image of a batch: ``fn`` on the flattened values -> (B, 1, 1, 1)."""
    return torch.stack([fn(v.reshape(-1)) for v in x]).view(-1, 1, 1, 1).to(x.dtype)


def well_exposed(ldr: torch.Tensor) -> torch.Tensor:
    """Mask of well-exposed pixels of an sRGB-encoded LDR batch.

    Shape:
        (B, 3, H, W) -> (B, 1, H, W) bool
    """
    return (luminance(ldr) >= WELL_EXPOSED_MIN_LUMA) & (ldr.amax(dim=1, keepdim=True) <= WELL_EXPOSED_MAX_CHANNEL)


def to_project_scale(out: torch.Tensor, lum_out: torch.Tensor, lum_lin: torch.Tensor,
                     ldr: torch.Tensor) -> torch.Tensor:
    """Divide an operator's output by the median ``lum_out / lum_lin`` over well-exposed pixels.

    Falls back to all pixels with ``lum_lin > 1e-4`` when fewer than 16 pixels are well exposed,
    and to no scaling when even those are missing.

    Shape:
        out (B, 3, H, W), lum_out / lum_lin (B, 1, H, W), ldr (B, 3, H, W) -> (B, 3, H, W)
    """
    mask = well_exposed(ldr)
    scales = []
    for i in range(out.shape[0]):
        valid = lum_lin[i] > 1e-4
        sel = mask[i] & valid
        if int(sel.sum()) < 16:
            sel = valid
        if int(sel.sum()) == 0:
            scales.append(torch.ones((), dtype=torch.float64, device=out.device))
            continue
        r = (lum_out[i][sel].double() / lum_lin[i][sel].double())
        s = torch.quantile(r, 0.5) if r.numel() <= 16_000_000 else r.median()
        scales.append(s if bool(s > 0) else torch.ones_like(s))
    s = torch.stack(scales).view(-1, 1, 1, 1).to(out.dtype)
    return out / s
