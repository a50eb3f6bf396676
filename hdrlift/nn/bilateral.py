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

Inference kernels (no autograd needed): :func:`row_tables` interpolates the grids to each image row
of a band (rows share their weights), then :func:`slice_apply_rows` finishes the trilinear slicing of
several grids at once with one vectorised 2-D ``grid_sample`` over (depth, column) and applies the
affine maps channel-planar (PyTorch's 5-D ``grid_sample`` on CPU is ~4x slower per pixel), and
:meth:`GuideNet.folded` gives the guide network with its BatchNorm folded into the first conv. Same
formula as above; equal to :func:`slice_apply` up to float rounding.

Export: :func:`slice_apply_whole` slices a whole image with positions computed from the guide's
(traced) size, so an exported graph slices any size; same formula as :func:`slice_apply` at offset 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GuideNet", "slice_grid", "apply_affine", "slice_apply", "DEFAULT_CHUNK_PIXELS", "row_tables",
           "slice_apply_rows", "slice_apply_whole"]

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

    @torch.no_grad()
    def folded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w1, b1, w2, b2) of the eval-mode network with BatchNorm (running statistics) folded into conv1.

        ``tanh(relu(x @ w1.T + b1) @ w2.T + b2)`` on pixels-last rows equals :meth:`forward` in eval mode.

        Shape:
            w1: (hidden, in), b1: (hidden,), w2: (1, hidden), b2: (1,)
        """
        bn = self.bn
        assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats
        assert self.conv1.bias is not None and self.conv2.bias is not None  # both convs have a bias
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w1 = self.conv1.weight.flatten(1) * scale[:, None]
        b1 = (self.conv1.bias - bn.running_mean) * scale + bn.bias
        return w1, b1, self.conv2.weight.flatten(1), self.conv2.bias.clone()


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
    fs = (int(guide.shape[-2]), int(guide.shape[-1])) if full_size is None else (int(full_size[0]), int(full_size[1]))
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


def row_tables(grids: torch.Tensor, row0: int, rows: int, full_h: int) -> torch.Tensor:
    """Grids of one sample linearly interpolated (clamped, cell-centred) to each image row of a band.

    Row ``r`` of the result is the (C, D, GW) slice of every grid at image row ``row0 + r`` of an image
    of height ``full_h``; :func:`slice_apply_rows` finishes the trilinear slicing with a 2-D
    ``grid_sample`` over (depth, columns).

    Shape:
        grids: (G, C, D, GH, GW) -> (G * rows, C, D, GW)
    """
    g, c, d, gh, gw = grids.shape
    pos = (torch.arange(row0, row0 + rows, dtype=torch.float32) + 0.5) * (gh / full_h) - 0.5
    pos = pos.clamp_(0.0, float(gh - 1))
    lo = pos.floor().clamp_(max=float(max(gh - 2, 0)))
    frac = pos.sub_(lo).to(grids.dtype).view(1, rows, 1, 1, 1)
    i0 = lo.long()
    by_row = grids.permute(0, 3, 1, 2, 4)  # (G, GH, C, D, GW)
    low = by_row.index_select(1, i0)
    high = by_row.index_select(1, (i0 + 1).clamp_(max=gh - 1))
    return torch.lerp(low, high, frac).reshape(g * rows, c, d, gw)


def slice_apply_rows(
    tables: torch.Tensor,
    guide: torch.Tensor,
    x: torch.Tensor,
    col0: int,
    full_w: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Slice G grids (each at its own guide) and apply their affine maps on a region, no autograd.

    Inference kernel equal to :func:`slice_apply` per grid up to float rounding (same clamped
    cell-centred trilinear interpolation): the row interpolation is in ``tables``
    (:func:`row_tables` for the region's rows), the (depth, column) part is one vectorised 2-D
    ``grid_sample`` for all grids and rows; the affine maps are applied channel-planar.

    Args:
        tables: per-row grids of the region's rows.
        guide: guide values in [-1, 1] (clamped at the border cells), one map per grid.
        x: the region's pixels (channel-planar).
        col0, full_w: column of the region's left edge and width of the full image.
        out: optional (G, n_out, h, w) result buffer.

    Shape:
        tables: (G * h, n_out * (n_in + 1), D, GW), guide: (G, h, w), x: (n_in, h, w) -> (G, n_out, h, w)
    """
    n_grids, h, w = guide.shape
    n_in = x.shape[0]
    n_coef = tables.shape[1]
    n_out = n_coef // (n_in + 1)
    coords = torch.empty(n_grids * h, 1, w, 2, dtype=x.dtype)
    xs = (torch.arange(col0, col0 + w, dtype=x.dtype) + 0.5) * (2.0 / full_w) - 1.0
    coords[..., 0] = xs
    coords[..., 1] = guide.reshape(n_grids * h, 1, w)
    coef = F.grid_sample(tables, coords, mode="bilinear", padding_mode="border", align_corners=False)
    coef = coef.view(n_grids, h, n_out, n_in + 1, w)
    if out is None:
        out = torch.empty(n_grids, n_out, h, w, dtype=x.dtype)
    res = out.permute(0, 2, 1, 3)  # (G, h, n_out, w) view
    xr = x.permute(1, 0, 2)  # (h, n_in, w)
    res.copy_(coef[:, :, :, n_in])
    for k in range(n_in):
        res.addcmul_(coef[:, :, :, k], xr[:, k].unsqueeze(1))
    return out


def slice_apply_whole(grid: torch.Tensor, guide: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:func:`slice_apply` of a whole image (offset 0, one chunk), positions from the (traced) size.

    The exportable form: ``torch.arange`` of the guide's height and width stay graph ops in a trace, where
    :func:`slice_apply` computes positions from Python ints (frozen at the example size). Equal to
    ``slice_apply(grid, guide, x)`` up to float rounding.

    Shape:
        grid: (B, n_out*(n_in+1), D, GH, GW), guide: (B, 1, h, w) in [-1, 1], x: (B, n_in, h, w)
        -> (B, n_out, h, w)
    """
    h, w = guide.shape[-2], guide.shape[-1]
    xs = (torch.arange(w, dtype=guide.dtype, device=guide.device) + 0.5) * 2.0 / w - 1.0
    ys = (torch.arange(h, dtype=guide.dtype, device=guide.device) + 0.5) * 2.0 / h - 1.0
    gx = xs.view(1, 1, 1, -1) + torch.zeros_like(guide)
    gy = ys.view(1, 1, -1, 1) + torch.zeros_like(guide)
    coords = torch.stack((gx, gy, guide), dim=-1)
    coeffs = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=False).squeeze(2)
    return apply_affine(coeffs, x)
