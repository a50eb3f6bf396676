"""Classical expansion operators (hdrlift.operators) on procedural scenes degraded by the camera model."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from conftest import make_hdr_scene

from hdrlift.degrade import CameraParams, simulate
from hdrlift.errors import ConfigError
from hdrlift.operators import (
    bilateral_grid_filter,
    expand,
    get_operator,
    landis,
    linear,
    list_operators,
    masia,
    masia_gamma,
)
from hdrlift.operators.base import well_exposed
from hdrlift.ops.transfer import luminance, srgb_to_linear

NAMES = [s.name for s in list_operators()]


def _batch(h: int = 48, w: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two scenes through the camera model (sRGB CRF, mild noise, 8 bit): ldr, hdr_target, clipped mask."""
    ldrs, tgts, masks = [], [], []
    for seed in (0, 1):
        hdr = torch.from_numpy(make_hdr_scene(h, w, seed=seed)).permute(2, 0, 1)
        p = CameraParams(exposure=1.0, crf="srgb", shot_sigma=(0.002,) * 3, read_sigma=(0.001,) * 3, noise_seed=seed)
        r = simulate(hdr, p)
        ldrs.append(r.ldr)
        tgts.append(r.hdr_target)
        masks.append(r.clipped_mask)
    return torch.stack(ldrs), torch.stack(tgts), torch.stack(masks)


@pytest.fixture(scope="module")
def scene():
    return _batch()


def test_registry_lists_required_operators():
    assert {"linear", "akyuz", "landis", "huo", "kovaleski", "masia"} <= set(NAMES)
    for s in list_operators():
        assert s.citation and s.description and "gamma" in s.defaults
        assert get_operator(s.name) is s
    with pytest.raises(ConfigError, match="unknown operator .reinhard.; available: linear, "):
        get_operator("reinhard")
    with pytest.raises(ConfigError, match="unknown parameter"):
        expand("landis", torch.zeros(1, 3, 4, 4), beta=1.0)


@pytest.mark.parametrize("name", NAMES)
def test_shape_nonnegative_finite(scene, name):
    ldr, _, _ = scene
    out = expand(name, ldr)
    assert out.shape == ldr.shape and out.dtype == ldr.dtype
    assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_midtones_close_to_linearised_input(scene, name):
    ldr, _, _ = scene
    out = expand(name, ldr)
    lin = srgb_to_linear(ldr)
    m = well_exposed(ldr).expand_as(out)
    rel = ((out - lin).abs() / lin.clamp(min=1e-3))[m]
    tol = 0.02 if name in ("linear", "landis", "kovaleski") else 0.2
    assert float(rel.median()) < tol, float(rel.median())
    # the median mid-tone gain is 1 by construction of the normalisation
    ratio = (luminance(out) / luminance(lin).clamp(min=1e-6))[well_exposed(ldr)]
    assert float(ratio.median()) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("name", [s.name for s in list_operators() if s.expands])
def test_expanding_operators_lift_clipped_highlights(scene, name):
    ldr, _, mask = scene
    assert mask.any()
    out = expand(name, ldr)
    clipped_out = out.amax(dim=1, keepdim=True)[mask]
    assert float(clipped_out.mean()) > 1.2, float(clipped_out.mean())
    # well-exposed pixels far from highlights are not pushed above the clipping level
    assert float(out.amax(dim=1, keepdim=True)[well_exposed(ldr)].median()) < 1.0


def test_linear_is_srgb_decoding_and_gamma_option(scene):
    ldr, _, _ = scene
    torch.testing.assert_close(linear(ldr), srgb_to_linear(ldr))
    torch.testing.assert_close(linear(ldr, gamma=2.2), ldr**2.2)


def test_landis_raw_output_keeps_low_luminance_and_peaks_at_max():
    ldr = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 4, 64).contiguous()
    out = landis(ldr, max_output=50.0, normalize=False)
    lin = srgb_to_linear(ldr)
    low = luminance(lin) < 0.5
    torch.testing.assert_close(out[low.expand_as(out)], lin[low.expand_as(lin)])
    assert float(out.max()) == pytest.approx(50.0, rel=1e-4)


