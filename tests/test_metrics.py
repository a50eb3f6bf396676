"""Metrics: NTIRE exact recipe, wrappers, SSIM/MS-SSIM, PU21, clipped error, registry, cvvdp adapter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_hdr_scene
from skimage.metrics import structural_similarity

import hdrlift.metrics as M
from hdrlift.errors import ConfigError, DataError, HdrliftError
from hdrlift.metrics import perceptual
from hdrlift.metrics.ssim import ms_ssim_scales
from hdrlift.ops.pu21 import PU21_PARAMS, pu21_decode, pu21_encode, pu21_peak

# ---------------------------------------------------------------- NTIRE


def test_ntire_hand_computed_fixture():
    # 2x2x3 gamma-encoded reference / result; expected values worked out with plain arithmetic
    ref_vals = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0]
    res_vals = [0.1, 0.25, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8, 1.0, 1.0, 1.5, 1.8]
    ref = np.array(ref_vals, np.float32).reshape(2, 2, 3)
    res = np.array(res_vals, np.float32).reshape(2, 2, 3)
    r = [float(np.float32(v)) for v in ref_vals]
    t = [float(np.float32(v)) for v in res_vals]

    # PSNR-L: values normalised by max(ref) = 2.0
    mse_l = sum(((a - b) / 2.0) ** 2 for a, b in zip(r, t)) / 12
    assert M.ntire_psnr_l(ref, res) == pytest.approx(-10 * math.log10(mse_l), abs=1e-9)

    # PSNR-mu: linearise ^2.24, 99th percentile (linear interpolation over the 12 sorted values)
    lr = [a**2.24 for a in r]
    lt = [b**2.24 for b in t]
    s = sorted(lr)
    pos = 0.99 * (12 - 1)
    k = int(pos)
    n = s[k] + (pos - k) * (s[k + 1] - s[k])

    def tone(x: float) -> float:
        return math.log(1 + 5000 * math.tanh(x / n)) / math.log(1 + 5000)

    mse_mu = sum((tone(a) - tone(b)) ** 2 for a, b in zip(lr, lt)) / 12
    assert M.ntire_psnr_mu(ref, res) == pytest.approx(-10 * math.log10(mse_mu), abs=1e-6)


def test_ntire_sanity_check_of_ecosystem_doc():
    # ecosystem.md 1.1: ref uniform in [0, 3] (gamma-encoded values), res = 1.02 ref
    # -> PSNR-mu 46.77 dB, PSNR-L 38.74 dB
    ref = np.random.default_rng(0).uniform(0, 3, (64, 64, 3)).astype(np.float32)
    res = (1.02 * ref).astype(np.float32)
    assert M.ntire_psnr_mu(ref, res) == pytest.approx(46.77, abs=0.02)
    assert M.ntire_psnr_l(ref, res) == pytest.approx(38.74, abs=0.02)


def test_linear_wrappers_equal_ntire_on_gamma_encoding():
    ref = make_hdr_scene(24, 32, seed=1).astype(np.float64)
    res = make_hdr_scene(24, 32, seed=2).astype(np.float64)
    g = 1 / 2.24
    assert M.psnr_mu(ref, res) == pytest.approx(M.ntire_psnr_mu(ref**g, res**g), abs=1e-9)
    assert M.psnr_l(ref, res) == pytest.approx(M.ntire_psnr_l(ref**g, res**g), abs=1e-9)
    assert M.psnr_mu(ref, ref) == math.inf


def test_aligned_variants_remove_global_scale():
    ref = make_hdr_scene(24, 32).astype(np.float64)
    res = 0.25 * ref
    assert M.fit_log_luminance_scale(ref, res) == pytest.approx(4.0, rel=1e-9)
    assert M.psnr_mu(ref, res) < 25.0
    assert M.psnr_mu_aligned(ref, res) > 100.0
    assert M.psnr_l_aligned(ref, res) > 100.0
    noisy = res * np.exp(np.random.default_rng(0).normal(0, 0.05, res.shape))
    assert M.psnr_mu_aligned(ref, noisy) > M.psnr_mu(ref, noisy) + 10


def test_plain_psnr():
    a = np.zeros((4, 4, 3))
    assert M.psnr(a, a + 0.1) == pytest.approx(20.0)
    assert M.psnr(a, a + 10.0, peak=100.0) == pytest.approx(20.0)


# ---------------------------------------------------------------- SSIM / MS-SSIM


def test_ssim_matches_skimage():
    rng = np.random.default_rng(0)
    a = rng.random((40, 50, 3))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    expected = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1
    )
    assert M.ssim(a, b) == pytest.approx(expected, abs=1e-10)
    assert M.ssim(a, a) == pytest.approx(1.0)
    assert M.ssim(a[..., 0], b[..., 0]) < 1.0


def test_ms_ssim_scales_and_small_images():
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(176, 200) == 5
    assert ms_ssim_scales(64, 64) == 3
    assert ms_ssim_scales(8, 8) == 1
    rng = np.random.default_rng(1)
    for h, w in [(8, 9), (40, 40), (180, 180)]:
        a = rng.random((h, w, 3))
        b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
        v = M.ms_ssim(a, b)
        assert 0.0 < v < 1.0
        assert M.ms_ssim(a, a) == pytest.approx(1.0)


def test_ms_ssim_is_standard_combination():
    rng = np.random.default_rng(2)
    a = torch.tensor(rng.random((1, 3, 180, 180)))
    b = (a + 0.1 * torch.tensor(rng.standard_normal(a.shape))).clamp(0, 1)
    w = M.MS_SSIM_WEIGHTS
    expected, x, y = 1.0, a, b
    for j in range(5):
        s, cs = M.ssim_components(x, y)
        expected *= float(cs[0]) ** w[j] if j < 4 else float(s[0]) ** w[j]
        x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
    assert float(M.ms_ssim_torch(a, b)[0]) == pytest.approx(expected, rel=1e-10)


def test_mu_and_log_domain_metrics():
    ref = make_hdr_scene(48, 64).astype(np.float64)
    res = ref * np.exp(np.random.default_rng(3).normal(0, 0.1, ref.shape))
    assert M.ssim_mu(ref, ref) == pytest.approx(1.0)
    assert M.msssim_mu(ref, ref) == pytest.approx(1.0)
    assert M.psnr_log(ref, ref) == math.inf
    assert M.ssim_log(ref, ref) == pytest.approx(1.0)
    assert 0.0 < M.ssim_mu(ref, res) < 1.0
    assert 0.0 < M.ssim_log(ref, res) < 1.0
    worse = ref * np.exp(np.random.default_rng(3).normal(0, 0.4, ref.shape))
    assert M.psnr_log(ref, worse) < M.psnr_log(ref, res)
    er, et = M.log_encode_pair(ref, res)
    assert er.min() == pytest.approx(0.0) and er.max() == pytest.approx(1.0)
    # log encoding: one stop off everywhere = 1/range_in_stops
    span = np.log2(ref.max()) - np.log2(max(ref.min(), 1e-6))
    _, e2 = M.log_encode_pair(ref, 2 * ref)
    np.testing.assert_allclose(e2 - er, 1.0 / span, atol=1e-12)


# ---------------------------------------------------------------- PU21


# banding_glare parameters transcribed separately from gfxdisp/pu21 matlab/pu21_encoder.m (reference)
_PU21_REF_PAR = ("0.353487901", "0.3734658629", "8.277049286e-05", "0.9062562627", "0.09150303166",
                 "0.9099517204", "596.3148142")


def _pu21_decimal(y: float) -> float:
    """The reference encoder V = p6 (((p0 + p1 Y^p3) / (1 + p2 Y^p3))^p4 - p5), in 40-digit decimals."""
    from decimal import Decimal, getcontext

    getcontext().prec = 40
    p = [Decimal(v) for v in _PU21_REF_PAR]
    yd = min(max(Decimal(float(y)), Decimal("0.005")), Decimal(10000))
    yp = (p[3] * yd.ln()).exp()
    base = (p[0] + p[1] * yp) / (1 + p[2] * yp)
    return float(p[6] * ((p[4] * base.ln()).exp() - p[5]))


def test_pu21_encoding_values():
    lum = [0.005, 0.01, 0.1, 1.0, 10.0, 100.0, 203.0, 1000.0, 4000.0, 10000.0]
    v = pu21_encode(torch.tensor(lum, dtype=torch.float64)).numpy()
    # the reference equation, evaluated independently, to 1e-4 PU
    np.testing.assert_allclose(v, [_pu21_decimal(y) for y in lum], rtol=0, atol=1e-4)
    # published rounded values (PU21 paper / ecosystem notes)
    np.testing.assert_allclose(v[[0, 3, 5, 7, 8, 9]], [0.0, 36.5, 256.4, 420.1, 527.5, 595.4], atol=0.06)
    assert pu21_peak() == pytest.approx(256.38, abs=0.01)
    # clamped outside [0.005, 10000]
    assert float(pu21_encode(torch.tensor(1e-5))) == pytest.approx(float(pu21_encode(torch.tensor(0.005))))
    assert float(pu21_encode(torch.tensor(1e5))) == pytest.approx(float(pu21_encode(torch.tensor(1e4))))
    y = torch.logspace(-2, 4, 40, dtype=torch.float64)
    for kind in PU21_PARAMS:
        e = pu21_encode(y, kind)
        assert (e[1:] > e[:-1]).all(), kind
        np.testing.assert_allclose(pu21_decode(e, kind).numpy(), y.numpy(), rtol=1e-6)


@pytest.mark.skipif(not M.cvvdp_available(), reason="optional cvvdp not installed")
def test_pu21_matches_pycvvdp_encoder():
    perceptual._install_torchvision_shim()
    from pycvvdp.utils import PU

    lum = np.array([0.005, 0.05, 0.5, 5.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0])
    theirs = PU().encode(torch.tensor(lum)).numpy()
    np.testing.assert_allclose(pu21_encode(torch.tensor(lum)).numpy(), theirs, rtol=0, atol=1e-4)


def _ssim_matlab_bruteforce(x: np.ndarray, y: np.ndarray, L: float) -> float:
    """MATLAB ssim by definition: 11x11 Gaussian (sigma 1.5) windows on replicate-padded images."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    xp, yp = np.pad(x, 5, mode="edge"), np.pad(y, 5, mode="edge")
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            a, b = xp[i : i + 11, j : j + 11], yp[i : i + 11, j : j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2
            cab = (w * a * b).sum() - ma * mb
            vals.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matlab_definition():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 256, (17, 14))
    y = x + rng.normal(0, 20, x.shape)
    assert M.ssim_matlab(x, y, 256.0) == pytest.approx(_ssim_matlab_bruteforce(x, y, 256.0), abs=1e-12)
    assert M.ssim_matlab(x, x, 256.0) == pytest.approx(1.0)


