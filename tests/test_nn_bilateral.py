"""Layers of the collaborative bilateral network: slicing, Tucker smoothing, LeakyAdaIN, inverted residuals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hdrlift.nn.adain import LeakyAdaIN, adain
from hdrlift.nn.bilateral import GuideNet, apply_affine, slice_apply, slice_grid
from hdrlift.nn.mobile import InvertedResidual
from hdrlift.nn.tucker import (
    mode_project,
    subspace_projector,
    truncated_hosvd,
    tucker_smooth,
    tucker_to_tensor,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- slicing
def _naive_slice(grid: np.ndarray, guide: np.ndarray, off: tuple[int, int], full: tuple[int, int]) -> np.ndarray:
    """Clamped cell-centred trilinear interpolation, pixel by pixel (reference)."""
    c, d, gh, gw = grid.shape
    h, w = guide.shape
    out = np.zeros((c, h, w))
    for i in range(h):
        for j in range(w):
            pos = [
                np.clip((guide[i, j] + 1) / 2 * d - 0.5, 0, d - 1),
                np.clip((off[0] + i + 0.5) / full[0] * gh - 0.5, 0, gh - 1),
                np.clip((off[1] + j + 0.5) / full[1] * gw - 0.5, 0, gw - 1),
            ]
            lo = [int(np.floor(p)) for p in pos]
            fr = [p - lo_ for p, lo_ in zip(pos, lo)]
            for dz in (0, 1):
                for dy in (0, 1):
                    for dx in (0, 1):
                        wgt = (fr[0] if dz else 1 - fr[0]) * (fr[1] if dy else 1 - fr[1]) * (fr[2] if dx else 1 - fr[2])
                        z = min(lo[0] + dz, d - 1)
                        y = min(lo[1] + dy, gh - 1)
                        x = min(lo[2] + dx, gw - 1)
                        out[:, i, j] += wgt * grid[:, z, y, x]
    return out


def test_slice_matches_naive_trilinear_with_clamped_borders():
    g = _gen(1)
    grid = torch.randn(1, 12, 5, 4, 6, generator=g, dtype=torch.float64)
    guide = torch.rand(1, 1, 7, 9, generator=g, dtype=torch.float64) * 2.4 - 1.2  # some outside [-1, 1]
    out = slice_grid(grid, guide, offset=(3, 2), full_size=(13, 15))
    ref = _naive_slice(grid[0].numpy(), guide[0, 0].numpy(), (3, 2), (13, 15))
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-10)


def test_corner_pixel_reads_corner_cell_not_zero_padding():
    grid = torch.full((1, 12, 4, 3, 3), 2.0)
    guide = torch.full((1, 1, 8, 8), -1.0)  # lowest depth bin, corners outside the cell centres
    out = slice_grid(grid, guide)
    assert torch.allclose(out, torch.full_like(out, 2.0))  # zero padding would give < 2 at borders


def test_identity_grid_returns_input_and_chunking_is_exact():
    g = _gen(2)
    ident = torch.zeros(2, 12, 3, 2, 2)
    ident[:, [0, 5, 10]] = 1.0
    x = torch.rand(2, 3, 11, 13, generator=g)
    guide = torch.rand(2, 1, 11, 13, generator=g) * 2 - 1
    torch.testing.assert_close(slice_apply(ident, guide, x), x)
    grid = torch.randn(2, 12, 3, 2, 2, generator=g)
    full = apply_affine(slice_grid(grid, guide), x)
    chunked = slice_apply(grid, guide, x, chunk_pixels=20)  # 1 row per chunk
    torch.testing.assert_close(chunked, full, rtol=0, atol=0)


def test_crop_with_offset_equals_crop_of_full():
    g = _gen(3)
    grid = torch.randn(1, 12, 4, 3, 5, generator=g)
    x = torch.rand(1, 3, 20, 30, generator=g)
    guide = torch.rand(1, 1, 20, 30, generator=g) * 2 - 1
    full = slice_apply(grid, guide, x)
    crop = slice_apply(grid, guide[..., 5:17, 9:26], x[..., 5:17, 9:26], offset=(5, 9), full_size=(20, 30))
    torch.testing.assert_close(crop, full[..., 5:17, 9:26], rtol=0, atol=1e-6)
    no_offset = slice_apply(grid, guide[..., 5:17, 9:26], x[..., 5:17, 9:26])
    assert not torch.allclose(no_offset, full[..., 5:17, 9:26], atol=1e-3)


def test_gradients_reach_grid_guide_and_image():
    g = _gen(4)
    grid = torch.randn(1, 12, 4, 3, 3, generator=g, requires_grad=True)
    net = GuideNet(3, 4)
    x = torch.rand(1, 3, 9, 10, generator=g, requires_grad=True)
    out = slice_apply(grid, net(x), x)
    out.square().sum().backward()
    assert grid.grad.abs().sum() > 0 and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_guide_range():
    net = GuideNet(3, 8)
    y = net(torch.rand(2, 3, 5, 6, generator=_gen(5)) * 10)
    assert y.shape == (2, 1, 5, 6) and y.abs().max() <= 1.0


# --------------------------------------------------------------------------- Tucker
def _low_rank_grid(g: torch.Generator, shape=(2, 12, 16, 8, 8), rank: int = 2) -> torch.Tensor:
    core = torch.randn(*shape[:2], rank, rank, rank, generator=g)
    factors = [torch.randn(*shape[:2], n, rank, generator=g) for n in shape[2:]]
    return tucker_to_tensor(core, factors)


@pytest.mark.parametrize("mode", ["3d", "joint"])
def test_tucker_smooths_noisy_low_rank_grid(mode):
    g = _gen(6)
    clean = _low_rank_grid(g)
    noisy = clean + 0.3 * clean.std() * torch.randn(clean.shape, generator=g)
    smooth = tucker_smooth(noisy, (8, 4, 4), mode)
    ratio = ((smooth - clean).norm() / (noisy - clean).norm()).item()
    assert ratio < 0.75  # the identity gives 1.0
    assert torch.allclose(tucker_smooth(noisy, (8, 4, 4), "none"), noisy)


def test_tucker_3d_is_mean_of_single_mode_projections_and_keeps_low_rank():
    g = _gen(7)
    clean = _low_rank_grid(g, (1, 3, 6, 5, 4))
    torch.testing.assert_close(tucker_smooth(clean, (3, 2, 2)), clean, atol=1e-4, rtol=1e-4)
    x = torch.randn(1, 3, 6, 5, 4, generator=g)
    expect = (mode_project(x, 0, 3) + mode_project(x, 1, 2) + mode_project(x, 2, 2)) / 3
    torch.testing.assert_close(tucker_smooth(x, (3, 2, 2), "3d"), expect)
    assert torch.equal(mode_project(x, 0, 6), x)
    # batch-safe: per-sample results do not depend on the other samples
    xb = torch.randn(4, 2, 6, 5, 4, generator=g)
    torch.testing.assert_close(tucker_smooth(xb, (3, 2, 2))[2:3], tucker_smooth(xb[2:3], (3, 2, 2)))


def test_projector_gradient_exact_and_finite_when_degenerate():
    g = _gen(8)
    a = torch.randn(2, 5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: subspace_projector(m @ m.transpose(-1, -2), 2, 0.0), (a,))
    x = torch.randn(1, 4, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tucker_smooth(t, (2, 3, 2), "3d", gap_eps=0.0), (x,))
    const = torch.ones(1, 12, 4, 4, 4, requires_grad=True)  # rank 1: many equal (zero) eigenvalues
    out = tucker_smooth(const, (2, 2, 2))
    torch.testing.assert_close(out, torch.ones_like(out))
    out.square().sum().backward()
    assert torch.isfinite(const.grad).all() and const.grad.abs().sum() > 0


def test_truncated_hosvd_reconstructs_low_rank():
    g = _gen(9)
    clean = _low_rank_grid(g, (1, 2, 6, 5, 4))
    core, factors = truncated_hosvd(clean, (2, 2, 2))
    assert core.shape == (1, 2, 2, 2, 2) and factors[0].shape == (1, 2, 6, 2)
    torch.testing.assert_close(tucker_to_tensor(core, factors), clean, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- LeakyAdaIN
def test_leaky_adain_matches_eq2_and_is_not_near_zero():
    torch.manual_seed(0)
    g = _gen(10)
    layer = LeakyAdaIN(16)
    x = torch.randn(2, 16, 8, 8, generator=g) * 3 + 1
    y = torch.relu(torch.randn(2, 16, 6, 6, generator=g)) * 2 + 0.5
    out = layer(x, y)
    gate = torch.sigmoid(layer.proj(y.mean(dim=(2, 3))))[..., None, None]
    mx, sx = x.mean((2, 3), keepdim=True), (x.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    my, sy = y.mean((2, 3), keepdim=True), (y.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(out, gate * sy * (x - mx) / sx + gate * my)
    ref = adain(x, y)
    assert out.abs().mean() > 0.1 * ref.abs().mean()  # the released variant gives ~1e-7 of it
    # statistics: per-channel std of the output = gate * sigma(y)
    torch.testing.assert_close(out.std((2, 3), unbiased=False, keepdim=True), gate * sy, rtol=1e-3, atol=1e-4)
    out.sum().backward()
    assert layer.proj.weight.grad.abs().sum() > 0


def test_released_leaky_adain_is_near_zero_option():
    g = _gen(11)
    layer = LeakyAdaIN(8, variant="released")
    x = torch.randn(1, 8, 8, 8, generator=g)
    y = torch.randn(1, 8, 8, 8, generator=g) + 2
    assert layer(x, y).abs().max() < 1e-4 * adain(x, y).abs().mean()
    with pytest.raises(ValueError):
        LeakyAdaIN(8, variant="other")


# --------------------------------------------------------------------------- inverted residual
def test_inverted_residual_shapes_and_skip():
    g = _gen(12)
    x = torch.randn(2, 8, 9, 11, generator=g)
    blk = InvertedResidual(8, 8, expand=2).eval()
    assert blk.use_skip and blk(x).shape == x.shape
    for p in blk.parameters():
        torch.nn.init.zeros_(p)
    torch.testing.assert_close(blk(x), x)  # zero residual -> identity through the skip
    down = InvertedResidual(8, 16, expand=3, stride=2, norm=False)
    assert not down.use_skip and down(x).shape == (2, 16, 5, 6)


# --------------------------------------------------------------------------- inference kernels
def test_row_tables_slicing_equals_slice_apply():
    from hdrlift.nn.bilateral import row_tables, slice_apply_rows

    g = _gen(20)
    for shape in [(16, 8, 8), (3, 1, 5), (1, 2, 2)]:
        grids = torch.randn(2, 12, *shape, generator=g)
        x = torch.rand(1, 3, 20, 30, generator=g)
        guide = torch.rand(1, 2, 20, 30, generator=g) * 2.4 - 1.2  # some outside [-1, 1]
        ref = torch.cat([slice_apply(grids[i:i + 1], guide[:, i:i + 1, 5:17, 9:26], x[..., 5:17, 9:26],
                                     (5, 9), (20, 30)) for i in range(2)], dim=1)
        out = slice_apply_rows(row_tables(grids, 5, 12, 20), guide[0, :, 5:17, 9:26],
                               x[0, :, 5:17, 9:26].contiguous(), 9, 30)
        assert out.shape == (2, 3, 12, 17)
        torch.testing.assert_close(out.reshape(1, 6, 12, 17), ref, rtol=1e-5, atol=1e-5)


def test_folded_guide_and_inverted_residual_equal_eval_modules():
    from hdrlift.nn.mobile import inverted_residual_pixels

    torch.manual_seed(21)
    g = _gen(22)
    net = GuideNet(3, 8)
    blocks = [InvertedResidual(8, 8, expand=2), InvertedResidual(8, 8, expand=1),
              InvertedResidual(8, 8, expand=2, norm=False), InvertedResidual(8, 6, expand=2)]
    for mod in [net, *blocks]:
        for bn in mod.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5, generator=g)
                bn.running_var.uniform_(0.5, 2.0, generator=g)
                bn.bias.data.uniform_(-0.5, 0.5, generator=g)
        mod.eval()
    x = torch.rand(1, 3, 7, 9, generator=g)
    w1, b1, w2, b2 = net.folded()
    px = x[0].permute(1, 2, 0).reshape(-1, 3)
    guide = torch.tanh(torch.relu(px @ w1.t() + b1) @ w2.t() + b2).view(7, 9)
    torch.testing.assert_close(guide, net(x)[0, 0], rtol=1e-5, atol=1e-6)
    feat = torch.randn(1, 8, 7, 9, generator=g)
    bias = torch.randn(8, generator=g)
    for blk in blocks:
        with torch.no_grad():
            ref = blk(feat + bias.view(1, 8, 1, 1))[0].permute(1, 2, 0)
            vals, out_bias = inverted_residual_pixels(feat[0].permute(1, 2, 0).contiguous(), blk.folded(), bias)
        torch.testing.assert_close(vals + out_bias, ref, rtol=1e-5, atol=1e-5)
