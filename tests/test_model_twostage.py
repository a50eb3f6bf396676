"""Two-stage RDAB network and its conditional discriminator."""

from __future__ import annotations

import pytest
import torch

from hdrlift.checkpoint import load_model, save_model
from hdrlift.errors import ModelError
from hdrlift.models import create_model, get_spec
from hdrlift.models.twostage import TwoStageHDR, twostage_receptive_field
from hdrlift.nn.discriminator import TwoStageDiscriminator
from hdrlift.nn.rdab import RDAB, ResidualDenseBlock


def _ldr(h: int, w: int, seed: int = 0, b: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g)


def _tiny(**kw) -> TwoStageHDR:
    torch.manual_seed(0)
    return create_model("twostage_tiny", **kw).eval()  # type: ignore[return-value]


@pytest.mark.parametrize("residual", ["paper", "released"])
def test_full_parameter_counts_match_paper(residual):
    model = create_model("twostage", residual=residual)
    assert model.stage_parameters() == (555_655, 278_821)
    assert model.num_parameters() == 834_476


@pytest.mark.parametrize("residual", ["paper", "released"])
def test_odd_size_shape_finite_nonnegative(residual):
    model = _tiny(residual=residual)
    with torch.no_grad():
        out = model(_ldr(37, 53, b=2))
        s1, s2 = model.forward_stages(_ldr(37, 53, b=2))
    assert out.shape == (2, 3, 37, 53)
    assert torch.isfinite(out).all() and (out >= 0).all()
    assert (s1 >= 0).all() and (s2 >= 0).all()
    torch.testing.assert_close(out, s2 ** 2.24)


def test_stage_two_input_is_detached():
    torch.manual_seed(0)
    model = create_model("twostage_tiny")
    s1, s2 = model.forward_stages(_ldr(16, 16))
    s2.sum().backward()
    assert all(p.grad is None for p in model.stage1.parameters())
    assert all(p.grad is not None for p in model.stage2.parameters())


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    model = create_model("twostage_tiny")
    s1, s2 = model.forward_stages(_ldr(20, 24, seed=2, b=2))
    (s1.abs().mean() + s2.abs().mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_rdab_residual_modes():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 6, 6)
    paper = RDAB(8, 4)
    released = RDAB(8, 4, dense_scale=0.2, outer_scale=0.8)
    released.load_state_dict(paper.state_dict())
    with torch.no_grad():
        c5 = paper.rdb(x) - x  # dense branch of the paper block (scale 1)
        att = paper.attention(x)
        torch.testing.assert_close(paper(x), x + c5 + att)  # eq. 2: R(x) + S(x), R = x + c5
        torch.testing.assert_close(released(x), x + 0.8 * (x + 0.2 * c5) + att, rtol=1e-5, atol=1e-6)
    assert isinstance(paper.rdb, ResidualDenseBlock)
    # attention branch: sigmoid map (B,1,H,W) times a 3x3 conv
    a = paper.attention.attention(x)
    assert a.shape == (1, 1, 6, 6) and ((a > 0) & (a < 1)).all()


def test_residual_modes_give_different_outputs():
    x = _ldr(12, 12, seed=1)
    with torch.no_grad():
        assert not torch.allclose(_tiny()(x), _tiny(residual="released")(x))


def test_checkpoint_round_trip(tmp_path):
    model = _tiny(residual="released")
    save_model(model, tmp_path / "ck")
    loaded = load_model(tmp_path / "ck")
    assert isinstance(loaded, TwoStageHDR) and loaded.hparams == model.hparams
    x = _ldr(23, 17, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_golden_outputs():
    model = _tiny()
    with torch.no_grad():
        s1, s2 = model.forward_stages(_ldr(16, 20, seed=7))
    got = [s1.mean().item(), s2.mean().item(), s1[0, 0, 3, 4].item(), s2[0, 1, 7, 9].item(),
           s2[0, 2, 15, 19].item()]
    assert got == pytest.approx(GOLDEN_TWOSTAGE_TINY, rel=1e-4, abs=1e-5)


def test_receptive_field_claim():
    spec = get_spec("twostage_tiny")
    rf = spec.size.receptive_field
    assert rf == twostage_receptive_field(1, 1) == 12
    assert get_spec("twostage").size.receptive_field == 17
    model = _tiny()
    size, cy, cx = 40, 19, 22
    x = _ldr(size, size, seed=2) * 0.5 + 0.25
    x2 = x.clone()
    x2[0, :, cy, cx] += 0.2
    with torch.no_grad():
        diff = (model(x2) - model(x)).abs().sum(1)[0]
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cheb = torch.maximum((yy - cy).abs(), (xx - cx).abs())
    assert diff[cheb > rf].max() == 0
    assert diff[cheb > rf // 2].max() > 0


def test_bad_hparams_raise():
    with pytest.raises(ModelError):
        create_model("twostage_tiny", residual="esrgan")


# --- discriminator ---------------------------------------------------------------------------------


def test_discriminator_paper_layout():
    d = TwoStageDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 9  # eight 3x3 layers + the 1x1 head
    assert [c.out_channels for c in convs[:8]] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs[:8]] == [2, 1, 2, 1, 2, 1, 2, 1]
    assert all(c.kernel_size == (3, 3) for c in convs[:8]) and convs[8].kernel_size == (1, 1)
    assert convs[0].in_channels == 6  # judged image + condition
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert sum(p.numel() for p in d.parameters()) == 4_687_617


def test_discriminator_conditioning_and_outputs():
    torch.manual_seed(0)
    d = TwoStageDiscriminator(base_channels=16)
    img, cond = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    p = d(img, cond)
    assert p.shape == (2, 1, 2, 3) and ((p > 0) & (p < 1)).all()
    torch.testing.assert_close(p, torch.sigmoid(d.logits(img, cond)))
    other = d.logits(img, torch.rand(2, 3, 32, 48))
    assert (other - d.logits(img, cond)).abs().max() > 1e-6  # the condition matters
    with pytest.raises(ModelError):
        d(img)
    p.mean().backward()
    assert all(q.grad is not None for q in d.parameters())


def test_discriminator_released_layout():
    d = TwoStageDiscriminator(cond_channels=0, stride_on="even", batch_norm=True, global_pool=True)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs[:8]] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 7
    assert sum(p.numel() for p in d.parameters()) == 4_689_601  # "about 4.69 M" of the released code
    assert d(torch.rand(2, 3, 32, 32)).shape == (2, 1, 1, 1)


GOLDEN_TWOSTAGE_TINY = [
    0.5215858817100525, 0.5001867413520813, 0.05165523290634155, 0.3360483646392822, 0.7458416223526001,
]
