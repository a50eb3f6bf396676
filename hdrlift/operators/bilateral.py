"""Fast (joint / cross) bilateral filter on a bilateral grid (torch, O(N) memory).

Follows the bilateral grid of Chen, Paris & Durand ("Real-time edge-aware image processing with
the bilateral grid", SIGGRAPH 2007; Paris & Durand, "A fast approximation of the bilateral
filter using a signal processing approach", ECCV 2006): the data is splatted (trilinearly) into a
coarse 3-D grid with cells of ``sigma_s`` pixels and ``sigma_r`` guide units, the grid is blurred
with a unit-sigma Gaussian in all three dimensions and the result is sliced back (trilinear
interpolation) at each pixel's (x, y, guide) position, normalised by the splatted weights.
Memory is O(H * W) for the per-pixel coordinates plus the small grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_PAD = 2  # cells of padding: the blur kernel radius


def _blur_axis(g: torch.Tensor, dim: int) -> torch.Tensor:
    """Binomial [1, 4, 6, 4, 1] / 16 blur (Gaussian, sigma = 1 cell) along one grid axis."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=g.dtype, device=g.device) / 16.0
    shape = [1, 1, 1, 1, 1]
    shape[dim] = 5
    pad = [0, 0, 0, 0, 0, 0]
    pad[2 * (4 - dim)] = pad[2 * (4 - dim) + 1] = 2
    b, c = g.shape[:2]
    out = F.conv3d(F.pad(g.reshape(b * c, 1, *g.shape[2:]), pad), k.view(shape))
    return out.reshape(g.shape)


def bilateral_grid_filter(
    data: torch.Tensor, guide: torch.Tensor, sigma_s: float, sigma_r: float
) -> torch.Tensor:
    """Cross-bilateral filter of ``data`` with edges taken from ``guide`` (bilateral grid).

    ``data is guide`` gives the ordinary bilateral filter. ``sigma_s`` is in pixels, ``sigma_r`` in
    the units of ``guide``.

    Shape:
        data (B, C, H, W), guide (B, 1, H, W) -> (B, C, H, W)
    """
    if data.dim() != 4 or guide.dim() != 4 or guide.shape[1] != 1 or data.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"bilateral_grid_filter: data {tuple(data.shape)}, guide {tuple(guide.shape)}")
    if sigma_s <= 0 or sigma_r <= 0:
        raise ValueError("bilateral_grid_filter: sigmas must be positive")
    b, c, h, w = data.shape
    dt = torch.float32 if data.dtype in (torch.float16, torch.bfloat16) else data.dtype
    dev = data.device
    gd = guide.to(dt).reshape(b, -1)
    gmin = gd.amin(dim=1, keepdim=True)
    span = float((gd.amax(dim=1, keepdim=True) - gmin).max())
    gh = int(math.ceil((h - 1) / sigma_s)) + 1 + 2 * _PAD
    gw = int(math.ceil((w - 1) / sigma_s)) + 1 + 2 * _PAD
    gz = int(math.ceil(span / sigma_r)) + 1 + 2 * _PAD

    ys = torch.arange(h, dtype=dt, device=dev) / sigma_s + _PAD
    xs = torch.arange(w, dtype=dt, device=dev) / sigma_s + _PAD
    zs = (gd - gmin) / sigma_r + _PAD  # (B, N)
    yy = ys.view(h, 1).expand(h, w).reshape(1, -1)
    xx = xs.view(1, w).expand(h, w).reshape(1, -1)

    vals = torch.cat([data.to(dt).reshape(b, c, -1), torch.ones(b, 1, h * w, dtype=dt, device=dev)], 1)
    grid = torch.zeros(b, c + 1, gz * gh * gw, dtype=dt, device=dev)
    y0, x0, z0 = yy.floor(), xx.floor(), zs.floor()
    fy, fx, fz = yy - y0, xx - x0, zs - z0
    y0, x0, z0 = y0.long(), x0.long(), z0.long()
    for dz in (0, 1):
        wz = fz if dz else 1 - fz
        for dy in (0, 1):
            wy = fy if dy else 1 - fy
            for dx in (0, 1):
                wx = fx if dx else 1 - fx
                idx = ((z0 + dz) * gh + (y0 + dy)) * gw + (x0 + dx)  # (B, N)
                grid.scatter_add_(2, idx.unsqueeze(1).expand(b, c + 1, -1), vals * (wz * wy * wx).unsqueeze(1))
    grid = grid.view(b, c + 1, gz, gh, gw)
    for dim in (2, 3, 4):
        grid = _blur_axis(grid, dim)

    # slice: grid_sample coordinates in [-1, 1] (align_corners=True), order (x, y, z)
    nx = (xx / (gw - 1) * 2 - 1).expand(b, -1)
    ny = (yy / (gh - 1) * 2 - 1).expand(b, -1)
    nz = zs / (gz - 1) * 2 - 1
    coords = torch.stack([nx, ny, nz], dim=-1).view(b, 1, h, w, 3)
    out = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=True)
    out = out.view(b, c + 1, h, w)
    res = out[:, :c] / out[:, c:].clamp(min=1e-10)
    return res.to(data.dtype)
