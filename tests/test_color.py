"""Colour conversions and the differentiable CIEDE2000 (hdrlift.ops.color)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, rgb2lab

from hdrlift.ops.color import (
    ciede2000,
    delta_e2000_rgb,
    lab_to_rgb,
    lab_to_xyz,
    rgb_to_lab,
    rgb_to_xyz,
    srgb_to_lab,
    xyz_to_lab,
    xyz_to_rgb,
)

# Sharma, Wu & Dalal (2005), Table 1: pair number, Lab1, Lab2, published ΔE00.
SHARMA_PAIRS = [
    (1, (50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    (4, (50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    (7, (50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    (13, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    (15, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0011), 7.2195),
    (17, (50.0, -0.0010, 2.4900), (50.0, 0.0009, -2.4900), 4.8045),
    (20, (50.0, 2.5000, 0.0), (50.0, 0.0, -2.5000), 4.3065),
    (21, (50.0, 2.5000, 0.0), (73.0, 25.0, -18.0), 27.1492),
    (23, (50.0, 2.5000, 0.0), (56.0, -27.0, -3.0), 31.9030),
    (25, (50.0, 2.5000, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    (29, (60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    (32, (22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    (34, (2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def _t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("num,lab1,lab2,expected", SHARMA_PAIRS)
def test_ciede2000_sharma_table(num, lab1, lab2, expected):
    ours = float(ciede2000(_t(lab1), _t(lab2), dim=-1))
    assert ours == pytest.approx(expected, abs=1e-4), f"pair {num}"
    # symmetric, and skimage agrees with the published value too
    assert float(ciede2000(_t(lab2), _t(lab1), dim=-1)) == pytest.approx(ours, abs=1e-9)
    assert float(deltaE_ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)


def test_ciede2000_matches_skimage_on_random_colours():
    rng = np.random.default_rng(3)
    lo, hi = [0.0, -110.0, -110.0], [100.0, 110.0, 110.0]
    a, b = rng.uniform(lo, hi, (500, 3)), rng.uniform(lo, hi, (500, 3))
    # include near pairs, achromatic pairs and hue-wrap pairs
    b[:50] = a[:50] + rng.normal(0, 1.0, (50, 3))
    a[50:60, 1:] = 0.0
    b[60:70, 1:] = 0.0
    ours = ciede2000(_t(a), _t(b), dim=-1).numpy()
    np.testing.assert_allclose(ours, deltaE_ciede2000(a, b), atol=1e-5)


def test_ciede2000_channel_dim_and_shape():
    rng = np.random.default_rng(0)
    a = rng.uniform([0, -50, -50], [100, 50, 50], (2, 4, 5, 3))
    b = rng.uniform([0, -50, -50], [100, 50, 50], (2, 4, 5, 3))
    chw = ciede2000(_t(a).permute(0, 3, 1, 2), _t(b).permute(0, 3, 1, 2))
    assert chw.shape == (2, 4, 5)
    np.testing.assert_allclose(chw.numpy(), ciede2000(_t(a), _t(b), dim=-1).numpy())


def test_ciede2000_gradients_finite_and_nonzero():
    rng = np.random.default_rng(1)
    lab1 = rng.uniform([0, -80, -80], [100, 80, 80], (64, 3))
    lab2 = rng.uniform([0, -80, -80], [100, 80, 80], (64, 3))
    lab1[0] = (50, 0, 0)  # achromatic vs chromatic
    lab1[1], lab2[1] = (50, 0, 0), (60, 0, 0)  # both achromatic
    lab1[2], lab2[2] = (50, 2.49, -0.001), (50, -2.49, 0.0009)  # hue wrap
    lab1[3] = lab2[3]  # identical colours
    x = _t(lab1).float().requires_grad_(True)
    d = ciede2000(x, _t(lab2).float(), dim=-1)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad[4:].abs().sum(-1) > 0).all()
    assert x.grad[1, 0] != 0  # lightness still drives achromatic pairs
    assert float(d[3].detach()) < 1e-4


def test_ciede2000_gradcheck():
    rng = np.random.default_rng(2)
    a = _t(rng.uniform([20, -60, -60], [80, 60, 60], (6, 3))).requires_grad_(True)
    b = _t(rng.uniform([20, -60, -60], [80, 60, 60], (6, 3)))
    assert torch.autograd.gradcheck(lambda x: ciede2000(x, b, dim=-1), (a,))


def test_gradient_descent_lowers_delta_e():
    rng = np.random.default_rng(4)
    rgb = torch.tensor(rng.random((1, 3, 6, 6)), dtype=torch.float32)
    target = torch.tensor(rng.random((1, 3, 6, 6)), dtype=torch.float32)
    x = rgb.clone().requires_grad_(True)
    loss = delta_e2000_rgb(x, target).mean()
    loss.backward()
    with torch.no_grad():
        after = delta_e2000_rgb(x - 1e-3 * x.grad / x.grad.abs().max(), target).mean()
    assert after < loss


def test_srgb_to_lab_matches_skimage():
    rng = np.random.default_rng(5)
    rgb = rng.random((16, 16, 3))
    ours = srgb_to_lab(torch.tensor(rgb), dim=-1).numpy()
    np.testing.assert_allclose(ours, rgb2lab(rgb), atol=2e-2)
    # white -> L 100, a = b = 0; black -> 0
    white = rgb_to_lab(torch.ones(3, 1, 1, dtype=torch.float64)).flatten()
    np.testing.assert_allclose(white.numpy(), [100.0, 0.0, 0.0], atol=1e-3)
    assert float(rgb_to_lab(torch.zeros(3, 1, 1)).abs().max()) < 1e-4


def test_round_trips_and_hdr_values():
    rng = np.random.default_rng(6)
    rgb = torch.tensor(rng.random((2, 3, 5, 5)) * 8.0)  # HDR, above 1
    np.testing.assert_allclose(xyz_to_rgb(rgb_to_xyz(rgb)).numpy(), rgb.numpy(), atol=1e-9)
    xyz = rgb_to_xyz(rgb)
    np.testing.assert_allclose(lab_to_xyz(xyz_to_lab(xyz)).numpy(), xyz.numpy(), atol=1e-9)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)).numpy(), rgb.numpy(), atol=1e-8)
    assert float(rgb_to_lab(rgb)[:, 0].max()) > 100.0
    # Y of XYZ is Rec.709 luminance
    y = 0.2126729 * rgb[:, 0] + 0.7151522 * rgb[:, 1] + 0.0721750 * rgb[:, 2]
    np.testing.assert_allclose(xyz[:, 1].numpy(), y.numpy(), atol=1e-12)
