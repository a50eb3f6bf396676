"""DuHDR losses (She et al. 2023, Eq. 4-25) and the secondary (dual) operators C and Q.

Data conventions: ``ldr`` (B, 3, H, W) is the 8-bit LDR input in [0, 1]; ``hdr`` is the matching
linear HDR in clipping-level units (``hdr = 1`` where the camera clipped, i.e. already multiplied by
the exposure that made ``ldr``), so ``C(hdr) = min(1, hdr)`` is the clipped linear image.
``||a - b||^2`` of the paper is implemented as the mean squared error (mean over elements).

Secondary operators: ``truncate`` = C (hard clip to [0, 1]; ``mode="guided"`` = the released code's
guided-filter truncation, He et al. 2013); ``quantize_ste`` = Q (Eq. 3, ``floor(255 x + 0.5) / 255``)
with a straight-through gradient (identity), so the dual terms through Q carry gradient.

Per-stage losses (Algorithm 1 and 2) live on :class:`DuHDRLoss`; each returns ``(total, terms)``.
A stage builds the graph through every module it needs; the trainer must step only the modules in
``STAGE_MODULES[stage]`` (gradients may also reach frozen modules' parameters - zero them).
The model is duck-typed (``DuHDRLike``): this layer does not import ``hdrlift.models``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

LossOut = tuple[torch.Tensor, dict[str, torch.Tensor]]

#: submodules each stage trains (names of DuHDR attributes)
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "dnet_individual": ("dnet",), "dnet_joint": ("dnet",),
    "crf_individual": ("innet", "nnet"), "crf_joint": ("dnet", "innet", "nnet"),
    "itnet_individual": ("itnet",), "itnet_joint": ("itnet",),
    "oonet": ("oonet",), "finetune": ("dnet", "innet", "itnet", "oonet"),
    "dnet_unpaired": ("dnet",), "crf_unpaired": ("innet", "nnet"),
    "itnet_unpaired": ("itnet",), "oonet_unpaired": ("oonet",),
}


class DuHDRLike(Protocol):
    """What the stage losses need of a DuHDR model (see ``hdrlift.models.duhdr.DuHDR``)."""

    def dequantize(self, ldr: torch.Tensor) -> torch.Tensor: ...
    def linearize(self, i_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def nonlinearize(self, x_clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def hallucinate(self, x_clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def refine(self, h: torch.Tensor, i_clip: torch.Tensor, i_n: torch.Tensor,
               ldr: torch.Tensor | None = None) -> torch.Tensor: ...
    def forward_all(self, ldr: torch.Tensor) -> dict[str, torch.Tensor]: ...


# -- secondary operators -----------------------------------------------------------------------------

def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode=mode), 2 * r + 1, stride=1)


def truncate(x: torch.Tensor, mode: str = "clip", radius: int = 5, eps: float = 0.01) -> torch.Tensor:
    """Truncation C of the camera model (TP).

    ``"clip"``: ``clamp(x, 0, 1)``. ``"guided"``: base ``b`` = self-guided filter of ``x`` (per
    channel, box radius ``radius``, regulariser ``eps``), output ``clip(b, 0, 1) * x / b`` (keeps
    the detail layer; the released code's Clipping_Net).

    Shape:
        (B, C, H, W) linear >= 0 -> (B, C, H, W) linear (in [0, 1] for "clip")
    """
    if mode == "clip":
        return x.clamp(0.0, 1.0)
    if mode != "guided":
        raise ValueError(f"truncation mode must be 'clip' or 'guided', got {mode!r}")
    mean = _box(x, radius)
    var = (_box(x * x, radius) - mean * mean).clamp(min=0.0)
    a = var / (var + eps)
    b = _box(a, radius) * x + _box(mean - a * mean, radius)
    return b.clamp(0.0, 1.0) * x / (b + 1e-15)


def quantize_ste(x: torch.Tensor, levels: int = 255) -> torch.Tensor:
    """Quantisation Q (Eq. 3): ``floor(levels * x + 0.5) / levels``, identity gradient (STE).

    Shape:
        any -> same
    """
    q = torch.floor(x * levels + 0.5) / levels
    return x + (q - x).detach()


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||a - b||^2`` as a mean over elements. Shape: any, same -> scalar"""
    return (a - b).square().mean()


# -- loss terms (tensor level) -----------------------------------------------------------------------

def loss_dnd(i_n_hat: torch.Tensor, i_n_tilde: torch.Tensor) -> torch.Tensor:
    """Eq. 4: Dnet output vs the non-linear (pre-quantisation) image. Shape: (B,3,H,W) x2 -> scalar"""
    return mse(i_n_hat, i_n_tilde)


def loss_dnu(i_n_hat: torch.Tensor, ldr: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``||Q(Dnet(L)) - L||^2`` (the dual term of Eq. 5). Shape: (B,3,H,W) x2 -> scalar"""
    return mse(quantize_ste(i_n_hat), ldr)


def loss_dn(i_n_hat: torch.Tensor, i_n_tilde: torch.Tensor, ldr: torch.Tensor, w_dual: float) -> torch.Tensor:
    """Eq. 5: ``||I_n^ - I_n~||^2 + w_dual * ||Q(I_n^) - L||^2``. Shape: (B,3,H,W) x3 -> scalar"""
    return loss_dnd(i_n_hat, i_n_tilde) + w_dual * loss_dnu(i_n_hat, ldr)


def loss_curve(curve_hat: torch.Tensor, curve: torch.Tensor, mu: float = 5000.0) -> torch.Tensor:
    """L1 between two inverse response curves (LDR code -> linear in [0, 1]) after the mu-law
    ``log(1 + mu y) / log(1 + mu)`` (NTIRE's mu), so every code value counts by its relative error.

    Shape:
        (B, n), (B, n) -> scalar
    """
    def t(y: torch.Tensor) -> torch.Tensor:
        return torch.log1p(mu * y.clamp(min=0.0)) / math.log1p(mu)

    return (t(curve_hat) - t(curve)).abs().mean()


def loss_dn_mu(i_n_hat: torch.Tensor, icrf: torch.Tensor, hdr: torch.Tensor) -> torch.Tensor:
    """Dnet's output through the camera's true inverse curve vs the clipped target ``min(1, H)``,
    :func:`~hdrlift.losses.basic.mu_l1_loss` (the NTIRE PSNR-mu domain): a dequantisation and
    denoising loss weighted as the metric weights the dark tones.

    Shape:
        i_n_hat (B, 3, H, W) encoded in [0, 1], icrf (B, n), hdr (B, 3, H, W) linear -> scalar
    """
    from hdrlift.degrade.crf import apply_curve
    from hdrlift.losses.basic import mu_l1_loss

    lin = apply_curve(i_n_hat.clamp(0.0, 1.0), icrf).clamp(0.0, 1.0)
    return mu_l1_loss(lin, hdr.clamp(0.0, 1.0))


def loss_log(h_hat: torch.Tensor, hdr: torch.Tensor, eps: float) -> torch.Tensor:
    """Log-domain loss ``||log(H^ + eps) - log(H + eps)||^2`` (linear HDR). Shape: x2 -> scalar"""
    return mse(torch.log(h_hat.clamp(min=0.0) + eps), torch.log(hdr.clamp(min=0.0) + eps))


def loss_nor(h_hat: torch.Tensor, hdr: torch.Tensor, mask: torch.Tensor, mode: str = "clip") -> torch.Tensor:
    """Normal-area loss ``||(C(H^) - min(1, H)) * (1 - mask)||^2`` (Sec. 3.3; ``I~_clip = C(H^)``
    as in Eq. 18). Shape: (B,3,H,W) x2, mask (B,3|1,H,W) -> scalar"""
    return (((truncate(h_hat, mode) - hdr.clamp(0.0, 1.0)) * (1.0 - mask)).square()).mean()


def loss_itnu(h_hat: torch.Tensor, x_clip: torch.Tensor, mode: str = "clip") -> torch.Tensor:
    """Eq. 20: ``||C(ITnet(x)) - x||^2``. Shape: (B,3,H,W) x2 -> scalar"""
    return mse(truncate(h_hat, mode), x_clip)


def gamma_log(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + 10 x) / log(11)`` (released code's loss domain). Shape: any -> same"""
    return torch.log1p(10.0 * x.clamp(min=0.0)) / math.log(11.0)


def loss_oo(h_oo: torch.Tensor, hdr: torch.Tensor, mode: str = "l2") -> torch.Tensor:
    """Eq. 24 ``||H_OO - H||^2`` (``"l2"``); ``"released"``: L1 of gamma_log after normalising both
    images to mean 0.5 (scale-invariant; the released fine-tuning loss); ``"mu"``: this project's
    option, :func:`~hdrlift.losses.basic.mu_l1_loss` (NTIRE PSNR-mu domain). Shape: x2 -> scalar"""
    if mode == "l2":
        return mse(h_oo, hdr)
    if mode == "mu":
        from hdrlift.losses.basic import mu_l1_loss

        return mu_l1_loss(h_oo, hdr)
    if mode != "released":
        raise ValueError(f"oo_loss must be 'l2', 'released' or 'mu', got {mode!r}")

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 / x.mean(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)

    return (gamma_log(norm(h_oo)) - gamma_log(norm(hdr))).abs().mean()


class MaskedPerceptual(nn.Module):
    """``loss_prec = ||(vgg16(H^) - vgg16(H)) * mask||^2`` over VGG16 layers, mask resized (area).

    VGG16 weights come from a user file (torchvision layout) or are random (a random-feature loss;
    no download ever). Frozen. The HDR values are fed as they are (paper), ImageNet-normalised.

    Shape:
        h_hat, hdr (B, 3, H, W) linear HDR, mask (B, 1|3, H, W) in [0, 1] -> scalar
    """

    def __init__(self, layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3"),
                 weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        from hdrlift.nn.vgg import VGGFeatures

        self.vgg = VGGFeatures("vgg16", outputs=tuple(layers), weights=weights, normalize=True,
                               requires_grad=False)
        self.vgg.eval()

    def train(self, mode: bool = True) -> MaskedPerceptual:
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, h_hat: torch.Tensor, hdr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.amax(dim=1, keepdim=True)
        fa, fb = self.vgg(h_hat), self.vgg(hdr.detach())
        total = h_hat.new_zeros(())
        for name in fa:
            mk = F.adaptive_avg_pool2d(m, fa[name].shape[-2:])
            total = total + ((fa[name] - fb[name]) * mk).square().mean()
        return total / len(fa)


@dataclass
class DuHDRLossConfig:
    """Weights and options (defaults: the best values of the paper's Sec. 4.3 / Fig. 6).

    Attributes:
        dn_dual: lambda_dn,dual (Eq. 5), 10.
        dnm_dual: lambda_dnm_dual (Eq. 13, Nnet term), 0.01.
        dnm_dn: lambda_dnm_dn (Eq. 13, loss_dn term), 0.005.
        prec: lambda_prec (Eq. 16/17), 0.001.
        itn_dual: lambda_itn_dual (Eq. 17, normal-area term), 10.
        it_iterations: ITnet iterations in joint / unpaired training (Eq. 18-19), 3.
        log_eps: offset inside the logs of loss_log (1/255 as in HDRCNN).
        truncation: C = ``"clip"`` or ``"guided"`` (released code).
        oo_loss: ``"l2"`` (Eq. 24), ``"released"`` (scale-invariant L1 on log(1+10x)) or ``"mu"``
            (L1 in the NTIRE mu-law domain, not in the paper).
        vgg_layers: VGG16 layers of the masked perceptual loss (Johnson et al. style).
        crf_curve: weight of :func:`loss_curve` (INnet's inverse curve vs the camera's true inverse
            curve, L1 in the NTIRE mu-law domain) in the INnet stages when the batch carries the
            true curve (``icrf``, from a synthetic camera); 0 = the paper's image-domain losses only.
            Not in the paper: Eq. 11's linear-domain MSE all but ignores the dark end of the curve,
            which PSNR-mu weights most.
        dn_mu: weight of :func:`loss_dn_mu` (Dnet's output linearised with the true inverse curve vs
            ``C(H)``, L1 in the NTIRE mu-law domain) in the Dnet stages when the batch carries
            ``icrf``; 0 = Eq. 4/5 only. Not in the paper: Eq. 4's MSE on encoded values hardly sees
            the sensor noise in the dark tones, which costs most of the PSNR-mu of an 8-bit input.
    """

    dn_dual: float = 10.0
    dnm_dual: float = 0.01
    dnm_dn: float = 0.005
    prec: float = 0.001
    itn_dual: float = 10.0
    it_iterations: int = 3
    log_eps: float = 1.0 / 255.0
    truncation: str = "clip"
    oo_loss: str = "l2"
    crf_curve: float = 0.0
    dn_mu: float = 0.0
    vgg_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")


def _terms(**kw: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in kw.items()}


class DuHDRLoss(nn.Module):
    """Stage losses of DuHDR training (Algorithm 1: paired; Algorithm 2: unpaired LDR only).

    Every method takes the model (``DuHDRLike``) and a batch and returns ``(total, terms)``.
    ``target_n``: optional ground-truth non-linear image before quantisation (available from a
    synthetic camera pipeline); without it, ``I_n~ = Nnet(C(H))`` (the paper's definition) is used.

    Args:
        config: weights and options (:class:`DuHDRLossConfig`).
        vgg_weights: optional torchvision-layout VGG16 weights for the perceptual term.
    """

    def __init__(self, config: DuHDRLossConfig | None = None,
                 vgg_weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.cfg = config or DuHDRLossConfig()
        self.perceptual = MaskedPerceptual(self.cfg.vgg_layers, vgg_weights)

    def _c(self, x: torch.Tensor) -> torch.Tensor:
        return truncate(x, self.cfg.truncation)

    def _i_n_tilde(self, model: DuHDRLike, hdr: torch.Tensor, target_n: torch.Tensor | None) -> torch.Tensor:
        if target_n is not None:
            return target_n
        return model.nonlinearize(self._c(hdr))[0]

    # -- Algorithm 1, step 4: Dnet --------------------------------------------------------------
    def _dn_mu_term(self, i_n: torch.Tensor, icrf: torch.Tensor | None, hdr: torch.Tensor
                    ) -> dict[str, torch.Tensor]:
        if icrf is None or self.cfg.dn_mu <= 0:
            return {}
        return {"dn_mu": loss_dn_mu(i_n, icrf, hdr)}

    def dnet_individual(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor,
                        target_n: torch.Tensor | None = None, icrf: torch.Tensor | None = None) -> LossOut:
        """Eq. 4 (Nnet's output is a fixed target here); + ``dn_mu`` x :func:`loss_dn_mu` with ``icrf``."""
        with torch.no_grad():
            tgt = self._i_n_tilde(model, hdr, target_n)
        i_n = model.dequantize(ldr)
        loss = loss_dnd(i_n, tgt)
        extra = self._dn_mu_term(i_n, icrf, hdr)
        total = loss + self.cfg.dn_mu * extra.get("dn_mu", 0.0)
        return total, _terms(dnd=loss, **extra)

    def dnet_joint(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor,
                   target_n: torch.Tensor | None = None, icrf: torch.Tensor | None = None) -> LossOut:
        """Eq. 5: Eq. 4 + lambda_dn,dual * ||Q(Dnet(L)) - L||^2; + ``dn_mu`` x :func:`loss_dn_mu` with ``icrf``."""
        with torch.no_grad():
            tgt = self._i_n_tilde(model, hdr, target_n)
        i_n = model.dequantize(ldr)
        dnd, dual = loss_dnd(i_n, tgt), loss_dnu(i_n, ldr)
        extra = self._dn_mu_term(i_n, icrf, hdr)
        total = dnd + self.cfg.dn_dual * dual + self.cfg.dn_mu * extra.get("dn_mu", 0.0)
        return total, _terms(dnd=dnd, dn_dual=dual, **extra)

    # -- step 5: INnet / Nnet -------------------------------------------------------------------
    def _curve_term(self, curve_hat: torch.Tensor, icrf: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if icrf is None or self.cfg.crf_curve <= 0:
            return {}
        return {"curve": loss_curve(curve_hat, icrf)}

    def crf_individual(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor,
                       target_n: torch.Tensor | None = None, icrf: torch.Tensor | None = None) -> LossOut:
        """Eq. 11 + Eq. 12: Nnet(C(H)) vs I_n and INnet(I_n) vs C(H) (I_n = Dnet(L), fixed);
        plus ``crf_curve`` x :func:`loss_curve` when the true inverse curve ``icrf`` is given."""
        with torch.no_grad():
            i_n = model.dequantize(ldr)
        c_h = self._c(hdr)
        n_tgt = i_n if target_n is None else target_n
        l_n = mse(model.nonlinearize(c_h)[0], n_tgt)
        i_clip, curve = model.linearize(i_n)
        l_in = mse(i_clip, c_h)
        extra = self._curve_term(curve, icrf)
        total = l_in + l_n + self.cfg.crf_curve * extra.get("curve", 0.0)
        return total, _terms(innet=l_in, nnet=l_n, **extra)

    def crf_joint(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor,
                  target_n: torch.Tensor | None = None, icrf: torch.Tensor | None = None) -> LossOut:
        """Eq. 13: loss_INnet + lambda_dnm_dual * ||Nnet(INnet(I_n)) - I_n||^2 + lambda_dnm_dn * loss_dn
        (+ ``crf_curve`` x :func:`loss_curve` with ``icrf``)."""
        c_h = self._c(hdr)
        i_n = model.dequantize(ldr)
        i_clip, curve = model.linearize(i_n)
        l_in = mse(i_clip, c_h)
        l_n = mse(model.nonlinearize(i_clip)[0], i_n)
        l_dn = loss_dn(i_n, self._i_n_tilde(model, hdr, target_n), ldr, self.cfg.dn_dual)
        extra = self._curve_term(curve, icrf)
        total = l_in + self.cfg.dnm_dual * l_n + self.cfg.dnm_dn * l_dn + self.cfg.crf_curve * extra.get("curve", 0.0)
        return total, _terms(innet=l_in, nnet=l_n, dn=l_dn, **extra)

    # -- step 6: ITnet --------------------------------------------------------------------------
    def _itn(self, h_hat: torch.Tensor, mask: torch.Tensor, hdr: torch.Tensor, with_nor: bool
             ) -> dict[str, torch.Tensor]:
        out = {
            "log": loss_log(h_hat, hdr, self.cfg.log_eps),
            "prec": self.perceptual(h_hat, hdr, mask),
        }
        if with_nor:
            out["nor"] = loss_nor(h_hat, hdr, mask, self.cfg.truncation)
        return out

    def itnet_individual(self, model: DuHDRLike, hdr: torch.Tensor) -> LossOut:
        """Eq. 16: loss_log + lambda_prec * loss_prec on ITnet(C(H))."""
        h_hat, mask = model.hallucinate(self._c(hdr))
        t = self._itn(h_hat, mask, hdr, with_nor=False)
        return t["log"] + self.cfg.prec * t["prec"], _terms(**t)

    def itnet_joint(self, model: DuHDRLike, hdr: torch.Tensor) -> LossOut:
        """Eq. 17 averaged over the iterations of Eq. 18-19 (H_1 = ITnet(C(H)), H_i+1 = ITnet(C(H_i)))."""
        x = self._c(hdr)
        acc: dict[str, torch.Tensor] = {}
        total = hdr.new_zeros(())
        n = max(1, int(self.cfg.it_iterations))
        for _ in range(n):
            h_hat, mask = model.hallucinate(x)
            t = self._itn(h_hat, mask, hdr, with_nor=True)
            total = total + t["log"] + self.cfg.prec * t["prec"] + self.cfg.itn_dual * t["nor"]
            for k, v in t.items():
                acc[k] = acc.get(k, 0.0) + v / n
            x = self._c(h_hat)
        return total / n, _terms(**acc)

    # -- steps 9 and 11: OOnet, fine-tuning -------------------------------------------------------
    def oonet(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor) -> LossOut:
        """Eq. 24 with the upstream networks fixed (no graph through them)."""
        with torch.no_grad():
            i_n = model.dequantize(ldr)
            i_clip = model.linearize(i_n)[0]
            h_hat = model.hallucinate(i_clip)[0]
        loss = loss_oo(model.refine(h_hat, i_clip, i_n, ldr), hdr, self.cfg.oo_loss)
        return loss, _terms(oo=loss)

    def finetune(self, model: DuHDRLike, ldr: torch.Tensor, hdr: torch.Tensor) -> LossOut:
        """Eq. 24 through the whole primary path (Algorithm 1, step 11)."""
        loss = loss_oo(model.forward_all(ldr)["hdr"], hdr, self.cfg.oo_loss)
        return loss, _terms(oo=loss)

    # -- Algorithm 2 (unpaired LDR) -------------------------------------------------------------
    def dnet_unpaired(self, model: DuHDRLike, ldr: torch.Tensor) -> LossOut:
        """Eq. 6: ||Q(Dnet(L)) - L||^2."""
        loss = loss_dnu(model.dequantize(ldr), ldr)
        return loss, _terms(dnu=loss)

    def crf_unpaired(self, model: DuHDRLike, ldr: torch.Tensor) -> LossOut:
        """Eq. 14: ||Nnet(INnet(I_n)) - I_n||^2 with I_n = Dnet(L) fixed."""
        with torch.no_grad():
            i_n = model.dequantize(ldr)
        loss = mse(model.nonlinearize(model.linearize(i_n)[0])[0], i_n)
        return loss, _terms(dnmu=loss)

    def itnet_unpaired(self, model: DuHDRLike, ldr: torch.Tensor) -> LossOut:
        """Eq. 20, iterated: ||C(ITnet(x_i)) - I_clip||^2, x_1 = I_clip = INnet(Dnet(L)), x_i+1 = C(H_i)."""
        with torch.no_grad():
            i_clip = model.linearize(model.dequantize(ldr))[0]
        x = i_clip
        total = ldr.new_zeros(())
        n = max(1, int(self.cfg.it_iterations))
        for _ in range(n):
            h_hat = model.hallucinate(x)[0]
            total = total + loss_itnu(h_hat, i_clip, self.cfg.truncation)
            x = self._c(h_hat)
        return total / n, _terms(itnu=total / n)

    def oonet_unpaired(self, model: DuHDRLike, ldr: torch.Tensor) -> LossOut:
        """Eq. 25: ||Q(Nnet(C(H_OO))) - L||^2 with the upstream networks fixed."""
        with torch.no_grad():
            i_n = model.dequantize(ldr)
            i_clip = model.linearize(i_n)[0]
            h_hat = model.hallucinate(i_clip)[0]
        h_oo = model.refine(h_hat, i_clip, i_n, ldr)
        loss = mse(quantize_ste(model.nonlinearize(self._c(h_oo))[0]), ldr)
        return loss, _terms(oou=loss)

    def stage(self, name: str, model: DuHDRLike, ldr: torch.Tensor | None = None,
              hdr: torch.Tensor | None = None, **kw: torch.Tensor) -> LossOut:
        """Dispatch by stage name (keys of :data:`STAGE_MODULES`)."""
        if name not in STAGE_MODULES:
            raise ValueError(f"unknown DuHDR stage {name!r}; valid: {', '.join(STAGE_MODULES)}")
        fn = getattr(self, name)
        if name.startswith("itnet_") and name != "itnet_unpaired":
            return fn(model, hdr)
        if name.endswith("_unpaired"):
            return fn(model, ldr)
        return fn(model, ldr, hdr, **kw)
