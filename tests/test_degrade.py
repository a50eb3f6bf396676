"""Camera model (hdrlift.degrade): sampling, simulation, CRFs and the CRF basis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_hdr_scene

from hdrlift.degrade import (
    CRF_FAMILIES,
    CameraConfig,
    CameraParams,
    apply_curve,
    capture,
    compute_hdr_stats,
    crf_basis,
    crf_coefficients,
    crf_curve,
    crf_family,
    crf_table,
    curve_from_coeffs,
    fit_coeffs,
    invert_curve,
    invert_curve_numpy,
    load_camera_config,
    load_emor,
    make_monotonic,
    sample_params,
    simulate,
)
from hdrlift.errors import ConfigError, DataError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _flat(value: float, h: int = 64, w: int = 64) -> np.ndarray:
    return np.full((h, w, 3), value, np.float32)


def test_same_seed_same_params_and_output():
    hdr = make_hdr_scene(32, 40, seed=1)
    cfg = CameraConfig(jpeg_prob=1.0)
    a = [sample_params(cfg, _gen(7), hdr) for _ in range(1)][0]
    b = sample_params(cfg, _gen(7), hdr)
    assert a == b
    ra, rb = simulate(hdr, a), simulate(hdr, b)
    np.testing.assert_array_equal(ra.ldr, rb.ldr)
    c = sample_params(cfg, _gen(8), hdr)
    assert c != a


def test_params_replay_from_dict_and_torch_numpy_paths_agree():
    hdr = make_hdr_scene(24, 32, seed=2)
    cfg = CameraConfig(noise_prob=1.0, jpeg_prob=1.0, crf_weights={"basis": 1.0})
    p = sample_params(cfg, _gen(3), hdr)
    q = CameraParams.from_dict(p.to_dict())
    assert q == p
    r_np = simulate(hdr, q)
    r_t = simulate(torch.from_numpy(hdr).permute(2, 0, 1), p)
    np.testing.assert_array_equal(r_np.ldr, r_t.ldr.permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(r_np.clipped_mask[..., 0], r_t.clipped_mask[0].numpy())
    with pytest.raises(ConfigError):
        CameraParams.from_dict({**p.to_dict(), "iso": 100})


@pytest.mark.parametrize("bits", [8, 5])
def test_ldr_on_exact_levels(bits):
    hdr = make_hdr_scene(32, 32, seed=3)
    cfg = CameraConfig(bits=bits, jpeg_prob=0.0 if bits != 8 else 1.0)
    for seed in range(4):
        r = simulate(hdr, sample_params(cfg, _gen(seed), hdr))
        levels = 2**bits - 1
        assert r.ldr.dtype == np.float32 and r.ldr.min() >= 0 and r.ldr.max() <= 1
        np.testing.assert_allclose(r.ldr * levels, np.round(r.ldr * levels), atol=1e-4)


def test_hdr_target_is_scaled_hdr_and_mask_marks_clipping():
    hdr = make_hdr_scene(32, 32, seed=4)
    p = CameraParams(exposure=0.7, wb=(1.1, 1.0, 0.9))
    r = simulate(hdr, p)
    np.testing.assert_allclose(r.hdr_target, hdr * 0.7 * np.array([1.1, 1.0, 0.9], np.float32), rtol=1e-6)
    assert np.array_equal(r.clipped_mask[..., 0], r.hdr_target.max(-1) >= 1)
    # every clipped pixel is saturated in the LDR (sRGB CRF, no noise, no JPEG)
    assert np.all(r.ldr.max(-1)[r.clipped_mask[..., 0]] == 1.0)


def test_clipping_fraction_follows_exposure_and_auto_exposure():
    hdr = make_hdr_scene(64, 64, seed=5)
    fracs = [float(capture(hdr, exposure_stops=s).clipped_mask.mean()) for s in (-2, 0, 2, 4)]
    assert all(b > a for a, b in zip(fracs, fracs[1:])), fracs
    for target in (0.02, 0.1):
        got = float(capture(hdr, auto_exposure="clip_fraction", clip_fraction=target).clipped_mask.mean())
        assert abs(got - target) < 0.35 * target + 0.005, (target, got)
    st = compute_hdr_stats(hdr)
    r = capture(hdr)  # median metering -> middle grey
    lum = r.hdr_target @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    assert np.median(lum) == pytest.approx(0.18, rel=0.02)
    assert st.median_luminance == pytest.approx(0.18, rel=0.05)


@pytest.mark.parametrize("model,expected", [("relative", 0.05 * 0.25), ("poisson", (0.05**2 * 0.25) ** 0.5)])
def test_noise_statistics(model, expected):
    hdr = _flat(0.25, 96, 96)
    read = 0.004
    p = CameraParams(crf="linear", shot_sigma=(0.05,) * 3, read_sigma=(read,) * 3, noise_model=model, bits=16,
                     noise_seed=11)
    r = simulate(hdr, p)
    std = float(r.ldr.std())
    assert std == pytest.approx((expected**2 + read**2) ** 0.5, rel=0.08)
    assert float(r.ldr.mean()) == pytest.approx(0.25, abs=0.002)
    # a different seed gives different noise, the same seed the same
    q = CameraParams(**{**p.__dict__, "noise_seed": 12})
    assert not np.array_equal(simulate(hdr, q).ldr, r.ldr)


def test_jpeg_applied_when_chosen():
    hdr = make_hdr_scene(48, 64, seed=6)
    base = CameraParams(exposure=0.8)
    plain = simulate(hdr, base).ldr
    low = simulate(hdr, CameraParams(exposure=0.8, jpeg_quality=30)).ldr
    high = simulate(hdr, CameraParams(exposure=0.8, jpeg_quality=100)).ldr
    assert np.abs(low - plain).mean() > np.abs(high - plain).mean() > 0
    np.testing.assert_allclose(low * 255, np.round(low * 255), atol=1e-4)
    cfg = CameraConfig(jpeg_prob=1.0, jpeg_quality=(70, 90))
    qs = {sample_params(cfg, _gen(s)).jpeg_quality for s in range(20)}
    assert None not in qs and min(qs) >= 70 and max(qs) <= 90
    assert {sample_params(CameraConfig(jpeg_prob=0.0), _gen(s)).jpeg_quality for s in range(5)} == {None}


def test_in_camera_saturation_and_sharpening():
    hdr = make_hdr_scene(48, 64, seed=9)
    plain = simulate(hdr, CameraParams(exposure=0.8, bits=16)).ldr
    sat = simulate(hdr, CameraParams(exposure=0.8, bits=16, saturation=1.5)).ldr
    sharp = simulate(hdr, CameraParams(exposure=0.8, bits=16, sharpen=1.0)).ldr

    def luma(a):
        return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]

    chroma = lambda a: np.abs(a - luma(a)[..., None])  # noqa: E731
    inside = (plain.max(-1) < 0.6) & (plain.min(-1) > 0.05)  # far from the clamps
    np.testing.assert_allclose(chroma(sat)[inside], 1.5 * chroma(plain)[inside], atol=2e-4)
    np.testing.assert_allclose(luma(sat)[inside], luma(plain)[inside], atol=2e-4)
    lap = lambda a: np.abs(a[1:-1, 1:-1] * 4 - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]).mean()  # noqa: E731
    assert lap(sharp) > 1.3 * lap(plain)
    assert abs(sharp.mean() - plain.mean()) < 0.01  # local contrast, not brightness
    cfg = CameraConfig(saturation=(1.0, 1.4), sharpen=(0.3, 1.2))
    ps = [sample_params(cfg, _gen(s)) for s in range(20)]
    assert all(1.0 <= p.saturation <= 1.4 and 0.3 <= p.sharpen <= 1.2 for p in ps)
    base = [sample_params(CameraConfig(), _gen(s)) for s in range(5)]
    assert all(p.saturation == 1.0 and p.sharpen == 0.0 for p in base)
    # the processing draws are two of the fixed uniforms no other field uses: every other field stays put
    assert [dataclasses.replace(p, saturation=1.0, sharpen=0.0) for p in ps[:5]] == base
    with pytest.raises(ConfigError):
        CameraConfig(sharpen=(-1.0, 0.0))


def test_local_tone_lifts_the_shadows_only_and_keeps_the_draws():
    from hdrlift.degrade.camera import local_tone_gain

    hdr = np.full((64, 96, 3), 0.03, np.float32)  # a dark room (2.6 stops below mid-grey) ...
    hdr[:, 48:] = 0.5  # ... beside a bright wall ...
    hdr[20:30, 70:80] = 8.0  # ... with a light that clips
    hdr[40:43, 20:23] = 4.0  # and a small lamp in the dark room (its neighbourhood is lifted)
    plain = simulate(hdr, CameraParams(exposure=1.0, bits=16, crf="linear"))
    tone = simulate(hdr, CameraParams(exposure=1.0, bits=16, crf="linear", local_tone=0.5))
    np.testing.assert_array_equal(tone.hdr_target, plain.hdr_target)  # the truth is the scene
    np.testing.assert_array_equal(tone.clipped_mask, plain.clipped_mask)
    ratio = tone.ldr / plain.ldr
    # far from the edge the dark side is lifted by strength x 2.6 stops (log2(0.18 / 0.03))
    assert ratio[:30, :10].mean() == pytest.approx(2 ** (0.5 * np.log2(0.18 / 0.03)), rel=0.02)
    np.testing.assert_allclose(ratio[:, 86:], 1.0, atol=1e-4)  # the bright side: no gain
    assert (tone.ldr[20:30, 70:80] >= 0.999).all() and (tone.ldr[40:43, 20:23] >= 0.999).all()  # lights stay clipped
    strong = simulate(hdr, CameraParams(exposure=1.0, bits=16, crf="linear", local_tone=1.0)).ldr
    assert (strong / plain.ldr).max() == pytest.approx(4.0, rel=1e-3)  # 2.6 stops capped at 2
    g = local_tone_gain(torch.from_numpy(hdr.transpose(2, 0, 1)).clamp(max=1.0), 0.5)
    assert g.shape == (1, 64, 96) and float(g.min()) >= 1.0
    # 0 = none: bit-exact; the draw comes from its own generator: every other field of a capture stays put
    np.testing.assert_array_equal(simulate(hdr, CameraParams(exposure=1.0, local_tone=0.0)).ldr,
                                  simulate(hdr, CameraParams(exposure=1.0)).ldr)
    cfg = CameraConfig(local_tone=(0.3, 0.7))
    ps = [sample_params(cfg, _gen(s)) for s in range(20)]
    assert all(0.3 <= p.local_tone <= 0.7 for p in ps) and len({p.local_tone for p in ps}) == 20
    base = [sample_params(CameraConfig(), _gen(s)) for s in range(20)]
    assert [dataclasses.replace(p, local_tone=0.0) for p in ps] == base
    g1, g2 = _gen(3), _gen(3)  # and the stream after a draw is the stream without it
    sample_params(cfg, g1), sample_params(CameraConfig(), g2)
    assert sample_params(CameraConfig(), g1) == sample_params(CameraConfig(), g2)
    with pytest.raises(ConfigError, match="local_tone"):
        CameraConfig(local_tone=(0.0, 1.5))


def test_sampled_crfs_are_valid_curves():
    cfg = CameraConfig(crf_weights={"srgb": 1, "gamma": 1, "filmic": 1, "basis": 1})
    kinds = set()
    for s in range(40):
        p = sample_params(cfg, _gen(s))
        kinds.add(p.crf)
        c = crf_curve(p)
        assert c[0] == pytest.approx(0, abs=1e-9) and c[-1] == pytest.approx(1, abs=1e-9)
        assert np.all(np.diff(c) >= -1e-12)
    assert kinds == {"srgb", "gamma", "filmic", "basis"}


@pytest.mark.parametrize("name,params", [("linear", ()), ("srgb", ()), ("gamma", (1.8,)), ("gamma", (2.6,)),
                                         ("rec709", (1 / 0.45, 0.018)), ("filmic", (0.7, 0.45)),
                                         ("filmic", (1.6, 0.4))])
def test_named_crfs_monotonic_with_fixed_ends(name, params):
    assert name in CRF_FAMILIES
    c = crf_table(name, params, 1024)
    assert c[0] == pytest.approx(0, abs=1e-12) and c[-1] == pytest.approx(1, abs=1e-9)
    assert np.all(np.diff(c) > 0)
    if name == "filmic":
        assert np.interp(0.18, np.linspace(0, 1, 1024), c) == pytest.approx(params[1], abs=1e-3)


def test_basis_explains_family_and_reconstructs_held_out_curves():
    b = crf_basis(11)
    assert b.basis.shape == (11, 1024) and b.mean.shape == (1024,)
    assert float(b.explained.sum()) > 0.999
    np.testing.assert_allclose(b.basis @ b.basis.T, np.eye(11), atol=1e-8)
    held_out = np.asarray(crf_family(1024, 200, seed=12345))
    for basis, curves in ((b, held_out), (crf_basis(11, inverse=True), invert_curve_numpy(held_out))):
        rec = basis.mean + fit_coeffs(basis, curves) @ basis.basis
        rmse = np.sqrt(((rec - curves) ** 2).mean(axis=1))
        assert rmse.mean() < 3e-3, rmse.mean()
    # parametric curves too (sRGB, a gamma)
    for c in (crf_table("srgb", ()), crf_table("gamma", (2.2,))):
        rec = b.mean + fit_coeffs(b, c) @ b.basis
        assert np.sqrt(((rec - c) ** 2).mean()) < 3e-3
    assert crf_basis(11) is b  # cached


def test_crf_coefficients_roundtrip():
    p = CameraParams(crf="gamma", crf_params=(2.2,))
    c = crf_coefficients(p)
    curve = make_monotonic(curve_from_coeffs(crf_basis(11), torch.as_tensor(c))).numpy()
    assert np.abs(curve - crf_table("gamma", (2.2,))).max() < 0.02
    ci = crf_coefficients(p, inverse=True)
    assert ci.shape == (11,)


def test_make_monotonic_and_apply_curve_gradients():
    torch.manual_seed(0)
    raw = torch.randn(2, 64, dtype=torch.float64).cumsum(-1) * 0.1 + torch.linspace(0, 1, 64, dtype=torch.float64)
    raw.requires_grad_(True)
    curve = make_monotonic(raw)
    assert torch.all(curve[:, 0] == 0) and torch.allclose(curve[:, -1], torch.ones(2, dtype=torch.float64))
    assert torch.all(torch.diff(curve, dim=-1) >= 0)
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    y = apply_curve(x, curve)
    y.sum().backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0
    # identity curve reproduces x; shared curve works too
    ident = torch.linspace(0, 1, 1024, dtype=torch.float64)
    xx = torch.rand(4, 7, dtype=torch.float64)
    torch.testing.assert_close(apply_curve(xx, ident), xx)


def test_invert_curve_torch_matches_numpy():
    c = crf_table("srgb", (), 256)
    inv_np = invert_curve_numpy(c)
    inv_t = invert_curve(torch.as_tensor(c)).numpy()
    np.testing.assert_allclose(inv_t, inv_np, atol=2e-3)
    # f(f^-1(y)) ~ y
    back = np.interp(inv_np, np.linspace(0, 1, 256), c)
    np.testing.assert_allclose(back, np.linspace(0, 1, 256), atol=5e-3)


def _write_emor(path, n=8, k=3, crlf=True, inverse=False):
    rng = np.random.default_rng(0)
    names = ["B", "g0"] + [f"hinv({i})" for i in range(1, k + 1)] if inverse else \
        ["E", "f0"] + [f"h({i})" for i in range(1, k + 1)]
    blocks = [np.linspace(0, 1, n), np.linspace(0, 1, n) ** 0.5] + [rng.normal(size=n) for _ in range(k)]
    lines = []
    for name, vals in zip(names, blocks):
        lines.append(f"{name} =" if "(" not in name else f"{name}=")
        for i in range(0, n, 4):
            lines.append("   ".join(f"{v:.6e}" for v in vals[i : i + 4]))
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\r\n")
    return blocks


def test_emor_parser_on_synthetic_file(tmp_path):
    blocks = _write_emor(tmp_path / "emor.txt")
    b = load_emor(tmp_path / "emor.txt", k=2)
    assert b.name == "emor" and b.basis.shape == (2, 8)
    np.testing.assert_allclose(b.grid, blocks[0], atol=1e-6)
    np.testing.assert_allclose(b.mean, blocks[1], atol=1e-6)
    np.testing.assert_allclose(b.basis[1], blocks[3], atol=1e-5)
    _write_emor(tmp_path / "invemor.txt", crlf=False, inverse=True)
    assert load_emor(tmp_path / "invemor.txt", k=3).name == "invemor"
    with pytest.raises(DataError):
        load_emor(tmp_path / "emor.txt", k=5)
    (tmp_path / "bad.txt").write_text("E =\n0 1 2 x\n")
    with pytest.raises(DataError):
        load_emor(tmp_path / "bad.txt")


def test_config_from_dict_yaml_and_errors(tmp_path):
    cfg = CameraConfig.from_dict({"exposure_stops": [-1, 1], "jpeg_prob": 0.2})
    assert cfg.exposure_stops == (-1, 1) and cfg.jpeg_prob == 0.2
    assert CameraConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="valid keys"):
        CameraConfig.from_dict({"expo": 1})
    with pytest.raises(ConfigError):
        CameraConfig(crf_weights={"polaroid": 1.0})
    with pytest.raises(ConfigError):
        CameraConfig(bits=10)  # JPEG on by default needs 8 bits
    (tmp_path / "cam.yaml").write_text("camera:\n  bits: 10\n  jpeg_prob: 0\n  clip_fraction: [0.02, 0.1]\n")
    loaded = load_camera_config(tmp_path / "cam.yaml")
    assert loaded.bits == 10 and loaded.clip_fraction == (0.02, 0.1)


def test_nonfinite_hdr_rejected():
    hdr = _flat(0.2, 8, 8)
    hdr[0, 0, 0] = np.nan
    with pytest.raises(DataError):
        simulate(hdr, CameraParams())


def test_apply_curve_bfloat16_positions_stay_exact() -> None:
    from hdrlift.degrade.crf import apply_curve

    curve = torch.linspace(0.0, 1.0, 1024) ** 2
    x = torch.tensor([0.0, 0.5, 0.999, 1.0])
    ref = apply_curve(x, curve)
    got = apply_curve(x.bfloat16(), curve.bfloat16())  # bf16 cannot hold 1022: no out-of-range index
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), ref, rtol=2e-2, atol=2e-2)
