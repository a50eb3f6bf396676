"""uhd_bilateral (collaborative bilateral learning, ICCV 2021) and its self-evolving gamma loss."""

from __future__ import annotations

import math

import pytest
import torch

from hdrlift.checkpoint import load_model, save_model
from hdrlift.errors import ModelError
from hdrlift.losses.gamma import (
    SelfEvolvingGammaLoss,
    gamma_correct,
    mask_gamma,
    moroney_mask,
    self_evolving_loss,
)
from hdrlift.models import create_model, get_spec
from hdrlift.models.uhd_bilateral import UHDBilateral


def _tiny(seed: int = 0, **kw) -> UHDBilateral:
    torch.manual_seed(seed)
    return create_model("uhd_bilateral_tiny", **kw)  # type: ignore[return-value]


def _ldr(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_specs_registered():
    full, tiny = get_spec("uhd_bilateral"), get_spec("uhd_bilateral_tiny")
    assert full.cls is UHDBilateral and tiny.cls is UHDBilateral
    assert full.size.multiple == 1 and full.size.receptive_field == 3 and "256x256" in full.size.global_context
    m = _tiny()
    assert m.arch == "uhd_bilateral" and m.hparams["low_res"] == 64 and m.grid_shape == (8, 4, 4)


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 16, 9), (1, 3, 5, 71)])
def test_shapes_finite_nonnegative_odd_sizes(shape):
    m = _tiny()
    for mode in (True, False):
        m.train(mode)
        out = m(_ldr(*shape))
        assert out.shape == shape and torch.isfinite(out).all() and out.min() >= 0
        assert out.max() <= m.hdr_max * (1 + 1e-5)
        inner = m.forward_inner(_ldr(*shape))
        assert inner.min() >= 0 and inner.max() <= 1


def test_gradients_reach_every_trainable_parameter():
    m = _tiny().train()
    out = m.forward_inner(_ldr(2, 3, 24, 31))
    (out - 0.3).abs().mean().backward()
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert names and not any(n.startswith("vgg.") for n in names)  # VGG frozen by default
    dead = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not dead, dead
    m2 = _tiny(vgg_trainable=True)
    m2.forward_inner(_ldr(1, 3, 20, 20)).mean().backward()
    assert m2.vgg.features[0].weight.grad.abs().sum() > 0


def test_checkpoint_round_trip_identical(tmp_path):
    m = _tiny(3, tucker="joint", shared_guide=True).eval()
    x = _ldr(1, 3, 19, 27, seed=2)
    with torch.no_grad():
        ref = m(x)
    save_model(m, tmp_path / "ck")
    back = load_model(tmp_path / "ck")
    assert isinstance(back, UHDBilateral) and back.hparams == m.hparams and back.tucker_mode == "joint"
    with torch.no_grad():
        assert torch.equal(back(x), ref)