def test_pu21_metrics_reference_recipe():
    # absolute images (cd/m^2): PSNR over R, G, B of PU values with peak 256 (pu21_metric.m 'PSNR')
    ref = np.array([[[100.0, 100.0, 100.0], [10.0, 20.0, 30.0]]])
    res = np.array([[[110.0, 100.0, 90.0], [10.0, 25.0, 30.0]]])
    d = [_pu21_decimal(a) - _pu21_decimal(b) for a, b in zip(ref.ravel(), res.ravel())]
    expected = 10 * math.log10(256.0**2 / (sum(e * e for e in d) / len(d)))
    assert M.pu21_psnr_nits(ref, res) == pytest.approx(expected, abs=1e-4)
    # PSNRY on luminance with the reference weights 0.212656 / 0.715158 / 0.072186
    w = (0.212656, 0.715158, 0.072186)
    yr = [sum(c * k for c, k in zip(px, w)) for px in ref.reshape(-1, 3)]
    yt = [sum(c * k for c, k in zip(px, w)) for px in res.reshape(-1, 3)]
    dy = [_pu21_decimal(a) - _pu21_decimal(b) for a, b in zip(yr, yt)]
    assert M.pu21_psnr_y_nits(ref, res) == pytest.approx(10 * math.log10(256.0**2 / (sum(e * e for e in dy) / 2)),
                                                         abs=1e-4)
    # SSIM: MATLAB ssim (range 256) of PU-encoded luminance
    scene = make_hdr_scene(16, 20).astype(np.float64) * 300
    noisy = scene * np.exp(np.random.default_rng(0).normal(0, 0.1, scene.shape))
    pr = np.vectorize(_pu21_decimal)(scene @ np.array(w))
    pt = np.vectorize(_pu21_decimal)(noisy @ np.array(w))
    assert M.pu21_ssim_nits(scene, noisy) == pytest.approx(_ssim_matlab_bruteforce(pr, pt, 256.0), abs=1e-4)


