"""Strategies for images larger than a tile.

- ``tile`` (default): overlapping tiles with context >= the receptive field and feathered blending
  (exact for local models). Models with global context keep it: a model that defines
  ``global_context(x_full)`` and ``forward_with_context(x_tile, ctx, offset, full_size)`` has its global
  part computed once on the whole image and only the per-pixel part run per tile.
- ``deu``: downsample-enhance-upsample (bilateral paper section 4.2): run on the image down-scaled so its
  long side equals the tile size, up-sample the output bilinearly.
- ``ses``: split-enhance-stitch (bilateral paper section 4.2): independent non-overlapping tiles, stitched
  (seams are expected; offered for comparison).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from hdrlift.errors import HdrliftError
from hdrlift.inference.tiling import tiled_apply

STRATEGIES = ("tile", "deu", "ses", "none")


def run_large(model: Any, x: torch.Tensor, tile: int, size: Any, strategy: str = "tile") -> torch.Tensor:
    """Run ``model`` on a large (B,3,H,W) LDR batch with ``strategy``.

    Shape:
        (B, 3, H, W) sRGB LDR -> (B, 3, H, W) linear HDR
    """
    h, w = x.shape[-2:]
    if strategy == "none":
        return model(x)
    if strategy == "deu":
        s = tile / max(h, w)
        small = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False, antialias=True)
        y = model(small.clamp(0, 1))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False).clamp(min=0)
    if strategy == "ses":
        out = torch.empty(x.shape[0], 3, h, w, dtype=torch.float32, device=x.device)
        for i in range(0, h, tile):
            for j in range(0, w, tile):
                out[:, :, i : i + tile, j : j + tile] = model(x[:, :, i : i + tile, j : j + tile]).float()
        return out
    if strategy != "tile":
        raise HdrliftError(f"unknown large-image strategy '{strategy}'; use one of {', '.join(STRATEGIES)}")
    context = int(size.receptive_field) if size.receptive_field > 0 else 64
    multiple = max(int(size.multiple), 1)
    if hasattr(model, "global_context") and hasattr(model, "forward_with_context"):
        ctx = model.global_context(x)
        return tiled_apply(
            lambda t, off: model.forward_with_context(t, ctx, off, (h, w)), x, tile, context, multiple=multiple
        )
    return tiled_apply(lambda t, off: model(t), x, tile, context, multiple=multiple)
