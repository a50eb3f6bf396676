"""DuHDR model and its blocks (tiny variants, CPU, seconds)."""

from __future__ import annotations

import pytest
import torch

from hdrlift.errors import ModelError
from hdrlift.models import create_model, get_spec
from hdrlift.models.duhdr import DuHDR
from hdrlift.models.duhdr_parts import CRF_FEATURE_CHANNELS, Dnet, OOnet, crf_features
from hdrlift.nn.resnet import ResNetTrunk
from hdrlift.nn.rfb import MSSE, RFB, RFBDown
from hdrlift.nn.unet import UNetDown, UNetUp


def _nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def tiny() -> DuHDR:
    torch.manual_seed(0)
    return create_model("duhdr_tiny").eval()


def _ldr(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h, w, generator=g)
    x[..., : h // 3, : w // 3] = 1.0  # a clipped corner
    return torch.floor(x * 255 + 0.5) / 255


# -- blocks --------------------------------------------------------------------------------------

def test_resnet18_trunk_matches_standard_count():
    # torchvision resnet18 has 11,689,512 parameters, 513,000 of them in the 1000-class fc
    assert _nparams(ResNetTrunk(3, "basic", [2, 2, 2, 2], 64)) == 11_689_512 - 513_000
    t = ResNetTrunk(CRF_FEATURE_CHANNELS, "bottleneck", [3, 2], 64)
    assert t.out_channels == 512
    assert t(torch.rand(1, CRF_FEATURE_CHANNELS, 40, 40)).shape == (1, 512, 5, 5)
    with pytest.raises(ValueError):
        ResNetTrunk(3, "dense")


def test_dnet_and_oonet_parameter_counts_match_reference():
    assert _nparams(Dnet(16)) == 1_999_779  # reference-code 4.2 (computed from the layer list)
    assert abs(_nparams(OOnet(16)) - 2_550_000) < 20_000  # reference-code 4.5: ~2.55 M


def test_unet_rfb_msse_shapes():
    x = torch.rand(2, 8, 16, 12)
    assert UNetDown(8, 16)(x).shape == (2, 16, 8, 6)
    assert UNetUp(16, 8)(torch.rand(2, 16, 8, 6), x).shape == (2, 8, 16, 12)
    assert RFB(8, 24)(x).shape == (2, 24, 16, 12)
    assert RFBDown(8, 24)(x).shape == (2, 24, 8, 6)
    y = MSSE(8, units=2)(x)
    assert y.shape == x.shape and bool((y >= 0).all())


def test_rfb_batchnorm_follows_train_eval_mode():
    torch.manual_seed(0)
    rfb = RFB(8, 8)
    x = torch.rand(4, 8, 6, 6) * 3 + 1
    before = rfb.shortcut[1].running_mean.clone()
    rfb.train()
    y_train = rfb(x)
    assert not torch.equal(before, rfb.shortcut[1].running_mean)  # statistics update in train mode
    rfb.eval()
    stats = rfb.shortcut[1].running_mean.clone()
    y_eval = rfb(x)
    assert torch.equal(stats, rfb.shortcut[1].running_mean)
    assert not torch.allclose(y_train, y_eval)


def test_crf_features_layout():
    x = torch.zeros(1, 3, 5, 6)
    x[..., 3:] = 1.0
    f = crf_features(x)
    assert f.shape == (1, 102, 5, 6)
    assert torch.equal(f[:, :3], x)
    assert f[0, 4, 2, 2] > 0 and f[0, 3, 2, 2] == 0  # d/dx of channel 0 at the step, d/dy zero
    # 4-bin soft histogram of channel 0: value 0 -> bin 0 only, value 1 -> bin 4 only
    h4 = f[0, 9:14]
    assert h4[0, 0, 0] == 1 and h4[4, 0, 0] == 0 and h4[4, 0, 5] == 1


# -- model ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(1, 17, 23), (2, 40, 33), (1, 64, 64)])
def test_forward_shapes_finite_nonnegative(tiny, size):
    b, h, w = size
    with torch.no_grad():
        out = tiny(_ldr(b, h, w))
    assert out.shape == (b, 3, h, w)
    assert torch.isfinite(out).all() and bool((out >= 0).all())


def test_forward_all_intermediates(tiny):
    with torch.no_grad():
        d = tiny.forward_all(_ldr(2, 33, 45))
    assert set(d) == {"dequantized", "icrf", "linear", "mask", "hallucinated", "hdr"}
    assert d["icrf"].shape == (2, 1024)
    for k in ("dequantized", "linear", "mask"):
        assert d[k].shape == (2, 3, 33, 45) and d[k].min() >= 0 and d[k].max() <= 1
    assert bool((d["hallucinated"] >= d["linear"]).all())
    assert bool(((d["hallucinated"] > d["linear"]) <= (d["mask"] > 0)).all())  # only masked pixels grow
    assert d["hallucinated"].max() > 1.0


def test_curves_monotonic_with_fixed_ends(tiny):
    ldr = _ldr(2, 32, 40)
    with torch.no_grad():
        for curve in (tiny.estimate_crf(ldr), tiny.nonlinearize(ldr)[1]):
            assert curve.shape == (2, 1024)
            assert bool((curve[:, 1:] >= curve[:, :-1]).all())
            assert torch.allclose(curve[:, 0], torch.zeros(2)) and torch.allclose(curve[:, -1], torch.ones(2))


def test_forward_with_estimated_crf_is_identical(tiny):
    ldr = _ldr(2, 37, 29, seed=3)
    with torch.no_grad():
        a = tiny(ldr)
        b = tiny(ldr, crf=tiny.estimate_crf(ldr))
        # a curve estimated on a downsampled copy is accepted too (tiling)
        c = tiny(ldr, crf=tiny.estimate_crf(ldr[..., ::2, ::2]))
    assert torch.equal(a, b)
    assert c.shape == a.shape


def test_checkpoint_round_trip_identical(tiny, tmp_path):
    from hdrlift.checkpoint import load_model, save_model

    save_model(tiny, tmp_path / "ck")
    back = load_model(tmp_path / "ck")
    assert isinstance(back, DuHDR) and back.hparams == tiny.hparams
    sa, sb = tiny.state_dict(), back.state_dict()
    assert set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert "innet.basis" in sa and "nnet.mean" in sa  # CRF basis travels with the weights
    ldr = _ldr(1, 35, 41)
    with torch.no_grad():
        assert torch.equal(tiny(ldr), back(ldr))


def test_golden_output_fixed_seed():
    torch.manual_seed(1234)
    m = create_model("duhdr_tiny").eval()
    # fixed bases so the golden values do not depend on hdrlift.degrade's basis construction
    grid = torch.linspace(0, 1, 1024)
    basis = torch.stack([torch.sin(torch.pi * (i + 1) * grid) * 0.05 for i in range(11)])
    with torch.no_grad():
        m.innet.mean.copy_(grid**2.2)
        m.innet.basis.copy_(basis)
        m.nnet.mean.copy_(grid ** (1 / 2.2))
        m.nnet.basis.copy_(basis)
        out = m.forward_all(_ldr(1, 32, 32, seed=7))
    got = [float(out[k].mean()) for k in ("dequantized", "linear", "hallucinated", "hdr")]
    got += [float(out["hallucinated"].max()), float(out["hdr"][0, :, 5, 7].sum())]
    want = GOLDEN
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


# means of I_n, B, H, H_OO; max of H; one output pixel (recorded with torch 2.x, CPU, float32); Dnet starts
# as the identity (session 6), so I_n's mean is the input's
GOLDEN = [0.5502068, 0.397313, 0.5067443, 0.5136462, 2.5139499, 6.1228232]


def test_options_and_registry():
    spec = get_spec("duhdr")
    assert spec.size.multiple == 32 and "estimate_crf" in spec.size.global_context
    torch.manual_seed(0)
    m = create_model("duhdr_tiny", it_mask="max", oo_inputs="released", it_alpha=0.88,
                     crf_block="bottleneck", crf_layers=[1, 1]).eval()
    with torch.no_grad():
        d = m.forward_all(_ldr(1, 32, 32))
    assert d["mask"].shape == (1, 1, 32, 32) and bool((d["hdr"] >= 0).all())
    with pytest.raises(ModelError):
        create_model("duhdr_tiny", oo_inputs="bogus")
    with pytest.raises(ModelError):
        create_model("duhdr_tiny", it_mask="bogus")


def test_itnet_vgg_weights_loading(tmp_path):
    from safetensors.torch import save_file

    from hdrlift.nn.vgg import VGGFeatures

    torch.manual_seed(0)
    vgg = VGGFeatures("vgg16", outputs=("relu5_3",))
    save_file({f"features.{k}": v.contiguous() for k, v in vgg.features.state_dict().items()},
              str(tmp_path / "vgg16.safetensors"))
    m = create_model("duhdr_tiny", it_width=64)
    m.load_itnet_vgg_weights(str(tmp_path / "vgg16.safetensors"))
    assert torch.equal(m.itnet.sae.encoder[28].weight, vgg.features[28].weight)
    with pytest.raises(ModelError):
        create_model("duhdr_tiny").load_itnet_vgg_weights(str(tmp_path / "vgg16.safetensors"))


def test_cpu_predictor_runs_channels_last_with_equal_output():
    """The Predictor converts duhdr's weights to channels-last on the CPU (cpu_channels_last); the
    output equals the NCHW model's (same arithmetic, other memory layout)."""
    from hdrlift.inference.methods import Method
    from hdrlift.inference.predictor import Predictor

    torch.manual_seed(0)
    model = create_model("duhdr_tiny").eval()
    x = _ldr(1, 64, 96, seed=3)
    with torch.inference_mode():
        ref = model(x)
    assert DuHDR.cpu_channels_last
    pred = Predictor(Method(name="t", kind="network", fn=model, model=model), device="cpu", tile=0)
    conv = model.itnet.sae.encoder[2]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    with torch.inference_mode():
        out = pred.predict_tensor(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