def test_pu_metrics_and_normalisation():
    ref = make_hdr_scene(32, 48).astype(np.float64)
    res = ref * 1.05
    ns = M.nits_scale(ref)
    y = ref @ np.array([0.2126, 0.7152, 0.0722])
    assert ns.scale == pytest.approx(1000.0 / np.percentile(y, 99.9))
    assert "P99.9" in ns.description and "1000" in ns.description
    assert M.nits_scale(ref, "clip_to_nits", nits=200).scale == 200.0
    # max_to_nits: the PU21 README's I_ref / max(I_ref(:)) * L_peak
    assert M.nits_scale(ref, "max_to_nits", nits=4000).scale == pytest.approx(4000.0 / ref.max())
    assert M.nits_scale(ref, "absolute").scale == 1.0
    with pytest.raises(ConfigError):
        M.nits_scale(ref, "bogus")
    value, used = M.pu_psnr_with_scale(ref, res)
    assert value == pytest.approx(M.pu21_psnr_nits(ref * ns.scale, res * ns.scale), abs=1e-12)
    assert used == ns
    disp = M.Display("max_to_nits", 4000.0)
    assert M.METRICS["pu_psnr"](ref, res, None, disp) == pytest.approx(
        M.pu21_psnr_nits(ref * 4000 / ref.max(), res * 4000 / ref.max()))
    assert M.pu_psnr(ref, ref) == math.inf
    assert M.pu_ssim(ref, ref) == pytest.approx(1.0)
    assert 0.0 < M.pu_ssim(ref, ref * np.exp(np.random.default_rng(0).normal(0, 0.2, ref.shape))) < 1.0
    with pytest.raises(ConfigError):
        M.Display("max_to_nits", -1.0)


