"""Generic losses: values, gradient sign (a step along -grad lowers the loss), variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hdrlift.metrics as M
from hdrlift.losses import (
    ColorLoss,
    GANLoss,
    L1Loss,
    MSSSIMLoss,
    TanhL1Loss,
    VGGPerceptualLoss,
    clipped_log_loss,
    delta_e_loss,
    generator_bce_loss,
    l1_loss,
    ms_ssim_loss,
    mu_l1_loss,
    mu_loss,
    mu_psnr_loss,
    tanh_l1_loss,
)
from hdrlift.metrics.ssim import MS_SSIM_WEIGHTS, ssim_components


def _pair(shape=(2, 3, 24, 24), seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g) * scale
    pred = (target + 0.2 * scale * torch.randn(shape, generator=g)).clamp(min=0.0)
    return pred, target


def _descends(loss_fn, pred, target, step=1e-2) -> None:
    """Gradient is finite, non-zero, and a small normalised step along -grad lowers the loss."""
    x = pred.clone().requires_grad_(True)
    loss = loss_fn(x, target)
    loss.backward()
    g = x.grad
    assert torch.isfinite(g).all()
    assert g.abs().sum() > 0
    with torch.no_grad():
        after = loss_fn(x - step * g / g.abs().max(), target)
    assert after < loss, (float(after), float(loss))


def test_tanh_l1_matches_formula_and_descends():
    pred, target = _pair(scale=4.0)
    expected = torch.mean(torch.abs(torch.tanh(pred) - torch.tanh(target)))
    torch.testing.assert_close(tanh_l1_loss(pred, target), expected)
    torch.testing.assert_close(TanhL1Loss()(pred, target), expected)
    _descends(tanh_l1_loss, pred, target)


def test_mu_l1_is_the_metric_tone_curve_per_sample_and_weights_darks():
    from hdrlift.metrics.ntire import ntire_mu_norm, ntire_mu_tonemap

    pred, target = _pair(shape=(2, 3, 16, 16), scale=3.0)
    target[1] *= 20.0  # a second sample with another scale: its own normaliser
    pred[1] *= 20.0
    expected = np.mean([
        np.abs(ntire_mu_tonemap(pred[i].numpy(), ntire_mu_norm(target[i].numpy()))
               - ntire_mu_tonemap(target[i].numpy(), ntire_mu_norm(target[i].numpy()))).mean()
        for i in range(2)
    ])
    np.testing.assert_allclose(float(mu_l1_loss(pred, target)), expected, rtol=1e-4)
    assert float(mu_l1_loss(target, target)) == 0.0
    _descends(mu_l1_loss, pred, target)
    # a 50% error on dark pixels: invisible to Tanh-L1, large in the mu-law domain
    t = torch.full((1, 3, 8, 8), 1.0)
    t[..., :4, :] = 0.002
    p = t.clone()
    p[..., :4, :] *= 1.5
    assert float(tanh_l1_loss(p, t)) < 1e-3 < 0.02 < float(mu_l1_loss(p, t))


def test_mu_psnr_loss_is_minus_the_mean_per_sample_psnr_mu():
    from hdrlift.errors import ConfigError
    from hdrlift.metrics.ntire import psnr_mu

    pred, target = _pair(shape=(3, 3, 16, 16), scale=3.0)
    pred[0] = target[0] * 1.01  # an easy sample (~50 dB) next to two hard ones (~20 dB)
    per = [psnr_mu(target[i].permute(1, 2, 0).numpy(), pred[i].permute(1, 2, 0).numpy()) for i in range(3)]
    got = float(mu_psnr_loss(pred, target, floor_db=200.0))
    np.testing.assert_allclose(got, -np.mean(per), atol=0.02)
    # the floor caps a perfect sample at floor_db instead of -inf
    assert float(mu_psnr_loss(target, target)) == pytest.approx(-50.0, abs=1e-3)
    _descends(mu_psnr_loss, pred, target, step=1e-4)  # the easy sample steers: small steps
    # unlike a batch-wide L1, the easy sample's error carries as much weight as the hard ones'
    x = pred.clone().requires_grad_(True)
    mu_psnr_loss(x, target).backward()
    g_psnr = x.grad.abs().flatten(1).sum(1)
    x.grad = None
    mu_l1_loss(x, target).backward()
    g_l1 = x.grad.abs().flatten(1).sum(1)
    assert g_psnr[0] / g_psnr[1:].mean() > 5 * (g_l1[0] / g_l1[1:].mean())
    assert float(mu_loss(pred, target, "psnr")) == float(mu_psnr_loss(pred, target))
    assert float(mu_loss(pred, target, "l1")) == float(mu_l1_loss(pred, target))
    with pytest.raises(ConfigError, match="mu_kind"):
        mu_loss(pred, target, "l2")


def test_clipped_log_loss_is_huber_of_log2_luminance_on_the_clipped_pixels_only():
    from hdrlift.errors import ConfigError

    torch.manual_seed(0)
    target = torch.rand(3, 3, 8, 8) * 4 + 0.1
    ldr = torch.rand(3, 3, 8, 8) * 0.9
    ldr[0, :, :4] = 1.0  # sample 0: top half clipped
    ldr[1, 1, :, :2] = 0.995  # sample 1: two columns clipped in one channel (the max channel decides)
    # sample 2: no clipped pixel: it does not count
    m = ldr.amax(1, keepdim=True) >= 0.99
    assert float(clipped_log_loss(target, target, ldr)) == 0.0
    # one stop too bright on the clipped pixels (and anything on the others) -> 0.5 * 1 ** 2
    pred = torch.where(m, target * 2.0, target * 7.0)
    assert float(clipped_log_loss(pred, target, ldr)) == pytest.approx(0.5, abs=1e-3)
    # beyond delta it is linear: 3 stops too dark with delta 2 -> 2 * (3 - 1)
    pred = torch.where(m, target / 8.0, target)
    assert float(clipped_log_loss(pred, target, ldr, delta=2.0)) == pytest.approx(4.0, abs=1e-2)
    # samples weigh equally, whatever their number of clipped pixels: 1 stop on sample 0, 0 on sample 1 -> 0.25
    pred = target.clone()
    pred[0] = torch.where(m[0], target[0] * 2.0, target[0])
    assert float(clipped_log_loss(pred, target, ldr)) == pytest.approx(0.25, abs=1e-3)
    # no clipped pixel anywhere: 0, finite, and no gradient
    x = (target * 3).requires_grad_(True)
    loss = clipped_log_loss(x, target, ldr * 0.5)
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(x.grad.abs().sum()) == 0.0
    # the gradient reaches the clipped pixels only, and descends
    x = (target * 0.5).requires_grad_(True)
    clipped_log_loss(x, target, ldr).backward()
    g = x.grad.abs().sum(1, keepdim=True)
    assert float(g[~m].sum()) == 0.0 and float(g[m].min()) > 0
    _descends(lambda p, t: clipped_log_loss(p, t, ldr), target * 0.5, target, step=0.05)
    with pytest.raises(ConfigError, match="clip_delta"):
        clipped_log_loss(target, target, ldr, delta=0.0)


def test_l1_and_masked_l1():
    pred, target = _pair()
    torch.testing.assert_close(l1_loss(pred, target), (pred - target).abs().mean())
    mask = torch.zeros(2, 1, 24, 24)
    mask[..., :12] = 1.0
    wrong = pred.clone()
    wrong[..., 12:] += 5.0  # outside the mask: ignored
    torch.testing.assert_close(L1Loss()(wrong, target, mask), l1_loss(pred, target, mask))
    _descends(l1_loss, pred, target)
    _descends(lambda p, t: l1_loss(p, t, mask), pred, target)


@pytest.mark.parametrize("variant", ["standard", "twostage_release"])
def test_msssim_loss_descends_and_is_zero_on_identity(variant):
    pred, target = _pair(shape=(2, 3, 48, 48))
    loss = MSSSIMLoss(variant=variant)
    assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(pred, target)) > 0.0
    _descends(loss, pred, target, step=2e-2)


def test_msssim_standard_matches_metric():
    pred, target = _pair(shape=(1, 3, 64, 64), seed=3)
    value = 1.0 - float(ms_ssim_loss(pred.double(), target.double()))
    hwc = lambda t: t[0].permute(1, 2, 0).double().numpy()  # noqa: E731
    assert value == pytest.approx(M.ms_ssim(hwc(target), hwc(pred)), abs=1e-10)


def test_msssim_release_variant_formula():
    pred, target = _pair(shape=(2, 3, 128, 128), seed=4)
    w = MS_SSIM_WEIGHTS
    sims, css, x, y = [], [], pred.double(), target.double()
    for _ in range(5):
        s, cs = ssim_components(x, y, 1.0, odd_window=False)
        sims.append((float(s.mean()) + 1) / 2)
        css.append((float(cs.mean()) + 1) / 2)
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    expected = float(np.prod([css[j] ** w[j] * sims[4] ** w[4] for j in range(4)]))
    got = 1.0 - float(ms_ssim_loss(pred.double(), target.double(), data_range=None, variant="twostage_release"))
    assert got == pytest.approx(expected, rel=1e-10)
    standard = 1.0 - float(ms_ssim_loss(pred.double(), target.double()))
    assert abs(got - standard) > 1e-4  # the bug matters
    with pytest.raises(ValueError):
        ms_ssim_loss(pred, target, variant="nope")


@pytest.mark.parametrize("domain", ["srgb", "gamma", "linear"])
def test_color_loss_descends_and_has_delta_e_gradient(domain):
    pred, target = _pair(shape=(1, 3, 12, 12), scale=1.5)
    loss = ColorLoss(domain=domain)
    _descends(loss, pred, target, step=5e-3)
    # the ΔE term alone carries gradient (the release's term did not)
    x = pred.clone().requires_grad_(True)
    delta_e_loss(x, target, domain).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert float(loss(target, target)) < 1e-4


def test_color_loss_is_l1_plus_delta_e():
    pred, target = _pair(shape=(1, 3, 8, 8))
    total = ColorLoss(delta_e_weight=0.5)(pred, target)
    expected = (pred - target).abs().mean() + 0.5 * delta_e_loss(pred, target)
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(ColorLoss(delta_e_weight=0.0)(pred, target), (pred - target).abs().mean())


@pytest.mark.parametrize("logits", [False, True])
def test_gan_generator_loss_descends(logits):
    g = torch.Generator().manual_seed(0)
    d_out = torch.randn(4, 1, 3, 3, generator=g)
    if not logits:
        d_out = torch.sigmoid(d_out)
    gan = GANLoss(logits=logits)
    expected = -torch.log(torch.sigmoid(d_out) if logits else d_out).mean()
    torch.testing.assert_close(gan.generator_loss(d_out), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(generator_bce_loss(d_out, logits), expected, rtol=1e-5, atol=1e-6)
    # moving D(fake) along -grad (towards "real") lowers the generator loss
    x = d_out.clone().requires_grad_(True)
    loss = gan(x)
    loss.backward()
    assert (x.grad < 0).all()
    with torch.no_grad():
        assert gan(x - 1e-3 * x.grad / x.grad.abs().max()) < loss


def test_gan_discriminator_loss_and_labels():
    gen = torch.Generator().manual_seed(1)
    d_real = torch.full((8, 1), 0.6, requires_grad=True)
    d_fake = torch.full((8, 1), 0.4, requires_grad=True)
    gan = GANLoss()
    loss = gan.discriminator_loss(d_real, d_fake)
    expected = -(torch.log(torch.tensor(0.6)) + torch.log(torch.tensor(0.6)))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert (d_real.grad < 0).all() and (d_fake.grad > 0).all()  # push real up, fake down
    noisy = GANLoss(label_mode="noisy")
    lab_r = noisy.labels(torch.zeros(1000), True, torch.Generator().manual_seed(5))
    lab_f = noisy.labels(torch.zeros(1000), False, torch.Generator().manual_seed(5))
    assert 0.7 <= float(lab_r.min()) and float(lab_r.max()) < 1.2 and float(lab_r.max()) > 1.0
    assert 0.0 <= float(lab_f.min()) and float(lab_f.max()) < 0.3
    torch.testing.assert_close(lab_r, noisy.labels(torch.zeros(1000), True, torch.Generator().manual_seed(5)))
    v = noisy.discriminator_loss(torch.full((8, 1), 0.9), torch.full((8, 1), 0.1), gen)
    assert torch.isfinite(v)
    with pytest.raises(ValueError, match="Generator"):
        noisy.discriminator_loss(d_real, d_fake)
    soft = GANLoss(label_mode="soft", real_label=0.9)
    torch.testing.assert_close(soft.labels(torch.zeros(3), True), torch.full((3,), 0.9))


def test_vgg_perceptual_loss_descends_and_masks():
    torch.manual_seed(0)  # random VGG init only (no weights file in tests)
    pred, target = _pair(shape=(1, 3, 32, 32), seed=6)
    for norm in ("l1", "l2"):
        loss = VGGPerceptualLoss(arch="vgg16", layers=("relu1_2", "relu2_2"), norm=norm)
        assert not any(p.requires_grad for p in loss.parameters())
        assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-7)
        _descends(loss, pred, target, step=1e-2)
    shallow = VGGPerceptualLoss(arch="vgg16", layers=("relu1_2",))
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16] = 1.0
    changed = target.clone()
    changed[..., 24:] += 0.5  # far outside the mask (relu1_2 sees 5x5 pixels)
    assert float(shallow(changed, target, mask)) == pytest.approx(0.0, abs=1e-7)
    assert float(shallow(changed, target)) > 0.0
    _descends(lambda p, t: shallow(p, t, mask), pred, target)
    with pytest.raises(ValueError):
        VGGPerceptualLoss(norm="l3")
