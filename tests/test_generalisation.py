"""Issue #22: held-out camera curves, JPEG chroma, panorama views, the generalisation suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hdrlift.data.hdr_folder import AugmentConfig, is_panorama, perspective_view, random_crop
from hdrlift.degrade import CameraConfig, sample_params, simulate
from hdrlift.degrade.camera import crf_curve, table_subset
from hdrlift.degrade.jpeg import jpeg_roundtrip
from hdrlift.errors import ConfigError, DataError
from hdrlift.tools import suite

ROOT = Path(__file__).resolve().parents[1]


def _fake_dorf(path: Path, n: int = 12) -> Path:
    """A dorfCurves.txt with n distinct power-law curves x**(1/g)."""
    grid = np.linspace(0, 1, 33)
    lines = []
    for i in range(n):
        g = 1.2 + 0.1 * i
        lines += [f"curve{i}", "graph", "I =", " ".join(f"{v:.6f}" for v in grid), "B =",
                  " ".join(f"{v:.6f}" for v in grid ** (1 / g))]
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- camera


def test_table_subsets_are_disjoint_and_cover_the_table():
    hold, train, every = (table_subset(201, s) for s in ("holdout", "train", "all"))
    assert len(hold) == 40 and len(train) == 161
    assert set(hold).isdisjoint(train) and set(hold) | set(train) == set(every)
    assert all(i % 5 == 2 for i in hold)
    with pytest.raises(ConfigError):
        table_subset(10, "validation")


@pytest.mark.parametrize("subset", ["holdout", "train"])
def test_sampled_table_curves_stay_in_their_subset(tmp_path, subset):
    f = _fake_dorf(tmp_path / "dorfCurves.txt", 12)
    cfg = CameraConfig(crf_weights={"table": 1.0}, crf_table_path=str(f), crf_table_subset=subset)
    g = torch.Generator().manual_seed(3)
    drawn = {int(sample_params(cfg, g).crf_params[0]) for _ in range(200)}
    assert drawn == set(table_subset(12, subset).tolist())
    # the curve used is the one of that index (x ** (1 / g_i) at mid grey)
    p = sample_params(cfg, torch.Generator().manual_seed(0))
    i = int(p.crf_params[0])
    assert crf_curve(p, 1025)[512] == pytest.approx(0.5 ** (1 / (1.2 + 0.1 * i)), abs=2e-3)


def test_bad_subset_and_subsampling_are_config_errors():
    with pytest.raises(ConfigError, match="crf_table_subset"):
        CameraConfig(crf_table_subset="test")
    with pytest.raises(ConfigError, match="jpeg_subsampling"):
        CameraConfig.from_dict({"jpeg_subsampling": "4:1:1"})


def test_jpeg_444_keeps_chroma_that_420_loses():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, ::2] = (230, 20, 20)  # one-pixel red / black columns: chroma at full resolution
    e420 = np.abs(jpeg_roundtrip(img, 95, "4:2:0").astype(int) - img).mean()
    e444 = np.abs(jpeg_roundtrip(img, 95, "4:4:4").astype(int) - img).mean()
    assert e444 < 0.5 * e420
    with pytest.raises(ValueError):
        jpeg_roundtrip(img, 95, "4:4:0")


def test_camera_params_carry_the_subsampling_into_simulate():
    cfg = CameraConfig(crf_weights={"srgb": 1.0}, jpeg_prob=1.0, jpeg_quality=(90, 90), noise_prob=0.0,
                       jpeg_subsampling="4:4:4")
    p = sample_params(cfg, torch.Generator().manual_seed(0))
    assert p.jpeg_subsampling == "4:4:4"
    hdr = np.zeros((16, 16, 3), np.float32)
    hdr[:, ::2, 0] = 0.5
    a = simulate(hdr, p).ldr
    b = simulate(hdr, type(p).from_dict({**p.to_dict(), "jpeg_subsampling": "4:2:0"})).ldr
    assert not np.array_equal(a, b)


# ----------------------------------------------------------------------------- panorama views


def _longitude_panorama(h: int = 64) -> np.ndarray:
    """Equirectangular image whose red channel is the longitude in [0, 1) and green the latitude."""
    w = 2 * h
    lon = (np.arange(w) + 0.5) / w
    lat = 1.0 - (np.arange(h) + 0.5) / h
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = lon[None, :]
    img[..., 1] = lat[:, None]
    img[..., 2] = 1.0
    return img


def test_perspective_view_looks_where_it_is_told():
    pano = _longitude_panorama()
    v = perspective_view(pano, 33, yaw=0.0, pitch=0.0, roll=0.0, fov=60.0)
    assert v.shape == (3, 33, 33)
    assert float(v[0, 16, 16]) == pytest.approx(0.5, abs=0.02)  # yaw 0 = centre column
    assert float(v[1, 16, 16]) == pytest.approx(0.5, abs=0.02)  # horizon
    right = perspective_view(pano, 33, yaw=90.0, pitch=0.0, roll=0.0, fov=60.0)
    assert float(right[0, 16, 16]) == pytest.approx(0.75, abs=0.02)
    up = perspective_view(pano, 33, yaw=0.0, pitch=45.0, roll=0.0, fov=30.0)
    assert float(up[1, 16, 16]) == pytest.approx(0.75, abs=0.02)  # 45 degrees above the horizon
    # the view's top rows look higher than its bottom rows (image up = up)
    assert float(v[1, 0].mean()) > float(v[1, -1].mean())
    # lines of constant longitude stay straight through the centre: the centre column has one longitude
    assert float(v[0, :, 16].std()) < 0.01


def test_perspective_view_wraps_at_the_seam_and_rejects_bad_fov():
    pano = _longitude_panorama()
    pano[..., 0] = np.sin(2 * np.pi * pano[..., 0])  # continuous across the seam
    back = perspective_view(pano, 17, yaw=180.0, pitch=0.0, roll=0.0, fov=40.0)
    assert float(back[0].abs().max()) < 0.4  # sin is ~0 around longitude 0 / 1, no seam jump
    with pytest.raises(ValueError):
        perspective_view(pano, 8, 0, 0, 0, fov=180.0)


def test_random_crop_draws_views_of_panoramas_only_and_deterministically():
    pano = _longitude_panorama(32)
    aug = AugmentConfig(patch=16, perspective=1.0)
    a = random_crop(pano, aug, torch.Generator().manual_seed(5))
    b = random_crop(pano, aug, torch.Generator().manual_seed(5))
    assert a.shape == (3, 16, 16) and torch.equal(a, b)
    assert is_panorama(pano.shape) and not is_panorama((40, 50, 3))
    flat = random_crop(pano, AugmentConfig(patch=16, perspective=0.0), torch.Generator().manual_seed(5))
    assert not torch.allclose(a, flat)


# ----------------------------------------------------------------------------- suite


def test_alignment_recovers_a_known_scale_on_well_exposed_pixels():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.02, 0.8, (24, 24, 3))
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    res = ref / 3.0
    res[:4] = 100.0  # pixels outside the well-exposed range must not move the fit
    ldr[:4] = 1.0
    assert suite.align_on_well_exposed(ref, res, ldr) == pytest.approx(3.0, rel=1e-6)


def test_pair_metrics_reward_the_truth_and_punish_a_wrong_highlight():
    rng = np.random.default_rng(1)
    ref = rng.uniform(0.05, 0.9, (32, 32, 3))
    ref[:8, :8] = 6.0
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    exact = suite.pair_metrics(ref, ref * 0.5, ldr)  # a scale is aligned away
    assert exact["psnr_mu"] > 100 and exact["clip_stops"] == pytest.approx(0.0, abs=1e-9)
    flat = suite.pair_metrics(ref, np.minimum(ref, 1.0), ldr)
    assert flat["clip_stops"] == pytest.approx(np.log2(6.0), rel=1e-6)
    assert flat["psnr_mu_well"] > 100 and flat["psnr_mu_clip"] < 30


def test_region_oracle_is_exact_for_constant_regions():
    ref = np.full((20, 20, 3), 0.3)
    ref[2:6, 2:6] = 4.0
    ref[12:18, 12:18] = 16.0
    ldr = np.clip(ref, 0, 1)
    o = suite.oracle_rmses(ref, ldr)
    assert o is not None and o["oracle region constant"] == pytest.approx(0.0, abs=1e-9)
    assert o["oracle image constant"] > 0.5
    assert suite.oracle_rmses(ref * 0.05, np.clip(ref * 0.05, 0, 1)) is None


def test_suite_score_is_the_smallest_gain():
    res = {"a": {"linear": {"psnr_mu": 20.0}, "m": {"psnr_mu": 23.0}},
           "b": {"linear": {"psnr_mu": 30.0}, "m": {"psnr_mu": 29.5}}}
    assert suite.suite_score(res, "m") == pytest.approx(-0.5)
    assert suite.suite_score(res, "missing") is None


def test_camera_yamls_match_the_suite_cameras():
    cams = suite.suite_cameras("../shared/data/crf/201_CRF_data.mat")
    for part, name in [("b_heldout", "heldout"), ("c_srgb", "srgb"), ("c_srgb_clean", "srgb_clean"),
                       ("d_processed", "processed"), ("d_localtone", "localtone")]:
        data = yaml.safe_load((ROOT / "configs" / "camera" / f"{name}.yaml").read_text())
        assert CameraConfig.from_dict(data).to_dict() == CameraConfig.from_dict(cams[part]).to_dict(), part


def test_build_and_run_suite_on_tiny_scenes(tmp_path):
    from hdrlift.io import write_image

    rng = np.random.default_rng(2)
    files = []
    for i in range(2):
        img = rng.uniform(0.01, 1.0, (24, 48, 3)).astype(np.float32) ** 3
        img[:6, :10] *= 40.0  # a bright region that clips
        f = tmp_path / f"scene{i}.exr"
        write_image(f, img)
        files.append(f)
    crf = _fake_dorf(tmp_path / "dorfCurves.txt", 10)
    pairs = suite.build_suite(files, max_side=32, crf_file=crf)
    assert [p.group for p in pairs].count("b_heldout") == 4 and len(pairs) == 16
    again = suite.build_suite(files, max_side=32, crf_file=crf)
    assert all(np.array_equal(a.ldr, b.ldr) for a, b in zip(pairs, again))
    report = suite.run_suite(["linear"], [p for p in pairs if p.group.startswith("c_")], device="cpu")
    assert set(report["parts"]) == {"c_srgb", "c_srgb_clean"} and report["score"]["linear"] == 0.0
    assert "c_srgb_clean" in suite.format_suite(report)
    with pytest.raises(DataError, match="DoRF"):
        suite.build_suite(files, parts=["b_heldout"], crf_file=tmp_path / "missing.mat")
    with pytest.raises(DataError, match="unknown suite part"):
        suite.build_suite(files, parts=["z"], crf_file=crf)


def test_validation_pairs_use_val_camera(tmp_path):
    from hdrlift.data import build_val_pairs
    from hdrlift.io import write_image
    from hdrlift.train.config import config_from_dict

    img = np.random.default_rng(3).uniform(0.01, 2.0, (16, 32, 3)).astype(np.float32)
    write_image(tmp_path / "s.exr", img)
    (tmp_path / "val.txt").write_text("s.exr\n")
    cfg = config_from_dict({"data": {"root": str(tmp_path), "val_split": str(tmp_path / "val.txt"),
                                          "val_max_side": 32, "val_exposures": [0.0],
                                          "camera": {"crf_weights": {"srgb": 1.0}, "noise_prob": 0.0},
                                          "val_camera": {"crf_weights": {"gamma": 1.0}, "noise_prob": 0.0,
                                                         "jpeg_prob": 0.0, "gamma_range": [3.0, 3.0]}}})
    pair = build_val_pairs(cfg)[0]
    ldr, hdr = pair.ldr, pair.hdr
    m = (hdr < 0.9) & (hdr > 0.05)
    np.testing.assert_allclose(ldr[m], hdr[m] ** (1 / 3.0), atol=4e-3)  # the gamma-3 validation camera


# ----------------------------------------------------------------------------- blending with the decoded photo


def test_blend_keeps_the_decoded_photo_below_tau_and_the_network_at_clipping():
    from hdrlift.ops.blend import blend_weight, blend_with_decoded
    from hdrlift.ops.transfer import srgb_to_linear

    x = torch.tensor([0.2, 0.5, 0.95, 1.0]).view(1, 4, 1).expand(3, 4, 1).contiguous()  # (3, H=4, W=1)
    net = torch.full_like(x, 7.0)
    out = blend_with_decoded(x, net, tau=0.9, mid=0.0)
    lin = srgb_to_linear(x)
    assert torch.allclose(out[:, :2], lin[:, :2])  # below tau: the decoded photo
    assert torch.allclose(out[:, 3], net[:, 3])  # clipped: the network
    a = float(blend_weight(x, 0.9)[0, 2, 0])
    assert a == pytest.approx(0.5, abs=1e-6)
    assert torch.allclose(out[:, 2], lin[:, 2] + a * (7.0 - lin[:, 2]))
    assert torch.allclose(blend_with_decoded(x, net, 0.9, 1.0), net)  # mid = 1: the network alone
    half = blend_with_decoded(x, net, 0.9, 0.5)[:, 0]
    assert torch.allclose(half, torch.sqrt(lin[:, 0] * 7.0), rtol=1e-4)  # geometric mix
    with pytest.raises(ValueError):
        blend_with_decoded(x, net, tau=1.0)
    with pytest.raises(ValueError):
        blend_with_decoded(x, net, mid=1.5)


def test_predictor_applies_the_declared_blend(tmp_path):
    from hdrlift.checkpoint import load_model, save_model
    from hdrlift.errors import HdrliftError, ModelError
    from hdrlift.inference.predictor import Predictor, resolve_blend
    from hdrlift.models import create_model
    from hdrlift.ops.transfer import srgb_to_linear

    torch.manual_seed(0)
    model = create_model("hdrunet", nf=8)
    save_model(model, tmp_path / "w", meta={"output_blend": {"tau": 0.8, "mid": 0.0}})
    x = np.random.default_rng(0).uniform(0, 0.7, (32, 32, 3)).astype(np.float32)
    x[:8, :8] = 1.0
    declared = Predictor(str(tmp_path / "w"), device="cpu")
    assert declared.blend == (0.8, 0.0, 0.0)
    out = declared(x)
    lin = srgb_to_linear(torch.from_numpy(x)).numpy()
    assert np.allclose(out[8:, 8:], lin[8:, 8:], atol=1e-6)  # well exposed: the photo decoded
    raw = Predictor(str(tmp_path / "w"), device="cpu", blend="none")(x)
    assert np.allclose(out[:8, :8], raw[:8, :8], atol=1e-5)  # clipped: the network
    assert not np.allclose(out, raw)
    t = declared.predict_tensor(torch.from_numpy(x).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(t, out, atol=1e-5)
    assert Predictor("linear", device="cpu", blend="0.5,0").blend is None  # operators are not blended
    m = load_model(tmp_path / "w")
    m.checkpoint_config["meta"]["output_blend"] = {"tau": "x"}
    with pytest.raises(ModelError, match="output_blend"):
        resolve_blend("auto", m)
    with pytest.raises(HdrliftError, match="TAU,MID"):
        resolve_blend("0.9", m)
    assert resolve_blend("0.9,0.5,3", m) == (0.9, 0.5, 3.0)
    with pytest.raises(HdrliftError, match=r"TAU must be a number in \[0, 1\)"):
        resolve_blend("1.0,0", m)


def test_blend_sigma_takes_the_local_tone_from_the_photo_and_the_detail_from_the_network():
    from hdrlift.ops.blend import blend_with_decoded, gaussian_blur
    from hdrlift.ops.transfer import srgb_to_linear

    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.5 * torch.rand(3, 48, 48, generator=g)  # no pixel near clipping: the ramp is 0 everywhere
    lin = srgb_to_linear(x)
    assert torch.allclose(blend_with_decoded(x, 2.0 * lin, 0.9, 0.0, sigma=3.0), lin, rtol=1e-4)  # tone hedge removed
    smooth = gaussian_blur(lin, 4.0)
    out = blend_with_decoded(x, 1.5 * smooth, 0.9, 0.0, sigma=4.0)  # a "denoised" network result
    assert float((out - smooth).abs().mean()) < 0.1 * float((lin - smooth).abs().mean())  # its detail is kept
    assert torch.allclose(gaussian_blur(torch.ones(2, 3, 9, 7), 2.0), torch.ones(2, 3, 9, 7), atol=1e-6)
    with pytest.raises(ValueError):
        blend_with_decoded(x, lin, sigma=-1.0)


@pytest.mark.parametrize("name", __import__("hdrlift.checkpoint", fromlist=["x"]).pretrained_names())
def test_every_shipped_weight_is_at_or_above_linear_on_every_suite_part(name):
    """The shipping rule of issue #22: the recorded suite figures (scripts/record_suite.py) of every shipped
    weight, with the blend it declares, are >= plain sRGB decoding on all four cameras."""
    from hdrlift.checkpoint import load_model
    from hdrlift.inference.predictor import resolve_blend, resolve_detail, resolve_highlight

    model = load_model(name)
    meta = model.checkpoint_config["meta"]
    suite_rec = meta.get("suite")
    assert suite_rec is not None, f"{name}: no suite figures recorded (scripts/record_suite.py)"
    for part in suite.PARTS:
        assert part in suite_rec, f"{name}: suite part {part} missing"
        assert suite_rec[part]["gain"] >= 0.0, f"{name}: below linear on {part}"
    declared = resolve_blend("auto", model)
    row, _, camera = suite_rec["row"].partition(")@")
    got = name if declared is None else suite.blend_label(
        name, (*declared, resolve_detail("auto", model), resolve_highlight("auto", model)))
    assert got == (row + ")" if camera else row), f"{name}: declared blend {got!r} is not the row measured"
    declared_camera = (meta.get("output_blend") or {}).get("camera", "srgb")
    assert declared_camera == (camera or "srgb"), f"{name}: declared camera differs from the row"


def test_processed_part_is_the_heldout_capture_with_processing(tmp_path):
    from hdrlift.io import write_image

    rng = np.random.default_rng(5)
    img = rng.uniform(0.01, 1.0, (24, 48, 3)).astype(np.float32) ** 3
    img[:6, :10] *= 40.0
    write_image(tmp_path / "s.exr", img)
    crf = _fake_dorf(tmp_path / "dorfCurves.txt", 10)
    parts = ["b_heldout", "d_processed", "d_localtone"]
    pairs = suite.build_suite([tmp_path / "s.exr"], parts, max_side=48, crf_file=crf)
    b = [p for p in pairs if p.group == "b_heldout"]
    for part in parts[1:]:
        d = [p for p in pairs if p.group == part]
        assert len(b) == len(d) == 2
        for pb, pd in zip(b, d):
            np.testing.assert_array_equal(pb.hdr, pd.hdr)  # same view and exposure
            assert not np.array_equal(pb.ldr, pd.ldr)  # the processing is there
        assert part not in suite.PARTS
