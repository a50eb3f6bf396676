"""Pixel losses (torch): L1 (optionally masked), the Tanh-L1 of HDRUNet and the NTIRE mu-law L1 / PSNR.

HDRUNet (Chen et al., CVPRW 2021, Eq. 3) trains in the NTIRE gamma-2.24 domain with
``L = mean |tanh(Y_hat) - tanh(Y)|``: tanh compresses the unbounded HDR values so that bright
highlights do not dominate the loss, while staying linear-like for the well-exposed range.
"""

from __future__ import annotations

import torch
from torch import nn

from hdrlift.errors import ConfigError
from hdrlift.metrics.ntire import NTIRE_MU, NTIRE_PERCENTILE
from hdrlift.ops.transfer import mu_law_tanh_norm


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, or its mask-weighted mean (``sum(m |p - t|) / sum(m)``, mask broadcast).

    Domain: any (both tensors in the same domain).

    Shape:
        (B, C, H, W), (B, C, H, W), optional mask broadcastable to them -> ()
    """
    diff = (pred - target).abs()
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype).expand_as(diff)
    return (diff * m).sum() / m.sum().clamp(min=1e-8)


def tanh_l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """HDRUNet's Tanh-L1: ``mean |tanh(pred) - tanh(target)|``.

    Domain: HDR in the NTIRE gamma-2.24 domain (HDRUNet's output space), values >= 0.

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    return (torch.tanh(pred) - torch.tanh(target)).abs().mean()


def _ntire_norm(target_lin: torch.Tensor, percentile: float) -> torch.Tensor:
    """Per-sample NTIRE normaliser ``n``: the ``percentile`` of each target sample (no gradient).

    Shape:
        (B, ...) -> (B, 1, ..., 1)
    """
    with torch.no_grad():
        flat = target_lin.detach().flatten(1).float()
        if flat.shape[1] > 1 << 24:  # torch.quantile's size limit: subsample
            flat = flat[:, :: flat.shape[1] // (1 << 23) + 1]
        n = torch.quantile(flat, percentile / 100.0, dim=1).clamp(min=1e-6)
        return n.to(target_lin.dtype).view(-1, *([1] * (target_lin.dim() - 1)))


def mu_l1_loss(
    pred_lin: torch.Tensor,
    target_lin: torch.Tensor,
    mu: float = NTIRE_MU,
    percentile: float = NTIRE_PERCENTILE,
) -> torch.Tensor:
    """L1 between the NTIRE PSNR-mu tone curves of prediction and target (the metric's own domain).

    :func:`~hdrlift.ops.transfer.mu_law_tanh_norm` with ``n`` the ``percentile`` of each target sample
    (over its channels and pixels, no gradient), as :func:`hdrlift.metrics.ntire.psnr_mu` per sample.
    Nearly logarithmic, it weights relative errors in the dark and mid tones as PSNR-mu does; a
    linear-domain L1 (or Tanh-L1) all but ignores them.

    Domain: linear HDR (1.0 = clipping level), values >= 0 (negative predictions are clamped).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    n = _ntire_norm(target_lin, percentile)
    return (mu_law_tanh_norm(pred_lin, n, mu) - mu_law_tanh_norm(target_lin, n, mu)).abs().mean()


def mu_psnr_loss(
    pred_lin: torch.Tensor,
    target_lin: torch.Tensor,
    mu: float = NTIRE_MU,
    percentile: float = NTIRE_PERCENTILE,
    floor_db: float = 50.0,
) -> torch.Tensor:
    """Negative mean per-sample PSNR-mu in dB: ``mean_b 10 log10(MSE_b + 10^(-floor_db/10))``.

    The NTIRE score averages PSNR-mu over images, i.e. the *logarithm* of each image's error: a sample
    that linearisation already gets right (an sRGB camera, little noise) counts as much as a hard one,
    and losing 10 dB there costs as much as gaining 10 dB on a hard one. An L1 or MSE averaged over the
    batch weights samples by their absolute error instead (hard samples dominate). The tone curve and
    ``n`` are those of :func:`mu_l1_loss`; ``floor_db`` caps the reward of a near-perfect sample
    (the log's gradient grows as its error vanishes).

    Domain: linear HDR (1.0 = clipping level), values >= 0 (negative predictions are clamped).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    n = _ntire_norm(target_lin, percentile)
    d = mu_law_tanh_norm(pred_lin, n, mu) - mu_law_tanh_norm(target_lin, n, mu)
    mse = d.square().flatten(1).mean(dim=1)
    return (10.0 * torch.log10(mse + 10.0 ** (-floor_db / 10.0))).mean()


def mu_loss(pred_lin: torch.Tensor, target_lin: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The recipes' PSNR-mu-domain term: ``kind`` ``"l1"`` (:func:`mu_l1_loss`) or ``"psnr"``
    (:func:`mu_psnr_loss`).

    Domain: linear HDR (1.0 = clipping level).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """
    if kind == "l1":
        return mu_l1_loss(pred_lin, target_lin)
    if kind == "psnr":
        return mu_psnr_loss(pred_lin, target_lin)
    raise ConfigError(f"loss.mu_kind must be 'l1' or 'psnr', got {kind!r}")


def clipped_log_loss(pred_lin: torch.Tensor, target_lin: torch.Tensor, ldr: torch.Tensor,
                     threshold: float = 0.99, delta: float = 2.0) -> torch.Tensor:
    """Huber loss on the log2 luminance of the input's clipped pixels (this project's highlight term).

    A pixel is clipped where the input's largest channel is at least ``threshold`` (the suite's rule).
    Per sample the Huber loss (quadratic within ``delta`` stops, linear beyond) of ``log2 Y_pred - log2
    Y_target`` is averaged over its clipped pixels; samples without clipped pixels do not count (0 when
    none has any). Near-quadratic, it aims at the conditional *mean* of the log level, which the clipped
    error (an RMSE in stops) rewards; the papers' L1 / Tanh-L1 in the gamma domain aim at the median, or
    saturate above a few stops.

    Domain: ``pred_lin`` / ``target_lin`` linear HDR (1.0 = clipping level), ``ldr`` the sRGB-encoded
    input in [0, 1].

    Shape:
        (B, 3, H, W), (B, 3, H, W), (B, 3, H, W) -> ()
    """
    if delta <= 0:
        raise ConfigError(f"loss.clip_delta must be > 0, got {delta}")
    from hdrlift.ops.transfer import luminance

    eps = 1e-4
    yp = luminance(pred_lin.clamp(min=0.0))[:, 0]
    yt = luminance(target_lin.clamp(min=0.0))[:, 0]
    d = torch.log2(yp + eps) - torch.log2(yt + eps)
    m = (ldr.amax(1) >= threshold).to(d.dtype)
    a = d.abs()
    hub = torch.where(a <= delta, 0.5 * d.square(), delta * (a - 0.5 * delta))
    n = m.flatten(1).sum(1)
    per = (hub * m).flatten(1).sum(1) / n.clamp(min=1.0)
    has = (n > 0).to(d.dtype)
    return (per * has).sum() / has.sum().clamp(min=1.0)


class L1Loss(nn.Module):
    """Module form of :func:`l1_loss` (optional mask in ``forward``).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return l1_loss(pred, target, mask)


class TanhL1Loss(nn.Module):
    """Module form of :func:`tanh_l1_loss` (HDRUNet, NTIRE gamma-2.24 domain).

    Shape:
        (B, C, H, W), (B, C, H, W) -> ()
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return tanh_l1_loss(pred, target)