def test_masia_gamma_clamped_and_2009_formula_guarded():
    dark = torch.full((1, 3, 16, 16), 0.05)
    dark[..., :4, :4] = 0.6
    g09 = masia_gamma(luminance(srgb_to_linear(dark)), "2009")
    assert float(g09) < 0  # the failure the clamp guards against
    out = masia(dark, formula="2009")
    assert torch.isfinite(out).all() and (out >= 0).all()
    # with gamma clamped to 1 the expansion is a pure scale -> equals the linearised input
    torch.testing.assert_close(masia(dark, formula="2009", noise_handling=False), srgb_to_linear(dark),
                               rtol=1e-4, atol=1e-6)


def test_bilateral_grid_constant_smooth_and_edge_preserving():
    x = torch.full((1, 1, 40, 50), 0.3)
    torch.testing.assert_close(bilateral_grid_filter(x, x, 8.0, 0.1), x, rtol=1e-5, atol=1e-5)
    step = torch.zeros(1, 1, 40, 50)
    step[..., 25:] = 1.0
    noisy = step + 0.02 * torch.randn(1, 1, 40, 50, generator=torch.Generator().manual_seed(0))
    f = bilateral_grid_filter(noisy, noisy, 6.0, 0.1)
    assert float((f - step).abs()[..., :, :22].max()) < 0.06  # edge kept
    assert float((f - step).std()) < float((noisy - step).std())  # noise reduced
    # without the range term (huge sigma_r) the edge is blurred
    g = bilateral_grid_filter(noisy, noisy, 6.0, 100.0)
    assert float(g[..., 20, 24]) > 0.2


def test_operators_on_512_fast_and_bounded_memory():
    import resource

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    gen = torch.Generator().manual_seed(0)
    ldr = torch.rand(1, 3, 512, 512, generator=gen) ** 0.5
    ldr[..., 100:160, 200:300] = 1.0
    for name in NAMES:
        t = time.perf_counter()
        out = expand(name, ldr)
        assert out.shape == ldr.shape and torch.isfinite(out).all()
        assert time.perf_counter() - t < 10.0, name
    # grid for the default Kovaleski sigmas on 512^2: a few thousand cells, not O(N^2)
    lum = luminance(ldr)
    big = bilateral_grid_filter(lum, lum, 150.0, 25 / 255)
    assert big.shape == lum.shape
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mib < 400, grown_mib  # ~1 MiB per channel-plane; an O(N^2) filter would need GiBs


def test_batch_items_independent(scene):
    ldr, _, _ = scene
    for name in NAMES:
        both = expand(name, ldr)
        one = expand(name, ldr[1:])
        np.testing.assert_allclose(both[1:].numpy(), one.numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- ITU-R BT.2446 inverses, BT.2100 mappings


def test_bt2446a_hand_values():
    from hdrlift.operators.bt2446 import bt2446a_inverse_nits, method_a_luma_to_hdr

    # Y' = 0.5 -> Y'' = 127.5 > 70: E = 2.8305e-6 * 127.5^2 - 7.4622e-4 * 127.5 + 1.2528 = 1.2036702656
    #   Y'_HDR = 127.5^E = 342.2473; grey display light = 1000 (0.3422473)^2.4 = 76.2809 cd/m^2
    # Y' = 1 -> Y'' = 255: E = 1.2465683 -> 999.80 (SDR white -> ~1000 cd/m^2)
    y = method_a_luma_to_hdr(torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64))
    np.testing.assert_allclose(y.numpy(), [342.2473, 999.80, 0.0], atol=1e-2)
    grey = bt2446a_inverse_nits(torch.full((1, 3, 1, 1), 0.5, dtype=torch.float64))
    np.testing.assert_allclose(grey.flatten().numpy(), [76.2809] * 3, atol=1e-3)
    # BT.2020 red R'G'B' = (1, 0, 0): Y' = 0.2627, Y'' = 66.9885 <= 70:
    #   E = 1.8712e-5 * 66.9885^2 - 2.7334e-3 * 66.9885 + 1.3141 = 1.2149630, Y'_HDR = 165.3951,
    #   S_C = 1.075 * 165.3951 / 0.2627 = 676.8167, C'r = 0.7373 / 1.4746 = 0.5, C'b = -0.2627 / 1.8814
    #   R' = 165.3951 + 1.4746 * 0.5 * 676.8167 = 664.4121 -> 1000 (0.6644121)^2.4 = 374.8436 cd/m^2,
    #   G' and B' negative -> 0
    red = bt2446a_inverse_nits(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1))
    np.testing.assert_allclose(red.flatten().numpy(), [374.8436, 0.0, 0.0], atol=1e-3)


