"""Transfer curves, exposure normalisation, padding."""

from __future__ import annotations

import math

import torch

from hdrlift.ops import (
    crop_to,
    gamma_decode,
    gamma_encode,
    hlg_inverse_oetf,
    hlg_oetf,
    linear_to_srgb,
    mu_law,
    mu_law_tanh_norm,
    normalize_exposure,
    pad_to_multiple,
    pq_eotf,
    pq_inverse_eotf,
    srgb_to_linear,
)


def test_srgb_known_values_and_roundtrip() -> None:
    x = torch.tensor([0.0, 0.04045, 0.5, 1.0])
    lin = srgb_to_linear(x)
    assert torch.allclose(lin, torch.tensor([0.0, 0.04045 / 12.92, 0.214041, 1.0]), atol=1e-5)
    y = torch.linspace(0, 1, 101)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(y)), y, atol=1e-5)


def test_gamma_224_roundtrip_and_gradient() -> None:
    x = torch.linspace(0, 4, 50, requires_grad=True)
    g = gamma_encode(x, 2.24)
    assert torch.allclose(gamma_decode(g, 2.24), x.detach(), rtol=1e-3, atol=1e-4)
    g.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pq_hlg() -> None:
    nits = torch.tensor([0.0, 1.0, 100.0, 1000.0, 10000.0])
    s = pq_inverse_eotf(nits)
    assert abs(float(s[2]) - 0.508) < 0.002 and abs(float(s[-1]) - 1.0) < 1e-6  # 100 nit ~ 0.508 (BT.2100)
    assert torch.allclose(pq_eotf(s), nits, rtol=1e-3, atol=1e-3)
    e = torch.linspace(0, 1, 21)
    assert abs(float(hlg_oetf(torch.tensor(1 / 12))) - 0.5) < 1e-6
    assert torch.allclose(hlg_inverse_oetf(hlg_oetf(e)), e, atol=1e-5)


def test_mu_law_curves() -> None:
    x = torch.tensor([0.0, 1.0])
    assert torch.allclose(mu_law(x), torch.tensor([0.0, 1.0]))
    t = mu_law_tanh_norm(torch.tensor([1.0]), 1.0)
    assert abs(float(t) - math.log1p(5000 * math.tanh(1)) / math.log1p(5000)) < 1e-6


def test_normalize_exposure() -> None:
    hdr = torch.rand(2, 3, 16, 16) * torch.tensor([1.0, 40.0]).view(2, 1, 1, 1)
    out = normalize_exposure(hdr, "median", 0.18)
    lum = 0.2126 * out[:, 0] + 0.7152 * out[:, 1] + 0.0722 * out[:, 2]
    assert torch.allclose(lum.flatten(1).median(1).values, torch.tensor([0.18, 0.18]), rtol=0.02)
    out = normalize_exposure(hdr, "percentile", 1.0, 99.0)
    lum = 0.2126 * out[:, 0] + 0.7152 * out[:, 1] + 0.0722 * out[:, 2]
    assert torch.allclose(torch.quantile(lum.flatten(1), 0.99, dim=1), torch.ones(2), rtol=1e-3)


def test_pad_crop() -> None:
    x = torch.rand(1, 3, 13, 7)
    y, size = pad_to_multiple(x, 4)
    assert y.shape[-2:] == (16, 8) and size == (13, 7)
    assert torch.equal(crop_to(y, size), x)
    z, _ = pad_to_multiple(torch.rand(1, 3, 1, 1), 4)  # too small for reflect -> replicate
    assert z.shape[-2:] == (4, 4)