# ---------------------------------------------------------------- Delta E_ITP, alignment


def test_delta_e_itp_hand_values():
    from hdrlift.metrics.itp import BT709_TO_BT2020, pq_encode_np

    # BT.2087 matrix to its printed 4 decimals
    np.testing.assert_allclose(BT709_TO_BT2020, [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114],
                                                 [0.0164, 0.0880, 0.8956]], atol=6e-5)
    # SMPTE ST 2084 spot values: 100 cd/m^2 -> 0.50808, 1000 -> 0.75183, 10000 -> 1
    np.testing.assert_allclose(pq_encode_np(np.array([0.0, 100.0, 1000.0, 10000.0])),
                               [7.3e-7, 0.508078, 0.751827, 1.0], atol=2e-6)
    # greys: LMS rows sum to 1, so I = PQ(Y), Ct = Cp = 0 and dE = 720 |PQ(Y1) - PQ(Y2)|
    ref = np.full((2, 3, 3), 100.0)
    res = np.full((2, 3, 3), 110.0)
    ict = M.rgb709_to_ictcp(ref)
    np.testing.assert_allclose(ict[0, 0], [float(pq_encode_np(np.array(100.0))), 0.0, 0.0], atol=1e-12)
    expected = 720 * abs(float(pq_encode_np(np.array(110.0)) - pq_encode_np(np.array(100.0))))
    assert M.delta_e_itp_nits(ref, res) == pytest.approx(expected, rel=1e-12)
    assert M.delta_e_itp_nits(ref, ref) == 0.0
    # chroma counts: a red shift is larger than zero even at equal luminance weight
    tinted = ref.copy()
    tinted[..., 0] *= 1.1
    assert M.delta_e_itp_nits(ref, tinted) > 1.0
    assert M.get_metric("delta_e_itp").higher_is_better is False


