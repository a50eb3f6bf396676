"""CurveNet (hdrlift/models/curvenet.py), its training (hdrlift/train/curvenet.py) and ``--camera``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hdrlift.errors import HdrliftError, ModelError
from hdrlift.models import create_model
from hdrlift.models.curvenet import code_histograms, thumbnail
from hdrlift.ops.blend import blend_with_decoded
from hdrlift.ops.transfer import linear_to_srgb, srgb_to_linear


def test_untrained_curvenet_is_srgb_decoding():
    m = create_model("curvenet_tiny").eval()
    x = torch.rand(2, 3, 21, 34, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(m.estimate(x), torch.ones(2))
    assert torch.allclose(m(x), srgb_to_linear(x).clamp(min=1e-8), atol=1e-7)


def test_forward_applies_the_exponent_and_keeps_clipping_at_one():
    m = create_model("curvenet_tiny").eval()
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    y = m(x, g=torch.tensor([0.7]))
    assert torch.allclose(y, srgb_to_linear(x).clamp(min=1e-8) ** 0.7, atol=1e-6)
    assert torch.allclose(y[..., -1], torch.ones(1, 3, 1))  # 1 ** g: the clipping level stays 1.0


def test_strength_scales_the_log_exponent():
    full = create_model("curvenet_tiny").eval()
    torch.nn.init.constant_(full.head[-1].bias, 0.4)
    half = create_model("curvenet_tiny", strength=0.5).eval()
    half.load_state_dict(full.state_dict())
    x = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert torch.allclose(half.estimate(x), full.estimate(x) ** 0.5)
    with pytest.raises(ModelError, match="strength must lie"):
        create_model("curvenet_tiny", strength=3.0)


def test_histograms_are_fractions_and_thumbnail_has_fixed_size():
    x = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(1))
    t = thumbnail(x, 32)
    assert t.shape == (2, 3, 32, 32) and 0 <= float(t.min()) and float(t.max()) <= 1
    h = code_histograms(t, 8).view(2, 3, 8)
    assert torch.allclose(h.sum(-1), torch.ones(2, 3), atol=1e-5)
    const = code_histograms(torch.full((1, 3, 4, 4), 1.0), 8).view(3, 8)
    assert torch.allclose(const[:, -1], torch.ones(3))  # all mass in the top bin


def test_estimate_is_trainable_and_exponent_bounded():
    m = create_model("curvenet_tiny")
    torch.nn.init.normal_(m.head[-1].weight, std=10.0)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    g = m.estimate_from_thumbnail(x)
    assert bool(((g > np.exp(-0.9) - 1e-6) & (g < np.exp(0.9) + 1e-6)).all())
    g.sum().backward()
    assert all(p.grad is not None for n, p in m.named_parameters() if not n.startswith("detail_"))


def test_tiled_prediction_equals_whole_image(tmp_path):
    from hdrlift.checkpoint import save_model
    from hdrlift.inference.predictor import Predictor

    torch.manual_seed(0)  # an exponent well away from 1 whatever ran before (seed 0: g = 2.05)
    m = create_model("curvenet_tiny").eval()
    torch.nn.init.normal_(m.head[-1].weight, std=1.0)
    save_model(m, tmp_path / "cn")
    x = np.random.default_rng(3).uniform(0, 1, (70, 90, 3)).astype(np.float32)
    whole = Predictor(str(tmp_path / "cn"), device="cpu", tile=0)(x)
    tiled = Predictor(str(tmp_path / "cn"), device="cpu", tile=32)(x)
    assert Predictor(str(tmp_path / "cn"), device="cpu", tile=32).tile_for(70, 90) == 32
    assert not np.allclose(whole, srgb_to_linear(torch.from_numpy(x)).numpy(), atol=1e-3)  # g != 1
    assert np.allclose(whole, tiled, atol=1e-6)


def test_oracle_exponent_recovers_a_power_curve():
    from hdrlift.tools.suite import oracle_exponent

    rng = np.random.default_rng(4)
    hdr = np.repeat(rng.uniform(0.02, 0.9, (40, 40, 1)) ** 2, 3, axis=2)  # grey: luminance = each channel
    ldr = linear_to_srgb(torch.from_numpy(hdr ** (1 / 0.8))).numpy()  # decoding needs exponent 0.8
    g, var, resid = oracle_exponent(ldr, hdr)
    assert g == pytest.approx(0.8, abs=1e-3) and var > 0 and resid < 1e-4
    assert oracle_exponent(np.ones((8, 8, 3)), np.ones((8, 8, 3))) is None  # nothing well exposed


def test_blend_uses_the_given_decoded_photo():
    x = torch.full((3, 4, 4), 0.4)
    net = torch.full((3, 4, 4), 0.5)
    assert torch.allclose(blend_with_decoded(x, net, 0.9, 0.0), srgb_to_linear(x))
    dec = torch.full((3, 4, 4), 0.2)
    assert torch.allclose(blend_with_decoded(x, net, 0.9, 0.0, decoded=dec), dec)
    assert torch.allclose(blend_with_decoded(x, net, 0.9, 0.5, decoded=dec), (0.2 * 0.5) ** 0.5 * torch.ones(3, 4, 4),
                          atol=1e-5)


def test_predictor_camera_choices(tmp_path):
    from hdrlift.checkpoint import save_model
    from hdrlift.inference.predictor import Predictor

    net = create_model("twostage_tiny").eval()
    cam = create_model("curvenet_tiny").eval()
    torch.nn.init.constant_(cam.head[-1].bias, 0.5)  # g = exp(0.9 tanh 0.5) != 1
    save_model(net, tmp_path / "net", meta={"output_blend": {"tau": 0.9, "mid": 0.0, "camera": str(tmp_path / "cam")}})
    save_model(cam, tmp_path / "cam")
    x = np.random.default_rng(5).uniform(0.05, 0.8, (24, 30, 3)).astype(np.float32)
    auto = Predictor(str(tmp_path / "net"), device="cpu")
    assert auto.camera is not None
    srgb = Predictor(str(tmp_path / "net"), device="cpu", camera="srgb")
    assert srgb.camera is None
    ya, ys = auto(x), srgb(x)
    with torch.no_grad():
        g = float(cam.estimate(torch.from_numpy(x).permute(2, 0, 1)[None]))
    lin = srgb_to_linear(torch.from_numpy(x)).numpy()
    assert np.allclose(ys, lin, atol=1e-5)  # no pixel reaches tau: the decoded photo
    assert np.allclose(ya, np.maximum(lin, 1e-8) ** g, atol=1e-5)
    import hdrlift.ops.blend as blend_mod

    with pytest.MonkeyPatch.context() as mp:  # blended in strips of 4 rows: the curve decodes each strip, same result
        mp.setattr(blend_mod, "STRIP_PIXELS", 4 * 30)
        assert np.allclose(Predictor(str(tmp_path / "net"), device="cpu")(x), ya, atol=1e-6)
    with pytest.raises(HdrliftError, match="no blend applies"):
        Predictor(str(tmp_path / "net"), device="cpu", blend="none", camera=str(tmp_path / "cam"))
    with pytest.raises(HdrliftError, match="not a model"):
        Predictor(str(tmp_path / "net"), device="cpu", camera="linear")


def _tiny_scenes(tmp_path, seed: int, width: int) -> None:
    """Three small HDR scenes with a bright patch; train.txt (two) and val.txt (one) in ``tmp_path``."""
    from hdrlift.io import write_image

    rng = np.random.default_rng(seed)
    for i in range(3):
        img = rng.uniform(0.01, 1.0, (32, width, 3)).astype(np.float32) ** 3
        img[:8, :12] *= 30.0
        write_image(tmp_path / f"s{i}.exr", img)
    (tmp_path / "train.txt").write_text("s0.exr\ns1.exr\n")
    (tmp_path / "val.txt").write_text("s2.exr\n")


def test_training_runs_on_tiny_scenes(tmp_path):
    from hdrlift.checkpoint import load_model
    from hdrlift.train.curvenet import main

    _tiny_scenes(tmp_path, 6, 64)
    rc = main(["--out", str(tmp_path / "run"), "--root", str(tmp_path), "--train-split", str(tmp_path / "train.txt"),
               "--val-split", str(tmp_path / "val.txt"), "--crf-file", "", "--val-parts", "c_srgb,c_srgb_clean",
               "--model", "curvenet_tiny", "--samples", "24", "--epochs", "2", "--val-every", "1", "--batch", "8",
               "--data-cache", str(tmp_path / "cache.pt")])
    assert rc == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all(np.isfinite(r["loss"]) for r in log)
    assert set(log[0]["val"]) == {"c_srgb", "c_srgb_clean", "score"}
    best = load_model(tmp_path / "run" / "best")
    assert best.checkpoint_config["meta"]["samples"] == 24
    assert load_model(tmp_path / "run" / "last").checkpoint_config["meta"]["epoch"] == 2
    assert (tmp_path / "cache.pt").is_file()


def test_decibel_loss_punishes_errors_on_clean_captures_more():
    from hdrlift.train.curvenet import curve_loss

    g, w = torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])
    e0 = torch.tensor([0.0, 0.1])  # a clean capture and a noisy one, same exponent error
    per = [float(curve_loss(torch.tensor([1.1]), g[i:i + 1], w[i:i + 1], e0[i:i + 1])) for i in range(2)]
    assert per[0] > 5 * per[1]
    assert float(curve_loss(g, g, w, e0)) == 0.0
    assert float(curve_loss(torch.tensor([1.1, 1.1]), g, w, e0, "mse")) == pytest.approx(0.01)


def test_cli_camera_flag(tmp_path):
    """``hdrlift predict --camera srgb|estimate`` both run from the shipped weights; a non-model is one line."""
    import subprocess
    import sys

    from hdrlift.io import read_image, write_image

    rng = np.random.default_rng(8)
    img = (np.clip(rng.uniform(0.0, 1.0, (40, 56, 3)) ** 2, 0, 1) * 255).astype(np.uint8)
    img[:8, :8] = 255
    write_image(tmp_path / "p.png", img)
    outs = {}
    for cam in ("srgb", "estimate"):
        r = subprocess.run([sys.executable, "-m", "hdrlift", "predict", str(tmp_path / "p.png"), "-o",
                            str(tmp_path / f"{cam}.exr"), "--camera", cam, "--quiet", "--no-preview"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs[cam] = read_image(tmp_path / f"{cam}.exr")
    assert outs["srgb"].shape == outs["estimate"].shape == (40, 56, 3)
    r = subprocess.run([sys.executable, "-m", "hdrlift", "predict", str(tmp_path / "p.png"), "-o",
                        str(tmp_path / "x.exr"), "--camera", "linear"], capture_output=True, text=True)
    assert r.returncode != 0 and "not a model" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- degradation branch


def test_detail_crops_cover_small_and_large_images():
    from hdrlift.models.curvenet import detail_crops

    assert detail_crops(torch.rand(1, 3, 384, 256), 96, 16).shape == (12, 3, 96, 96)
    assert detail_crops(torch.rand(2, 3, 2000, 3000), 96, 16).shape == (32, 3, 96, 96)
    assert detail_crops(torch.rand(1, 3, 20, 30), 96, 16).shape == (1, 3, 20, 30)  # the whole image
    x = torch.rand(1, 3, 200, 300)
    c = detail_crops(x, 96, 4)
    assert torch.equal(c[0], x[0, :, :96, :96]) and torch.equal(c[-1], x[0, :, -96:, -96:])  # grid corners


def test_detail_weight_follows_the_gate_and_old_checkpoints_have_no_branch(tmp_path):
    from hdrlift.checkpoint import load_model, save_model

    plain = create_model("curvenet", width=4, hist_bins=8, side=32)
    assert not plain.has_detail and not any(k.startswith("detail_") for k in plain.state_dict())
    with pytest.raises(ValueError, match="no degradation branch"):
        plain.detail_weight(torch.rand(1, 3, 16, 16))
    m = create_model("curvenet_tiny", detail_gate=[0.5, 2.0, -1.0]).eval()
    x = torch.rand(2, 3, 40, 50)
    with torch.no_grad():
        d = m.degradation(x)
        w = m.detail_weight(x)
    assert d.shape == (2, 2) and w.shape == (2,)
    assert torch.allclose(w, torch.sigmoid(0.5 + 2.0 * d[:, 0] - 1.0 * d[:, 1]))
    save_model(m, tmp_path / "c")
    back = load_model(tmp_path / "c").eval()
    with torch.no_grad():
        assert torch.allclose(back.detail_weight(x), w)
    with pytest.raises(ModelError, match="3 numbers"):
        create_model("curvenet_tiny", detail_gate=[1.0])


def test_blend_detail_weighs_the_local_rule_against_the_per_pixel_rule():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 24, 20, generator=g) * 0.85
    net = srgb_to_linear(x) * (1 + 0.3 * torch.rand(2, 3, 24, 20, generator=g))
    local = blend_with_decoded(x, net, 0.9, 0.0, 2.0)
    pixel = blend_with_decoded(x, net, 0.9, 0.0, 0.0)
    assert not torch.allclose(local, pixel)
    assert torch.equal(blend_with_decoded(x, net, 0.9, 0.0, 2.0, detail=1.0), local)
    assert torch.allclose(blend_with_decoded(x, net, 0.9, 0.0, 2.0, detail=0.0), pixel)
    mixed = blend_with_decoded(x, net, 0.9, 0.0, 2.0, detail=torch.tensor([0.0, 1.0]))
    assert torch.allclose(mixed[0], pixel[0], atol=1e-6) and torch.allclose(mixed[1], local[1], atol=1e-6)
    half = blend_with_decoded(x, net, 0.9, 0.0, 2.0, detail=0.5)
    assert torch.allclose(half, (pixel * local).sqrt(), rtol=1e-4, atol=1e-6)  # geometric mean
    with pytest.raises(ValueError, match="detail"):
        blend_with_decoded(x, net, 0.9, 0.0, 2.0, detail=1.5)


def test_blend_detail_parsing_and_predictor_auto_detail(tmp_path):
    from hdrlift.checkpoint import save_model
    from hdrlift.inference.predictor import Predictor, resolve_blend, resolve_detail
    from hdrlift.tools.suite import blend_label, parse_blend

    net = create_model("twostage_tiny").eval()
    assert resolve_blend("0.9,0,1,auto", net) == (0.9, 0.0, 1.0)
    assert resolve_detail("0.9,0,1,auto", net) == "auto"
    assert resolve_detail("0.9,0,1,0.25", net) == 0.25 and resolve_detail("0.9,0", net) == 1.0
    with pytest.raises(HdrliftError, match="DETAIL"):
        resolve_detail("0.9,0,1,2", net)
    with pytest.raises(HdrliftError):
        resolve_blend("0.9,0,1,x", net)
    assert parse_blend("0.9,0,1,auto") == (0.9, 0.0, 1.0, "auto") and parse_blend("0.9,0") == (0.9, 0.0)
    assert blend_label("m", (0.9, 0.0, 1.0, "auto")) == "m+blend(0.9,0,1,auto)"
    assert blend_label("m", (0.9, 0.0, 1.0, 1.0)) == "m+blend(0.9,0,1)"
    cam = create_model("curvenet_tiny", detail_gate=[0.0, 0.0, 0.0]).eval()  # detail 0.5 whatever the photo
    save_model(cam, tmp_path / "cam")
    spec = {"tau": 0.9, "mid": 0.0, "sigma": 1.0, "detail": "auto", "camera": str(tmp_path / "cam")}
    save_model(net, tmp_path / "net", meta={"output_blend": spec})
    p = Predictor(str(tmp_path / "net"), device="cpu")
    assert p.detail == "auto" and p.detector is p.camera
    x = np.random.default_rng(8).uniform(0.05, 0.99, (24, 30, 3)).astype(np.float32)
    got = p(x)
    xt = torch.from_numpy(x).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = net(xt).clamp(min=0)
        want = blend_with_decoded(xt, y, 0.9, 0.0, 1.0, decoded=cam(xt), detail=0.5)[0].permute(1, 2, 0).numpy()
    assert np.allclose(got, want, atol=1e-5)
    with torch.no_grad():
        assert p.last_blend == {"exponent": pytest.approx(float(cam.estimate(xt)[0])), "detail": pytest.approx(0.5),
                                "highlight": 0.0}
    save_model(net, tmp_path / "bad", meta={"output_blend": {**spec, "detail": "much"}})
    with pytest.raises(ModelError, match="detail"):
        Predictor(str(tmp_path / "bad"), device="cpu")
    plain = create_model("curvenet", width=4, hist_bins=8, side=32)
    save_model(plain, tmp_path / "plain")
    other = Predictor(str(tmp_path / "net"), device="cpu", camera=str(tmp_path / "plain"), blend="0.9,0,1,auto")
    assert other.detector is not other.camera and other.detector.has_detail  # the shipped estimator's branch


def test_degradation_targets_and_gate_fit():
    from hdrlift.degrade.camera import CameraParams
    from hdrlift.train.curvenet_detail import NOISE_FLOOR, degradation_targets, fit_gate

    clean = degradation_targets(CameraParams())
    assert clean == (pytest.approx(np.log10(NOISE_FLOOR)), 0.0)
    noisy = degradation_targets(CameraParams(shot_sigma=(0.01,) * 3, read_sigma=(0.0,) * 3, jpeg_quality=80))
    assert noisy[0] == pytest.approx(np.log10(0.01 + NOISE_FLOOR)) and noisy[1] == pytest.approx(0.4)
    rng = np.random.default_rng(0)
    degr = np.c_[rng.uniform(-2.5, -1.5, 200), rng.uniform(0, 1, 200)]
    diff = np.where(degr[:, 0] > -2.2, 1.0, -2.0) + 0.1 * rng.standard_normal(200)  # noisy: detail helps
    a, bn, bj = fit_gate(diff, degr)
    z = a + bn * degr[:, 0] + bj * degr[:, 1]
    assert bn > 0 and np.mean((z > 0) == (diff > 0)) > 0.9


def test_jpeg_grid_statistic_finds_a_jpeg_and_its_crops_but_not_a_clean_photo():
    import io

    from PIL import Image

    from hdrlift.models.curvenet import jpeg_grid_statistic

    rng = np.random.default_rng(4)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(1)),
                                           size=(96, 128), mode="bicubic", align_corners=False)
    img = (base[0].permute(1, 2, 0).numpy() + 0.03 * rng.standard_normal((96, 128, 3))).clip(0, 1)
    u8 = (img * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=85)
    jpg = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    clean, comp, crop = (float(jpeg_grid_statistic(t(a))[0]) for a in (u8 / 255.0, jpg, jpg[3:, 5:]))
    assert clean < 0.05 and comp > 0.15 and crop > 0.15
    assert float(jpeg_grid_statistic(torch.rand(2, 3, 10, 40))[1]) == 0.0  # too small to hold a block grid


def test_detail_training_runs_on_tiny_scenes(tmp_path):
    from hdrlift.checkpoint import load_model, save_model
    from hdrlift.train.curvenet_detail import main

    _tiny_scenes(tmp_path, 7, 48)
    init = create_model("curvenet", width=4, hist_bins=8, side=32)
    save_model(init, tmp_path / "init")
    save_model(create_model("twostage_tiny"), tmp_path / "net")
    rc = main(["--init", str(tmp_path / "init"), "--out", str(tmp_path / "run"), "--root", str(tmp_path),
               "--train-split", str(tmp_path / "train.txt"), "--val-split", str(tmp_path / "val.txt"),
               "--crf-file", "", "--calibrate", str(tmp_path / "net"), "--detail-width", "4", "--crop", "16",
               "--samples", "12", "--epochs", "2", "--batch", "8"])
    assert rc == 0
    out = load_model(tmp_path / "run" / "best")
    assert out.has_detail and len(out.hparams["detail_gate"]) == 3
    for k, v in init.state_dict().items():  # the exponent part is kept bit for bit
        assert torch.equal(out.state_dict()[k], v)
    meta = out.checkpoint_config["meta"]
    assert set(meta["detail_validation"]) == {"a_default", "c_srgb", "c_srgb_clean"}
    assert meta["detail_calibration"]["pairs"] == 2 * 2 * 3


@pytest.mark.parametrize("sigma,detail,k", [(1.0, (0.3, 1.0), 0.0), (4.0, (1.0, 1.0), 0.3), (0.0, (1.0, 1.0), 0.0),
                                           (2.0, (0.0, 0.5), 0.5)])
def test_blend_in_strips_equals_the_blend_at_once(sigma, detail, k):
    g = torch.Generator().manual_seed(0)
    x, net, dec = (torch.rand(2, 3, 301, 97, generator=g) * s for s in (1.0, 2.0, 1.0))
    d = torch.tensor(detail)
    whole = blend_with_decoded(x, net, 0.9, 0.2, sigma, decoded=dec, detail=d, strip_pixels=0, highlight=k)
    strips = blend_with_decoded(x, net, 0.9, 0.2, sigma, decoded=dec, detail=d, strip_pixels=97 * 30, highlight=k)
    torch.testing.assert_close(strips, whole, rtol=1e-6, atol=1e-6)


def test_blend_with_a_row_decoder_equals_the_decoded_tensor_and_sees_each_strip_with_its_halo():
    g = torch.Generator().manual_seed(1)
    x, net = torch.rand(1, 3, 120, 40, generator=g), torch.rand(1, 3, 120, 40, generator=g) * 2.0
    dec = srgb_to_linear(x) ** 1.3
    calls: list[tuple[int, int]] = []

    def rows(ldr: torch.Tensor, top: int) -> torch.Tensor:
        calls.append((top, ldr.shape[-2]))
        assert torch.equal(ldr, x[..., top : top + ldr.shape[-2], :])
        return srgb_to_linear(ldr) ** 1.3

    for strip in (0, 40 * 25):
        calls.clear()
        ref = blend_with_decoded(x, net, 0.9, 0.0, 1.0, decoded=dec, detail=0.6, strip_pixels=strip, highlight=0.3)
        got = blend_with_decoded(x, net, 0.9, 0.0, 1.0, decoded=rows, detail=0.6, strip_pixels=strip, highlight=0.3)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7)  # SIMD vs scalar pow on a strip edge
        assert calls[0][0] == 0 and (len(calls) == 1) == (strip == 0)
        assert all(n < 120 for _, n in calls) or strip == 0  # never the whole image when in strips


def test_gaussian_blur_equals_a_reflect_padded_convolution():
    from hdrlift.ops.blend import gaussian_blur

    g = torch.Generator().manual_seed(2)
    for shape, sigma in (((2, 3, 31, 17), 1.0), ((1, 2, 4, 9), 1.5), ((1, 1, 1, 6), 0.7)):
        x = torch.rand(*shape, generator=g, dtype=torch.float64)
        r = max(1, math.ceil(3 * sigma))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
        k = k / k.sum()
        y = x.reshape(-1, 1, *shape[-2:])
        for dim in (-2, -1):
            rr = min(r, y.shape[dim] - 1)
            if rr == 0:
                continue
            kk = k[r - rr : r + rr + 1]
            pad = (0, 0, rr, rr) if dim == -2 else (rr, rr, 0, 0)
            w = kk.view(1, 1, -1, 1) if dim == -2 else kk.view(1, 1, 1, -1)
            y = torch.nn.functional.conv2d(torch.nn.functional.pad(y, pad, mode="reflect"), w)
        torch.testing.assert_close(gaussian_blur(x, sigma), y.reshape(shape), rtol=1e-12, atol=1e-12)


def test_expand_highlights_scales_log_luminance_above_the_clip_and_keeps_colour():
    from hdrlift.ops.blend import expand_highlights
    from hdrlift.ops.transfer import luminance

    x = torch.tensor([[0.2, 0.5, 0.9], [1.0, 1.0, 1.0], [4.0, 4.0, 4.0], [8.0, 2.0, 1.0]]).T.reshape(1, 3, 1, 4)
    y = expand_highlights(x, 0.5)
    lx, ly = luminance(x)[0, 0, 0], luminance(y)[0, 0, 0]
    assert torch.equal(y[..., :2], x[..., :2])  # at or below the clipping level: unchanged
    above = lx > 1
    torch.testing.assert_close(torch.log2(ly[above]), 1.5 * torch.log2(lx[above]))
    torch.testing.assert_close(y[0, :, 0, 3] / y[0, 1, 0, 3], x[0, :, 0, 3] / x[0, 1, 0, 3])  # colour ratios
    assert expand_highlights(x, 0.0) is x


def test_blend_highlight_field_through_parsing_predictor_and_suite_label(tmp_path):
    from hdrlift.checkpoint import save_model
    from hdrlift.inference.predictor import Predictor, resolve_highlight
    from hdrlift.ops.blend import expand_highlights
    from hdrlift.tools.suite import blend_label, parse_blend

    net = create_model("twostage_tiny").eval()
    assert resolve_highlight("0.9,0,1,0.5,0.3", net) == 0.3 and resolve_highlight("0.9,0,1,0.5", net) == 0.0
    with pytest.raises(HdrliftError, match="HIGHLIGHT"):
        resolve_highlight("0.9,0,1,0.5,-1", net)
    assert parse_blend("0.9,0,1,auto,0.25") == (0.9, 0.0, 1.0, "auto", 0.25)
    with pytest.raises(ValueError):
        parse_blend("0.9,0,1,auto,-0.5")
    assert blend_label("m", (0.9, 0.0, 1.0, "auto", 0.25)) == "m+blend(0.9,0,1,auto,0.25)"
    assert blend_label("m", (0.9, 0.0, 1.0, "auto", 0.0)) == "m+blend(0.9,0,1,auto)"
    save_model(net, tmp_path / "net", meta={"output_blend": {"tau": 0.9, "mid": 0.0, "sigma": 1.0, "detail": 0.5,
                                                              "highlight": 0.4}})
    p = Predictor(str(tmp_path / "net"), device="cpu")
    assert p.highlight == 0.4
    x = np.random.default_rng(3).uniform(0.05, 1.0, (20, 26, 3)).astype(np.float32)
    x[:6, :6] = 1.0
    xt = torch.from_numpy(x).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = net(xt).clamp(min=0)
        plain = blend_with_decoded(xt, y, 0.9, 0.0, 1.0, detail=0.5)
    want = expand_highlights(plain, 0.4)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(p(x), want, atol=1e-5)
    assert p.last_blend is not None and p.last_blend["highlight"] == 0.4
    save_model(net, tmp_path / "bad", meta={"output_blend": {"tau": 0.9, "mid": 0.0, "highlight": "big"}})
    with pytest.raises(ModelError, match="highlight"):
        Predictor(str(tmp_path / "bad"), device="cpu")


@pytest.mark.parametrize("text,field", [("0.9", "TAU,MID"), ("1,0", "TAU"), ("0.9,x", "MID"), ("0.9,0,-1", "SIGMA"),
                                        ("0.9,0,1,2", "DETAIL"), ("0.9,0,1,auto,5", "HIGHLIGHT"),
                                        ("0.9,0,1,auto,0.3,1", "TAU,MID")])
def test_one_blend_parser_names_the_bad_field_for_predict_suite_and_record(text, field):
    from hdrlift.inference.predictor import resolve_blend
    from hdrlift.ops.blend import parse_blend
    from hdrlift.tools.suite import parse_blend as suite_parse

    with pytest.raises(ValueError, match=field):
        parse_blend(text)
    with pytest.raises(ValueError, match=field):
        suite_parse(text)
    with pytest.raises(HdrliftError, match=field):
        resolve_blend(text, create_model("twostage_tiny"))
    assert parse_blend(" 0.9, 0.5 ,2,auto,0.3") == (0.9, 0.5, 2.0, "auto", 0.3)
