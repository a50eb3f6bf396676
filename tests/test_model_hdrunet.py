"""HDRUNet: contract, parameter count, receptive field, checkpoints, official .pth conversion."""

from __future__ import annotations

import re

import pytest
import torch

from hdrlift.checkpoint import load_model, save_model
from hdrlift.errors import ModelError
from hdrlift.models import create_model, get_spec
from hdrlift.models.hdrunet import (
    HDRUNet,
    convert_official_state_dict,
    hdrunet_receptive_field,
    load_official_pth,
    scharr_condition,
)
from hdrlift.nn.sft import SFTLayer


def _ldr(h: int, w: int, seed: int = 0, b: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g)


def _tiny(**kw) -> HDRUNet:
    torch.manual_seed(0)
    return create_model("hdrunet_tiny", **kw).eval()  # type: ignore[return-value]


def test_full_parameter_count_matches_paper_code():
    model = create_model("hdrunet")
    assert model.num_parameters() == 1_651_494
    assert model.arch == "hdrunet"


@pytest.mark.parametrize("condition", ["image", "gradient"])
def test_odd_size_shape_finite_nonnegative(condition):
    model = _tiny(condition=condition)
    with torch.no_grad():
        out = model(_ldr(37, 53, b=2))
    assert out.shape == (2, 3, 37, 53)
    assert torch.isfinite(out).all()
    assert (out >= 0).all()


def test_public_output_is_gamma_decoded_inside_output():
    model = _tiny()
    x = _ldr(20, 28)
    with torch.no_grad():
        h = model.forward_gamma(x)
        out = model(x)
    torch.testing.assert_close(out, h.clamp(min=0) ** 2.24)


def test_output_is_weight_times_input_plus_base():
    """Eq. 2: with the base network's last conv zeroed, H = W(I) * I exactly."""
    model = _tiny()
    with torch.no_grad():
        model.conv_last.weight.zero_()
        model.conv_last.bias.zero_()
        x = _ldr(16, 24)
        torch.testing.assert_close(model.forward_gamma(x), model.weight_net(x) * x)