def test_fit_scale_unclipped_and_crf_correction():
    ref = make_hdr_scene(24, 32).astype(np.float64)
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    res = np.minimum(ref, 1.0) * 0.25  # a clipped result, exposed 2 stops too dark
    res[ldr.max(axis=-1) >= 0.99] *= 3.0  # whatever the method did in the clipped region
    assert M.fit_scale_unclipped(ref, res, ldr) == pytest.approx(4.0, rel=1e-9)
    # camera-response correction undoes a smooth tone curve and a colour cast (in cd/m^2)
    nits = ref * 500.0
    curved = 1000.0 * (nits / 1000.0) ** 0.8 * np.array([1.0, 0.95, 1.05])
    fixed = M.crf_correction(curved, nits)
    err_before = np.mean(np.abs(np.log(curved + 1) - np.log(nits + 1)))
    err_after = np.mean(np.abs(np.log(fixed + 1) - np.log(nits + 1)))
    assert err_after < 0.1 * err_before
    assert M.pu_psnr(nits, fixed, "absolute") > M.pu_psnr(nits, curved, "absolute") + 10
    # an identical image stays (almost) identical
    assert M.pu_psnr(nits, M.crf_correction(nits, nits), "absolute") > 60


# ---------------------------------------------------------------- clipped region


def test_clipped_log_rmse():
    ref = np.full((8, 8, 3), 4.0)
    ref[:, :4] = 0.3
    res = ref.copy()
    res[:, 4:] = 8.0  # highlights one stop too bright
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    assert M.clipped_mask(ldr).sum() == 32
    assert M.clipped_log_rmse(ref, res, ldr) == pytest.approx(1.0)
    assert M.clipped_log_rmse(ref, ref, ldr) == pytest.approx(0.0)
    ldr8 = np.round(ldr * 255).astype(np.uint8)
    assert M.clipped_log_rmse(ref, res, ldr8) == pytest.approx(1.0)
    assert math.isnan(M.clipped_log_rmse(ref, res, ldr * 0.5))
    with pytest.raises(DataError):
        M.clipped_log_rmse(ref, res, ldr[:4])


# ---------------------------------------------------------------- registry


def test_registry_and_evaluate_pair():
    required = {
        "psnr_mu", "psnr_l", "psnr_mu_aligned", "psnr_l_aligned", "ssim_mu", "msssim_mu",
        "psnr_log", "ssim_log", "pu_psnr", "pu_ssim", "clipped_rmse",
    }
    assert required <= set(M.METRICS)
    ref = make_hdr_scene(32, 48).astype(np.float32)
    res = ref * 1.1 + 0.01
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    scores = M.evaluate_pair(ref, res, ldr)
    assert required <= set(scores)
    assert all(isinstance(v, float) for v in scores.values())
    assert scores["psnr_mu"] == pytest.approx(M.psnr_mu(ref, res))
    assert math.isnan(M.METRICS["clipped_rmse"](ref, res))
    scores2, info = M.evaluate_pair(ref, res, metrics=["pu_psnr", "psnr_mu"], return_info=True)
    assert set(scores2) == {"pu_psnr", "psnr_mu"}
    assert "percentile_to_nits" in info["pu_psnr"]
    with pytest.raises(ConfigError, match="unknown metric"):
        M.evaluate_pair(ref, res, metrics=["psnr_mu", "nope"])


