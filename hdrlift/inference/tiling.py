"""Tiled inference with context margins and feathered (cross-fade) blending.

The image is cut into core tiles on a grid with stride ``S``. Each tile is run on its core grown by
``context + blend/2`` pixels on every side (clamped to the image), and contributes to the output on its
core grown by ``blend/2``, with a linear cross-fade over the ``blend`` band shared with its neighbour (the
weights of two neighbours sum to 1). Every blended pixel is at least ``context`` pixels away from the edge
of the tile input, so for a local model whose receptive field is <= ``context`` the tiled output equals
the untiled one up to float rounding. Tile origins are aligned to the model's size multiple so
down-sampling layers see the same phase as in the untiled run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def _align_up(v: int, m: int) -> int:
    return int(math.ceil(v / m) * m) if m > 1 else v


def _ranges(n: int, core: int, min_last: int) -> list[tuple[int, int]]:
    """Core spans of length ``core``; a last span shorter than ``min_last`` is merged into the previous."""
    spans = [(s, min(s + core, n)) for s in range(0, n, core)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_last:
        spans[-2:] = [(spans[-2][0], n)]
    return spans


def _ramp(length: int, lo_blend: int, hi_blend: int, device: torch.device) -> torch.Tensor:
    """1-D weights over an output span with linear ramps of the given widths at both ends."""
    w = torch.ones(length, device=device)
    if lo_blend > 0:
        w[:lo_blend] = (torch.arange(lo_blend, device=device, dtype=torch.float32) + 0.5) / lo_blend
    if hi_blend > 0:
        w[length - hi_blend :] = torch.minimum(
            w[length - hi_blend :],
            (torch.arange(hi_blend, 0, -1, device=device, dtype=torch.float32) - 0.5) / hi_blend,
        )
    return w


def tiled_apply(
    fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    context: int,
    blend: int = 16,
    multiple: int = 1,
    out_channels: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply ``fn(tile_input, (top, left))`` over tiles of ``x`` and blend the outputs.

    Args:
        fn: maps an input crop (B,C,h,w) and its top-left offset in ``x`` to an output of the same size.
        tile: core tile size (rounded up to ``multiple``).
        context: margin of input context on each side (>= the model's receptive field for exactness).
        blend: width of the cross-fade band between neighbouring tiles (even number of pixels).
        multiple: alignment of tile origins (the model's size multiple).

    Shape:
        x: (B, C, H, W) -> (B, out_channels, H, W)
    """
    b, _, h, w = x.shape
    core = max(_align_up(max(tile, blend + 1), multiple), multiple)
    half = blend // 2
    margin = _align_up(context + half, max(multiple, 1))
    if h <= core + 2 * margin and w <= core + 2 * margin:
        return fn(x, (0, 0))
    out = torch.zeros(b, out_channels, h, w, dtype=torch.float32, device=x.device)
    norm = torch.zeros(1, 1, h, w, dtype=torch.float32, device=x.device)
    rows, cols = _ranges(h, core, blend + 1), _ranges(w, core, blend + 1)
    total, done = len(rows) * len(cols), 0
    for r0, r1 in rows:
        for c0, c1 in cols:
            i0, i1 = max(r0 - margin, 0), min(r1 + margin, h)
            j0, j1 = max(c0 - margin, 0), min(c1 + margin, w)
            y = fn(x[:, :, i0:i1, j0:j1], (i0, j0)).float()
            o0, o1 = max(r0 - half, 0), min(r1 + half, h)
            p0, p1 = max(c0 - half, 0), min(c1 + half, w)
            wy = _ramp(o1 - o0, 2 * half if r0 > 0 else 0, 2 * half if r1 < h else 0, x.device)
            wx = _ramp(p1 - p0, 2 * half if c0 > 0 else 0, 2 * half if c1 < w else 0, x.device)
            wgt = wy[:, None] * wx[None, :]
            out[:, :, o0:o1, p0:p1] += y[:, :, o0 - i0 : o1 - i0, p0 - j0 : p1 - j0] * wgt
            norm[:, :, o0:o1, p0:p1] += wgt
            done += 1
            if progress is not None:
                progress(done, total)
    return out / norm.clamp(min=1e-12)
