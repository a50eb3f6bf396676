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
        m.chunk_pixels = 48 * 5  # row chunks with a receptive-field halo are exact
        torch.testing.assert_close(m.apply_grids(x, grids), full, rtol=1e-5, atol=1e-5)


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


# --------------------------------------------------------------------------- fused CPU inference path
def _randomise_bn(m: UHDBilateral, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(n, generator=g) - 0.5)


def _has_native() -> bool:
    from hdrlift.nn import native

    return native.load("uhd_fullres") is not None


@pytest.mark.parametrize("use_native", [False, True], ids=["torch", "native"])
@pytest.mark.parametrize("name,size", [("uhd_bilateral_tiny", (45, 70)), ("uhd_bilateral", (37, 300))])
def test_fast_inference_equals_straightforward_graph(name, size, use_native):
    if use_native and not _has_native():
        pytest.skip("no C compiler: the native kernel is unavailable (the torch kernels are used)")
    torch.manual_seed(11)
    m = create_model(name).eval()
    _randomise_bn(m, 12)
    m.native = use_native
    m.fast_tile = (16, 32)  # several tiles, uneven last ones, halos inside the image
    m.native_tile = (8, 48)
    if use_native:  # the torch tile kernel must not run: every region goes through the native kernel
        m._fast_tile = None
    x = _ldr(2, 3, *size, seed=13)
    with torch.enable_grad():  # the plain module graph (eval BatchNorm, no row chunks)
        grids_ref = m.predict_grids(x)
        ref = m.apply_grids(x, grids_ref).detach()
        ref_inner = m.apply_grids_inner(x, grids_ref).detach()
        grids_ref = grids_ref.detach()
    with torch.no_grad():
        assert m._use_fast(x)
        # full-resolution part with the same grids: exact up to float rounding
        torch.testing.assert_close(m.apply_grids(x, grids_ref), ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
        torch.testing.assert_close(m.apply_grids_inner(x, grids_ref), ref_inner, rtol=1e-5, atol=1e-6)
        r0, c0 = 5, 9  # a tile of the image with its offset: the fused path is tile-exact too
        crop = m.apply_grids(x[..., r0:, c0:], grids_ref, (r0, c0), size)
        rf = m.receptive_field
        torch.testing.assert_close(crop[..., rf:, rf:], ref[..., r0 + rf:, c0 + rf:], rtol=1e-5,
                                   atol=1e-5 * ref.abs().max().item())
        # grids: identical (in-place ReLUs only); the channels-last VGG option changes float rounding
        assert torch.equal(m.predict_grids(x), grids_ref)
        out = m(x)
        m.vgg_channels_last = True
        torch.testing.assert_close(m.predict_grids(x), grids_ref, rtol=0, atol=1e-3 * grids_ref.abs().max().item())
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


def test_native_kernel_reads_and_writes_strided_hwc_views():
    """The native kernel takes (3, H, W) views of HWC arrays (the Predictor's input and result) and
    gives the same numbers as on planar tensors."""
    if not _has_native():
        pytest.skip("no C compiler: the native kernel is unavailable (the torch kernels are used)")
    from hdrlift.nn import native

    torch.manual_seed(21)
    m = create_model("uhd_bilateral_tiny").eval()
    _randomise_bn(m, 22)
    hwc = _ldr(1, 3, 29, 53, seed=23)[0].permute(1, 2, 0).contiguous()  # (H, W, 3) storage
    x = hwc.permute(2, 0, 1)  # strided view
    assert not x.is_contiguous()
    with torch.no_grad():
        grids = m.predict_grids(x[None])[0]
    args = (grids, m._fused_params(), (0, 0), (29, 53))
    planar = torch.empty(3, 29, 53)
    res = torch.full((29, 53, 3), float("nan"))
    scale = math.log1p(m.hdr_mu * m.hdr_max)
    assert native.uhd_fullres(x.contiguous(), *args, planar, True, scale, m.hdr_mu, (8, 24))
    assert native.uhd_fullres(x, *args, res.permute(2, 0, 1), True, scale, m.hdr_mu, (8, 24))
    assert torch.equal(res.permute(2, 0, 1), planar)
    with pytest.raises(ValueError, match="out must be"):
        native.uhd_fullres(x, *args, torch.empty(3, 29, 52), True, scale, m.hdr_mu)


def test_predictor_hands_its_result_buffer_to_models_that_accept_out(monkeypatch):
    """On the CPU, uhd_bilateral (``accepts_out``) writes the HWC result in place: no planar copy."""
    import numpy as np

    from hdrlift.inference.methods import Method
    from hdrlift.inference.predictor import Predictor

    m = _tiny(24).eval()
    img = _ldr(1, 3, 31, 40, seed=25)[0].permute(1, 2, 0).contiguous().numpy()
    with torch.no_grad():
        ref = m(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous())[0].permute(1, 2, 0).numpy()
    seen = []
    forward = UHDBilateral.forward

    def spy(self, ldr, out=None):
        seen.append(out)
        return forward(self, ldr, out=out)

    monkeypatch.setattr(UHDBilateral, "forward", spy)
    pred = Predictor(Method(name="t", kind="network", fn=m, model=m), device="cpu", tile=0, precision="fp32")
    res = pred(img)
    assert len(seen) == 1 and seen[0] is not None and not seen[0].is_contiguous()
    assert np.shares_memory(seen[0].numpy(), res)  # the result array itself, as a (1, 3, H, W) view
    np.testing.assert_allclose(res, np.maximum(ref, 0), rtol=1e-5, atol=1e-6)


def test_fast_path_only_in_no_grad_eval_and_training_still_differentiable():
    m = _tiny(14)
    x = _ldr(1, 3, 20, 24, seed=15)
    assert not m._use_fast(x)  # training mode
    m.eval()
    assert not m._use_fast(x)  # gradients enabled
    with torch.no_grad():
        assert m._use_fast(x)
        m.fast_inference = False
        assert not m._use_fast(x)
    m.train()
    out = m.forward_inner(x)
    out.mean().backward()
    assert m.fuse_blocks[0].block[0].weight.grad.abs().sum() > 0
    assert m.guide_content.conv1.weight.grad.abs().sum() > 0


def test_fused_params_keep_state_dict_keys():
    m = _tiny(16)
    keys = {k: v.shape for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.eval()(_ldr(1, 3, 9, 11))
    assert {k: v.shape for k, v in m.state_dict().items()} == keys


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


def test_bf16_vgg_trunk_close_to_float32_and_follows_weight_updates():
    """``vgg_dtype = bfloat16`` runs a converted copy of the VGG trunk; the copy is rebuilt when the
    weights change (e.g. validation during training), and grids stay close to float32 ones."""
    m = _tiny(41).eval()
    x = _ldr(1, 3, 48, 64, seed=42)
    with torch.no_grad():
        ref = m.predict_grids(x)
        m.use_cpu_bf16(True)
        low = m.predict_grids(x)
        assert low.dtype == torch.float32 and not torch.equal(low, ref)
        torch.testing.assert_close(low, ref, rtol=0.05, atol=0.05 * ref.abs().max().item())
        first = m._vgg_layers()
        assert m._vgg_layers() is first  # cached while the weights do not change
        m.vgg.features[0].weight.mul_(1.5)
        assert m._vgg_layers() is not first
        changed = m.predict_grids(x)
        m.use_cpu_bf16(False)
        ref2 = m.predict_grids(x)
    torch.testing.assert_close(changed, ref2, rtol=0.05, atol=0.05 * ref2.abs().max().item())
    assert "_vgg_lowp" not in "".join(m.state_dict())


@pytest.mark.parametrize("chunk", [1 << 30, 200])
def test_folded_eval_path_equals_module_graph(chunk):
    """Eval without autograd off the CPU fast path (the GPU's path: BatchNorms folded, NCHW convs),
    whole and in row chunks with a halo, equals the module graph."""
    torch.manual_seed(51)
    m = create_model("uhd_bilateral_tiny").eval()
    _randomise_bn(m, 52)
    m.fast_inference = False
    m.chunk_pixels = chunk
    x = _ldr(2, 3, 23, 37, seed=53)
    with torch.enable_grad():
        ref = m(x).detach()
    with torch.no_grad():
        calls = []
        orig = m._folded_full_res
        m._folded_full_res = lambda *a: calls.append(1) or orig(*a)
        out = m(x)
    assert calls and (len(calls) > 1) == (chunk < 23 * 37)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