def test_input_validation():
    a = np.zeros((4, 4, 3))
    with pytest.raises(DataError, match="shapes differ"):
        M.psnr_mu(a, np.zeros((4, 5, 3)))
    bad = a.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        M.psnr_mu(a, bad)
    with pytest.raises(DataError):
        M.ssim_mu(np.zeros((4, 4)), np.zeros((4, 4)))


# ---------------------------------------------------------------- cvvdp adapter


def test_cvvdp_missing_gives_one_line_error(monkeypatch):
    monkeypatch.setattr(perceptual, "cvvdp_available", lambda: False)
    monkeypatch.setattr(perceptual, "_METRIC_CACHE", {})
    with pytest.raises(HdrliftError, match="pip install cvvdp --no-deps") as exc:
        M.cvvdp_score(np.ones((16, 16, 3)), np.ones((16, 16, 3)))
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(not M.cvvdp_available(), reason="optional cvvdp not installed")
def test_cvvdp_when_installed():
    import importlib.metadata
    import importlib.util

    import hdrlift.metrics.registry as R

    assert "cvvdp" in M.METRICS and R.METRIC_SPECS["cvvdp"].unit == "JOD"
    ref = make_hdr_scene(48, 64).astype(np.float64)
    same, info = M.cvvdp_score(ref, ref)
    assert same == pytest.approx(10.0, abs=1e-4)
    assert "ColorVideoVDP" in info and "Lpeak=1000" in info and "P99.9" in info
    noisy = ref * np.exp(np.random.default_rng(0).normal(0, 0.3, ref.shape))
    worse = M.evaluate_pair(ref, noisy, metrics=["cvvdp"])["cvvdp"]
    assert 0.0 < worse < same - 0.1
    # a brighter display changes the score and is reported in the info string
    four, info4 = M.cvvdp_score(ref, noisy, peak_nits=4000.0)
    assert "Lpeak=4000" in info4 and four != pytest.approx(worse, abs=1e-6)
    # the CPU torch was kept (cvvdp installed with --no-deps, torchvision shimmed)
    assert "+cpu" in torch.__version__ or importlib.util.find_spec("torchvision") is not None
    assert importlib.metadata.version("cvvdp")


def test_torchvision_gaussian_blur_shim():
    blur = perceptual._GaussianBlurShim(13, 3.0)
    const = torch.full((1, 3, 20, 24), 2.5)
    torch.testing.assert_close(blur(const), const)
    x = torch.zeros(1, 1, 31, 31)
    x[0, 0, 15, 15] = 1.0
    y = blur(x)[0, 0]
    g = torch.exp(-0.5 * (torch.arange(-6, 7, dtype=torch.float32) / 3.0) ** 2)
    g = g / g.sum()
    torch.testing.assert_close(y[9:22, 9:22], torch.outer(g, g))
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(HdrliftError):
        perceptual._MLPShim()


