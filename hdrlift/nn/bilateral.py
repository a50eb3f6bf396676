"""Bilateral-grid slicing and per-pixel affine application (HDRNet-style, Gharbi et al. 2017).

A grid holds ``n_out * 4`` affine coefficients (a 3x4 matrix for RGB; row-major: out_c =
sum_k A[c, k] in_k + A[c, 3]) at ``D`` guide-intensity bins times ``GH x GW`` spatial cells:

    grid: (B, 12, D, GH, GW)   (axis order of a 5-D ``grid_sample`` input: N, C, D, H, W)

Coordinates (cell-centred, clamped): the pixel at full-image row Y, column X with guide value g in
[-1, 1] reads the grid at continuous cell position

    x = (X + 0.5) / W_full * GW - 0.5,  y = (Y + 0.5) / H_full * GH - 0.5,  z = (g + 1) / 2 * D - 0.5

clamped to [0, GW-1], [0, GH-1], [0, D-1] (border clamp as in HDRNet's own slicing op; the released
UHD code used zero padding, which darkens the image border). Trilinear interpolation is done by
``grid_sample`` (5-D, ``align_corners=False``, ``padding_mode="border"`` = exactly the formula above).

Because positions are computed from the *full* image size and the region's offset, any crop of the
image can be sliced with the global grid and gives exactly the crop of the full result (tiling).
Work is done in row chunks: at most ``chunk_pixels * 12`` coefficients exist at a time, so memory
is bounded and cost is linear in pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GuideNet", "slice_grid", "apply_affine", "slice_apply", "DEFAULT_CHUNK_PIXELS"]

#: pixels sliced per chunk (12 float coefficients each -> 48 MiB at the default)
DEFAULT_CHUNK_PIXELS = 1 << 20


class GuideNet(nn.Module):
    """Pointwise guide network: conv1x1 (3 -> hidden) - BN - ReLU - conv1x1 (hidden -> 1) - tanh.

    As HDRNet's pointwise guide and the released UHD code; tanh gives the depth coordinate in [-1, 1].
    Pointwise, so it can run on any tile of the full-resolution image.

    Shape:
        x: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 1, H, W) in [-1, 1]
    """

    def __init__(self, in_channels: int = 3, hidden: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 1)
        self.bn = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv2(F.relu(self.bn(self.conv1(x)))))


def _check(grid: torch.Tensor, guide: torch.Tensor) -> None:
    if grid.dim() != 5:
        raise ValueError(f"grid must be (B, C, D, GH, GW), got {tuple(grid.shape)}")
    if guide.dim() != 4 or guide.shape[1] != 1:
        raise ValueError(f"guide must be (B, 1, H, W), got {tuple(guide.shape)}")
    if guide.shape[0] != grid.shape[0]:
        raise ValueError(f"batch mismatch: grid {grid.shape[0]}, guide {guide.shape[0]}")


def _sample_coords(
    guide: torch.Tensor, row0: int, col0: int, full_size: tuple[int, int]
) -> torch.Tensor:
    """Normalised (x, y, z) sampling positions for ``grid_sample`` (align_corners=False).

    Shape:
        guide: (B, 1, h, w) -> (B, 1, h, w, 3)
    """
    b, _, h, w = guide.shape
    hf, wf = full_size
    dev, dt = guide.device, guide.dtype
    xs = (torch.arange(col0, col0 + w, device=dev, dtype=dt) + 0.5) * (2.0 / wf) - 1.0
    ys = (torch.arange(row0, row0 + h, device=dev, dtype=dt) + 0.5) * (2.0 / hf) - 1.0
    gx = xs.view(1, 1, 1, w).expand(b, 1, h, w)
    gy = ys.view(1, 1, h, 1).expand(b, 1, h, w)
    return torch.stack((gx, gy, guide), dim=-1)


def slice_grid(
    grid: torch.Tensor,
    guide: torch.Tensor,
    offset: tuple[int, int] = (0, 0),
    full_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Trilinear slicing of ``grid`` at every pixel of a region (materialises all coefficients).

    Args:
        grid: bilateral grid.
        guide: guide values in [-1, 1] of the region (values outside are clamped).
        offset: (row, col) of the region's top-left pixel in the full image.
        full_size: (H, W) of the full image; default = the region's size (region = full image).

    Shape:
        grid: (B, C, D, GH, GW), guide: (B, 1, h, w) -> (B, C, h, w)
    """
    _check(grid, guide)
    fs = tuple(guide.shape[-2:]) if full_size is None else (int(full_size[0]), int(full_size[1]))
    coords = _sample_coords(guide, int(offset[0]), int(offset[1]), fs)
    out = F.grid_sample(grid, coords.to(grid.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(2)


def apply_affine(coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel affine map: out_c = sum_k A[c, k] x_k + A[c, n_in] with A row-major in ``coeffs``.

    Shape:
        coeffs: (B, n_out * (n_in + 1), H, W), x: (B, n_in, H, W) -> (B, n_out, H, W)
    """
    b, n_in, h, w = x.shape
    n_out = coeffs.shape[1] // (n_in + 1)
    if coeffs.shape[1] != n_out * (n_in + 1):
        raise ValueError(f"coeffs channels {coeffs.shape[1]} not a multiple of {n_in + 1}")
    a = coeffs.view(b, n_out, n_in + 1, h, w)
    return (a[:, :, :n_in] * x.unsqueeze(1)).sum(dim=2) + a[:, :, n_in]


def slice_apply(
    grid: torch.Tensor,
    guide: torch.Tensor,
    x: torch.Tensor,
    offset: tuple[int, int] = (0, 0),
    full_size: tuple[int, int] | None = None,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
) -> torch.Tensor:
    """Slice ``grid`` with ``guide`` and apply the per-pixel affine maps to ``x``, in row chunks.

    Equal to ``apply_affine(slice_grid(grid, guide, offset, full_size), x)`` but never holds more
    than about ``chunk_pixels`` pixels of coefficients per sample.

    Shape:
        grid: (B, n_out*(n_in+1), D, GH, GW), guide: (B, 1, h, w), x: (B, n_in, h, w) -> (B, n_out, h, w)
    """
    _check(grid, guide)
    if x.shape[0] != guide.shape[0] or x.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"x {tuple(x.shape)} and guide {tuple(guide.shape)} differ in batch or size")
    h, w = x.shape[-2:]
    fs = (h, w) if full_size is None else (int(full_size[0]), int(full_size[1]))
    rows = max(1, int(chunk_pixels) // max(w, 1))
    if rows >= h:
        return apply_affine(slice_grid(grid, guide, offset, fs), x)
    parts = []
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        coeffs = slice_grid(grid, guide[:, :, r0:r1], (int(offset[0]) + r0, int(offset[1])), fs)
        parts.append(apply_affine(coeffs, x[:, :, r0:r1]))
    return torch.cat(parts, dim=2)