def test_golden_outputs_fixed_seed():
    m = _tiny(1234).eval()
    x = torch.rand(1, 3, 24, 40, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        y = m.forward_inner(x)
        h = m(x)
    assert y.mean().item() == pytest.approx(0.4566183388233185, abs=2e-5)
    assert y.std().item() == pytest.approx(0.02682889997959137, abs=2e-5)
    assert h.mean().item() == pytest.approx(1.4429550170898438, rel=1e-4)
    expect = torch.tensor([0.4812234342098236, 0.473879337310791, 0.47324156761169434, 0.4883640706539154,
                           0.46258607506752014, 0.487112432718277, 0.4436963200569153, 0.4425537586212158,
                           0.47214996814727783])
    torch.testing.assert_close(y[0, :, ::8, ::13].flatten()[:9], expect, atol=5e-5, rtol=0)


def test_apply_grids_on_crop_equals_crop_of_full_image():
    m = _tiny(5).eval()
    x = _ldr(1, 3, 40, 48, seed=4)
    with torch.no_grad():
        grids = m.predict_grids(x)
        assert grids.shape == (1, 2, 12, 8, 4, 4)
        full_feat = m.slice_features(x, grids)
        full = m.apply_grids(x, grids)
        torch.testing.assert_close(full, m(x))
        r0, r1, c0, c1 = 7, 30, 11, 41
        crop = x[..., r0:r1, c0:c1]
        feat = m.slice_features(crop, grids, (r0, c0), (40, 48))
        torch.testing.assert_close(feat, full_feat[..., r0:r1, c0:c1], rtol=0, atol=1e-6)
        out = m.apply_grids(crop, grids, (r0, c0), (40, 48))
        rf = m.receptive_field
        torch.testing.assert_close(out[..., rf:-rf, rf:-rf], full[..., r0 + rf:r1 - rf, c0 + rf:c1 - rf],
                                   rtol=1e-5, atol=1e-5)


def test_grids_are_global_tucker_smoothed_and_options_run():
    m = _tiny(6).eval()
    x = _ldr(1, 3, 30, 30, seed=5)
    with torch.no_grad():
        g1 = m.predict_grids(x)
        g2 = m.predict_grids(torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear"))
        assert (g1 - g2).abs().max() < 0.2  # depends on the downsampled image only (up to resampling)
    for kw in (dict(tucker="none"), dict(adain_variant="released"), dict(tucker_ranks=[1, 1, 1])):
        out = _tiny(6, **kw).eval()(x)
        assert torch.isfinite(out).all()
    with torch.no_grad():
        plain = _tiny(6, tucker="none").eval().predict_grids(x)
        smooth = _tiny(6).eval().predict_grids(x)
    assert not torch.allclose(plain, smooth)
    with pytest.raises(ModelError):
        _tiny(tucker="bogus")
    with pytest.raises(ModelError):
        _tiny(grid_shape=[8, 4])
    with pytest.raises(ModelError):
        m(torch.rand(1, 4, 8, 8))


def test_vgg_weights_file_loaded_and_not_stored(tmp_path):
    from safetensors.torch import save_file

    src = _tiny(7)
    state = {f"features.{k}": v.clone() + 0.01 for k, v in src.vgg.features.state_dict().items()}
    save_file(state, str(tmp_path / "vgg.safetensors"))
    m = _tiny(8, vgg_weights=str(tmp_path / "vgg.safetensors"))
    assert torch.equal(m.vgg.features[0].weight, state["features.0.weight"])
    assert m.hparams["vgg_weights"] is None and m.vgg_source.endswith("vgg.safetensors")
    with pytest.raises(ModelError):
        _tiny(vgg_weights=str(tmp_path / "missing.pth"))


def test_output_encoding_round_trip_and_clipping_level():
    m = _tiny()
    h = torch.tensor([0.0, 0.01, 0.18, 1.0, 10.0, 64.0])
    torch.testing.assert_close(m.inner_to_hdr(m.hdr_to_inner(h)), h, rtol=1e-4, atol=1e-6)
    clip = m.hdr_to_inner(torch.tensor(1.0)).item()
    assert clip == pytest.approx(math.log1p(16) / math.log1p(16 * 64))
    assert m.hdr_to_inner(torch.tensor(1000.0)).item() == 1.0


# --------------------------------------------------------------------------- self-evolving gamma loss
def test_mask_and_gamma_follow_eq6():
    img = torch.full((1, 3, 9, 7), 0.8)
    mask = moroney_mask(img)
    assert mask.shape == (1, 1, 9, 7)
    torch.testing.assert_close(mask, torch.full_like(mask, 0.2))
    torch.testing.assert_close(mask_gamma(mask), torch.full_like(mask, 2 ** ((128 - 51) / 128)))
    assert mask_gamma(torch.tensor(128 / 255)).item() == pytest.approx(1.0)
    assert moroney_mask(img, mask_channels="rgb").shape == img.shape
    g = gamma_correct(img)
    assert (g < img).all()  # bright -> darkened


def test_self_evolving_gradient_sign():
    bright = torch.full((1, 3, 8, 8), 0.9, requires_grad=True)
    self_evolving_loss(bright).backward()
    assert (bright.grad > 0).all()  # descent darkens a too-bright output
    dark = torch.full((1, 3, 8, 8), 0.1, requires_grad=True)
    self_evolving_loss(dark).backward()
    assert (dark.grad < 0).all()  # and brightens a too-dark one
    out = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    src = torch.full((1, 3, 8, 8), 0.05)  # mask from a dark input: gamma < 1 -> brighten
    self_evolving_loss(out, src).backward()
    assert (out.grad < 0).all()


def test_self_evolving_total_loss():
    g = torch.Generator().manual_seed(3)
    out = torch.rand(2, 3, 10, 12, generator=g).requires_grad_()
    tgt = torch.rand(2, 3, 10, 12, generator=g)
    crit = SelfEvolvingGammaLoss(lam=0.5)
    loss = crit(out, tgt)
    l1 = (out - tgt).abs().mean()
    assert loss.item() == pytest.approx(l1.item() + 0.5 * self_evolving_loss(out).item(), rel=1e-6)
    loss.backward()
    assert out.grad.abs().sum() > 0
    full = self_evolving_loss(out, detach_target=False)
    full.backward()
    assert torch.isfinite(out.grad).all()
    with pytest.raises(ValueError):
        SelfEvolvingGammaLoss(mask_source="input")(out, tgt)


def test_grids_stay_float32_under_autocast():
    """Under autocast the low-resolution branch runs in float32 (trained VGG features overflow float16
    in the AdaIN statistics); the grids equal the float32 ones."""
    m = _tiny(31).eval()
    x = _ldr(1, 3, 40, 52, seed=32)
    with torch.no_grad():
        ref = m.predict_grids(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            grids = m.predict_grids(x)
            out = m(x)
    assert grids.dtype == torch.float32
    torch.testing.assert_close(grids, ref)
    assert torch.isfinite(out).all()