def test_bt2446c_hand_values_and_round_trip():
    from hdrlift.operators.bt2446 import (
        bt2446c_inverse_nits,
        method_c_inverse_luminance,
        method_c_luminance,
    )

    # below Y_SDR,ip = 58.5: Y_HDR = Y_SDR / 0.83802 (40 -> 47.7316); above:
    # Y_HDR = (58.5 / 0.83802) (exp((Y - 78.99439) / 15.09968) + 0.74204): 100 -> 332.3829, 80 -> 126.4146
    y = method_c_inverse_luminance(torch.tensor([40.0, 80.0, 100.0], dtype=torch.float64))
    np.testing.assert_allclose(y.numpy(), [47.7316, 126.4146, 332.3829], atol=1e-3)
    # the forward curve of method C reaches 118.39 (109 % code) at 1000 cd/m^2 and is continuous at the knee
    f = method_c_luminance(torch.tensor([1000.0, 58.5 / 0.83802 - 1e-9, 58.5 / 0.83802], dtype=torch.float64))
    assert float(f[0]) == pytest.approx(118.39, abs=0.01) and float(f[1]) == pytest.approx(float(f[2]), abs=0.05)
    ys = torch.linspace(0.1, 118.0, 50, dtype=torch.float64)
    torch.testing.assert_close(method_c_luminance(method_c_inverse_luminance(ys)), ys)
    # greys keep their chromaticity: (100, 100, 100) -> (332.38, ...) whatever the crosstalk alpha
    for a in (0.0, 0.05, 0.2):
        g = bt2446c_inverse_nits(torch.full((1, 3, 1, 1), 100.0, dtype=torch.float64), alpha=a)
        np.testing.assert_allclose(g.flatten().numpy(), [332.3829] * 3, atol=2e-3)
    with pytest.raises(ValueError):
        bt2446c_inverse_nits(torch.ones(1, 3, 1, 1), alpha=0.4)


def test_bt2446_operators_and_display_mappings():
    from hdrlift.operators import bt2446a, bt2446c, hlg_to_nits, nits_to_hlg, nits_to_pq, pq_to_nits

    white = torch.ones(1, 3, 2, 2, dtype=torch.float64)
    # SDR white in a BT.2020 container: method A -> 1000 (0.99980)^2.4 = 999.52, method C -> 332.38 cd/m^2
    np.testing.assert_allclose(bt2446a(white, normalize=False).numpy(), 999.525, atol=1e-2)
    np.testing.assert_allclose(bt2446c(white, normalize=False).numpy(), 332.383, atol=1e-2)
    assert float(bt2446c(white, sdr_peak=118.3868, normalize=False).mean()) == pytest.approx(1000.0, abs=0.1)
    # BT.709 greys stay grey through the BT.2020 container
    g = bt2446a(torch.full((1, 3, 1, 1), 0.5, dtype=torch.float64), normalize=False).flatten()
    assert float(g.max() - g.min()) < 1e-9
    # PQ (SMPTE ST 2084): 100 -> 0.50808, 203 -> 0.58069, 1000 -> 0.75183, 10000 -> 1
    v = nits_to_pq(torch.tensor([100.0, 203.0, 1000.0, 10000.0], dtype=torch.float64))
    np.testing.assert_allclose(v.numpy(), [0.508078, 0.580689, 0.751827, 1.0], atol=2e-6)
    torch.testing.assert_close(pq_to_nits(v), torch.tensor([100.0, 203.0, 1000.0, 10000.0], dtype=torch.float64))
    # HLG on a 1000 cd/m^2 display (system gamma 1.2): 75 % signal -> 203 cd/m^2 (BT.2408 reference white)
    s = torch.full((1, 3, 1, 1), 0.75, dtype=torch.float64)
    np.testing.assert_allclose(hlg_to_nits(s).flatten().numpy(), 203.15, atol=0.01)
    col = torch.tensor([0.7, 0.4, 0.2], dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(nits_to_hlg(hlg_to_nits(col, 2000.0), 2000.0), col)