def test_sft_is_alpha_x_plus_beta():
    layer = SFTLayer(4, 6, 5)
    x, c = torch.randn(2, 6, 5, 7), torch.randn(2, 4, 5, 7)
    alpha, beta = layer.modulation(c)
    assert alpha.shape == x.shape and beta.shape == x.shape  # C x H x W maps (spatially varying)
    torch.testing.assert_close(layer(x, c), alpha * x + beta)
    assert alpha[0, 0].std() > 0  # varies over positions


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    model = create_model("hdrunet_tiny", condition="gradient")
    model.train()
    out = model.forward_gamma(_ldr(24, 32, seed=3, b=2))
    torch.tanh(out).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_checkpoint_round_trip(tmp_path):
    model = _tiny(condition="gradient")
    save_model(model, tmp_path / "ck")
    loaded = load_model(tmp_path / "ck")
    assert isinstance(loaded, HDRUNet) and loaded.hparams == model.hparams
    x = _ldr(21, 19, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_golden_outputs():
    model = _tiny()
    with torch.no_grad():
        out = model.forward_gamma(_ldr(16, 20, seed=7))
    got = [out.mean().item(), out[0, 0, 0, 0].item(), out[0, 1, 7, 9].item(), out[0, 2, 15, 19].item()]
    expected = GOLDEN_HDRUNET_TINY
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_receptive_field_claim():
    spec = get_spec("hdrunet_tiny")
    rf = spec.size.receptive_field
    assert rf == hdrunet_receptive_field([1, 1, 1]) == 32
    assert get_spec("hdrunet").size.receptive_field == 96
    assert spec.size.multiple == 4
    model = _tiny(act="leakyrelu")
    size, cy, cx = 96, 45, 50
    x = _ldr(size, size, seed=2)
    x2 = x.clone()
    x2[0, :, cy, cx] += 0.5
    with torch.no_grad():
        diff = (model.forward_gamma(x2) - model.forward_gamma(x)).abs().sum(1)[0]
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cheb = torch.maximum((yy - cy).abs(), (xx - cx).abs())
    assert diff[cheb > rf].max() == 0
    assert diff[cheb > rf // 2].max() > 0  # the claim is not vacuous


def test_bad_hparams_raise():
    with pytest.raises(ModelError):
        create_model("hdrunet_tiny", condition="edges")
    with pytest.raises(ModelError):
        create_model("hdrunet_tiny", blocks=[1, 1])
    with pytest.raises(ModelError):
        create_model("hdrunet_tiny", act="gelu")


def test_scharr_condition_values():
    x = torch.zeros(1, 3, 8, 8)
    x[..., :, 4:] = 1.0  # vertical edge
    g = scharr_condition(x)
    assert g.shape == x.shape
    assert g[..., 3, 0].max() == 0  # flat region
    assert g[..., 3, 4].min() == pytest.approx(0.5)  # |gx| = 1 after /16 normalisation, gy = 0
    assert float(g.max()) <= 1.0


# --- official checkpoint --------------------------------------------------------------------------

# Independent renaming (hdrlift name -> official chxy95/HDRUNet name), written from the key list of
# reference-code.md 2.1, to fabricate an "official" file.
_TO_OFFICIAL = (
    (r"^weight_net\.", "mask_est."),
    (r"^cond_net\.stem\.", "cond_first."),
    (r"^cond_net\.level(\d)\.", r"CondNet\1."),
    (r"^sft_first\.", "SFT_layer1."),
    (r"^sft_last\.", "SFT_layer2."),
    (r"^hr_conv(\d)\.", r"HR_conv\1."),
    (r"^trunk(\d)\.", r"recon_trunk\1."),
    (r"(scale|shift)_conv(\d)\.", r"SFT_\1_conv\2."),
)


def _official_state_dict(model: HDRUNet) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in model.state_dict().items():
        for pat, rep in _TO_OFFICIAL:
            k = re.sub(pat, rep, k)
        out["module." + k] = v.clone()
    return out


def test_official_layout_names():
    torch.manual_seed(0)
    sd = _official_state_dict(HDRUNet())
    names = {k[len("module."):] for k in sd}
    for expected in [
        "conv_first.weight", "SFT_layer1.SFT_scale_conv0.weight", "SFT_layer1.SFT_shift_conv1.bias",
        "HR_conv1.weight", "down_conv1.weight", "down_conv2.bias", "recon_trunk1.1.conv2.weight",
        "recon_trunk2.7.sft2.SFT_shift_conv1.bias", "recon_trunk3.0.sft1.SFT_scale_conv0.weight",
        "up_conv1.0.weight", "up_conv2.0.bias", "SFT_layer2.SFT_scale_conv1.weight", "HR_conv2.weight",
        "conv_last.weight", "cond_first.0.weight", "cond_first.2.weight", "cond_first.4.bias",
        "CondNet1.0.weight", "CondNet1.2.weight", "CondNet2.0.weight", "CondNet3.2.bias",
        "mask_est.0.weight", "mask_est.2.weight", "mask_est.4.weight", "mask_est.6.bias",
    ]:
        assert expected in names, expected
    assert set(convert_official_state_dict(sd)) == set(HDRUNet().state_dict())


def test_load_official_pth_round_trip(tmp_path):
    torch.manual_seed(3)
    ref = HDRUNet().eval()
    path = tmp_path / "pretrained_model.pth"
    torch.save(_official_state_dict(ref), path)
    model = load_official_pth(path)
    assert model.hparams["nf"] == 64 and model.hparams["blocks"] == [2, 8, 2]
    assert not model.training
    x = _ldr(12, 16, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)


def test_load_official_pth_errors(tmp_path):
    with pytest.raises(ModelError):
        load_official_pth(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelError):
        load_official_pth(bad)
    torch.manual_seed(0)
    sd = _official_state_dict(HDRUNet())
    sd.pop("module.mask_est.0.weight")
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(ModelError):
        load_official_pth(tmp_path / "partial.pth")


GOLDEN_HDRUNET_TINY = [-0.7192609310150146, -1.3562440872192383, -2.073096752166748, 0.7278867959976196]
