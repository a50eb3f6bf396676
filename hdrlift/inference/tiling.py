"""Tiled inference with context margins and feathered (cross-fade) blending.

The image is cut into core tiles on a grid with stride ``S``. Each tile is run on its core grown by
``context + blend/2`` pixels on every side (clamped to the image), and contributes to the output on its
core grown by ``blend/2``, with a linear cross-fade over the ``blend`` band shared with its neighbour (the
weights of two neighbours sum to 1, so no normalisation buffer is needed). Every blended pixel is at
least ``context`` pixels away from the edge of the tile input, so for a local model whose receptive
field is <= ``context`` the tiled output equals the untiled one up to float rounding. Tile origins are
aligned to the model's size multiple so down-sampling layers see the same phase as in the untiled run.

Memory: besides the input and the output, only one tile (input crop, model activations, output) is
alive at a time; the output may be a caller-provided buffer (e.g. a channels-last view of a numpy
array, so the result needs no further full-resolution copy).
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
    """1-D weights over an output span with linear ramps of the given widths at both ends.

    A rising ramp ``(k + 0.5) / b`` and the neighbour's falling ramp ``(b - k - 0.5) / b`` sum to 1.
    """
    w = torch.ones(length, device=device)
    if lo_blend > 0:
        w[:lo_blend] = (torch.arange(lo_blend, device=device, dtype=torch.float32) + 0.5) / lo_blend
    if hi_blend > 0:
        w[length - hi_blend :] = torch.minimum(
            w[length - hi_blend :],
            (torch.arange(hi_blend, 0, -1, device=device, dtype=torch.float32) - 0.5) / hi_blend,
        )
    return w


def tile_geometry(tile: int, context: int, blend: int = 16, multiple: int = 1) -> tuple[int, int]:
    """(core, margin) actually used by :func:`tiled_apply` for a requested ``tile`` and ``context``.

    A tile's input is at most ``core + 2 * margin`` pixels on a side (at most ``core + blend`` more
    when the last span of a row or column is merged into its neighbour).
    """
    multiple = max(int(multiple), 1)
    core = max(_align_up(max(int(tile), blend + 1), multiple), multiple)
    margin = _align_up(int(context) + blend // 2, multiple)
    return core, margin


def tile_count(h: int, w: int, tile: int, context: int, blend: int = 16, multiple: int = 1) -> int:
    """Number of model calls :func:`tiled_apply` makes on an ``h`` x ``w`` image (1 = untiled)."""
    core, margin = tile_geometry(tile, context, blend, multiple)
    if h <= core + 2 * margin and w <= core + 2 * margin:
        return 1
    return len(_ranges(h, core, blend + 1)) * len(_ranges(w, core, blend + 1))


def tile_input_pixels(h: int, w: int, tile: int, context: int, blend: int = 16, multiple: int = 1) -> int:
    """Pixels the model processes over all tiles of an ``h`` x ``w`` image (``h * w`` when untiled)."""
    core, margin = tile_geometry(tile, context, blend, multiple)
    if h <= core + 2 * margin and w <= core + 2 * margin:
        return h * w
    rows = sum(min(r1 + margin, h) - max(r0 - margin, 0) for r0, r1 in _ranges(h, core, blend + 1))
    cols = sum(min(c1 + margin, w) - max(c0 - margin, 0) for c0, c1 in _ranges(w, core, blend + 1))
    return rows * cols


def tiled_apply(
    fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    tile: int,
    context: int,
    blend: int = 16,
    multiple: int = 1,
    out_channels: int = 3,
    progress: Callable[[int, int], None] | None = None,
    out: torch.Tensor | None = None,
    region: bool = False,
) -> torch.Tensor:
    """Apply ``fn(tile_input, (top, left))`` over tiles of ``x`` and blend the outputs.

    Args:
        fn: maps an input crop (B,C,h,w) and its top-left offset in ``x`` to an output of the same size.
        tile: core tile size (rounded up to ``multiple``).
        context: margin of input context on each side (>= the model's receptive field for exactness).
        blend: width of the cross-fade band between neighbouring tiles (even number of pixels).
        multiple: alignment of tile origins (the model's size multiple).
        out: optional float32 output buffer (B, out_channels, H, W), any strides (e.g. a channels-last
            view); filled and returned. Allocated when ``None``.
        region: call ``fn(tile_input, (top, left), (r0, r1, c0, c1))`` instead; it returns only the
            output window ``[r0:r1, c0:c1]`` of the tile (the part that is kept), so a model can skip
            the layers' work that only the discarded context margin needs (``forward_region``).

    Shape:
        x: (B, C, H, W) -> (B, out_channels, H, W)
    """
    b, _, h, w = x.shape
    core, margin = tile_geometry(tile, context, blend, multiple)
    half = blend // 2
    if h <= core + 2 * margin and w <= core + 2 * margin:
        y = fn(x.contiguous(), (0, 0), (0, h, 0, w)) if region else fn(x.contiguous(), (0, 0))
        if out is None:
            return y
        out.copy_(y)
        return out
    if out is None:
        out = torch.empty(b, out_channels, h, w, dtype=torch.float32, device=x.device)
    rows, cols = _ranges(h, core, blend + 1), _ranges(w, core, blend + 1)
    total, done = len(rows) * len(cols), 0
    # Every output pixel is written first by the tile whose output span starts at or before it with
    # weight 1 or a rising ramp; the first write of each pixel is an assignment (no zero-fill pass).
    for r0, r1 in rows:
        for c0, c1 in cols:
            i0, i1 = max(r0 - margin, 0), min(r1 + margin, h)
            j0, j1 = max(c0 - margin, 0), min(c1 + margin, w)
            o0, o1 = max(r0 - half, 0), min(r1 + half, h)
            p0, p1 = max(c0 - half, 0), min(c1 + half, w)
            tile_in = x[:, :, i0:i1, j0:j1].contiguous()
            if region:
                y = fn(tile_in, (i0, j0), (o0 - i0, o1 - i0, p0 - j0, p1 - j0)).float()
            else:
                y = fn(tile_in, (i0, j0)).float()[:, :, o0 - i0 : o1 - i0, p0 - j0 : p1 - j0]
            del tile_in
            lo_r, hi_r = (2 * half if r0 > 0 else 0), (2 * half if r1 < h else 0)
            lo_c, hi_c = (2 * half if c0 > 0 else 0), (2 * half if c1 < w else 0)
            wy = _ramp(o1 - o0, lo_r, hi_r, x.device)
            wx = _ramp(p1 - p0, lo_c, hi_c, x.device)
            y.mul_(wy[:, None] * wx[None, :])
            # rows [o0, o0 + lo_r) were partly written by the tile above, cols [p0, p0 + lo_c) by the
            # tile to the left; everything else in this span is new.
            dst = out[:, :, o0:o1, p0:p1]
            if lo_r:
                dst[:, :, :lo_r].add_(y[:, :, :lo_r])
            if lo_c:
                dst[:, :, lo_r:, :lo_c].add_(y[:, :, lo_r:, :lo_c])
            dst[:, :, lo_r:, lo_c:].copy_(y[:, :, lo_r:, lo_c:])
            del y, dst
            done += 1
            if progress is not None:
                progress(done, total)
    return out