def test_clipped_bound_oracles_on_known_regions() -> None:
    """hdrlift.tools.suite.oracle_rmses (benchmarks/clipped_bound.py's oracles): each oracle is exact where
    the truth has its form, not elsewhere."""
    from scipy import ndimage

    from hdrlift.tools.suite import oracle_rmses

    ldr = np.full((40, 60, 3), 0.4, np.float32)
    ldr[5:15, 5:15] = 1.0  # two clipped regions
    ldr[20:35, 30:55] = 1.0
    assert oracle_rmses(np.ones_like(ldr), np.full_like(ldr, 0.5)) is None  # nothing clipped
    ref = np.ones_like(ldr)
    ref[5:15, 5:15] = 4.0  # a different constant per region: 2 and 4 stops (luminance of grey = its value)
    ref[20:35, 30:55] = 16.0
    o = oracle_rmses(ref, ldr)
    assert o["oracle region constant"] == pytest.approx(0, abs=1e-5)
    p = 100 / (100 + 375)  # share of the 2-stop region: the spread of a two-valued truth 2 stops apart
    assert o["oracle image constant"] == pytest.approx(2 * np.sqrt(p * (1 - p)), rel=1e-4)
    # truth = a + b log(1 + distance to the edge) inside one region: the per-region feature fit is exact
    mask = ldr.max(-1) >= 0.99
    dist = ndimage.distance_transform_edt(mask)
    lum = np.where(mask, 2.0 ** (1 + 1.5 * np.log1p(dist)), 1.0)
    ref2 = np.repeat(lum[..., None], 3, axis=2).astype(np.float32)
    o2 = oracle_rmses(ref2, ldr)
    assert o2["oracle region features"] == pytest.approx(0, abs=1e-4)
    assert o2["oracle region constant"] > 0.3


def test_clipped_error_decomposition_splits_level_from_structure() -> None:
    from hdrlift.metrics.clipped import clipped_error_decomposition
    from hdrlift.tools.suite import oracle_rmses

    ldr = np.full((30, 40, 3), 0.4, np.float32)
    ldr[2:12, 2:12] = 1.0
    ldr[15:28, 20:38] = 1.0
    assert clipped_error_decomposition(np.ones_like(ldr), np.ones_like(ldr), ldr * 0.5) is None
    rng = np.random.default_rng(1)
    ref = np.ones_like(ldr)
    ref[ldr.max(-1) >= 0.99] = 2.0 ** rng.uniform(1, 5, ((ldr.max(-1) >= 0.99).sum(), 1))
    res = ref.copy()
    res[2:12, 2:12] /= 4.0  # one region two stops too dark, its structure exact
    d = clipped_error_decomposition(ref, res, ldr)
    p = 100 / (100 + 13 * 18)
    assert d["structure_with_true_means"] == pytest.approx(0, abs=1e-5)
    assert d["region_bias"] == pytest.approx(2 * np.sqrt(p), rel=1e-5) == pytest.approx(d["rmse"], rel=1e-5)
    assert d["mean_error"] == pytest.approx(-2 * p, rel=1e-5)
    assert d["oracle_region_constant"] == pytest.approx(oracle_rmses(ref, ldr)["oracle region constant"], rel=1e-5)
    flat = np.where(ldr.max(-1, keepdims=True) >= 0.99, 8.0, ref)
    f = clipped_error_decomposition(ref, flat, ldr)
    assert f["rmse"] ** 2 == pytest.approx(f["region_bias"] ** 2 + f["structure_with_true_means"] ** 2, rel=1e-6)
    assert f["structure_with_true_means"] == pytest.approx(f["oracle_region_constant"], rel=1e-6)


def test_run_script_exits_with_one_line_on_hdrlift_errors(capsys) -> None:
    from hdrlift.errors import DataError, run_script

    def bad() -> int:
        raise DataError("pairs/: no pair")

    with pytest.raises(SystemExit) as e:
        run_script(bad)
    assert e.value.code == "error: pairs/: no pair"
    with pytest.raises(SystemExit) as e:
        run_script(lambda: 3)
    assert e.value.code == 3
    with pytest.raises(SystemExit) as e:
        run_script(lambda: None)
    assert e.value.code == 0
    with pytest.raises(ZeroDivisionError):  # not an hdrlift error: the traceback stays
        run_script(lambda: 1 // 0)
