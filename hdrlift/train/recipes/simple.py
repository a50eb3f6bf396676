"""Single-network recipes: HDRUNet (Tanh-L1, gamma domain) and the bilateral network (L1 + gamma loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from hdrlift.ops.transfer import NTIRE_GAMMA, gamma_decode, gamma_encode
from hdrlift.train.recipes.base import MuTermLoss, Recipe

if TYPE_CHECKING:
    from hdrlift.models.hdrunet import HDRUNet
    from hdrlift.models.uhd_bilateral import UHDBilateral


@dataclass
class HDRUNetLoss(MuTermLoss):
    """``loss:`` of the hdrunet recipe: ``kind`` ``tanh_l1`` (the paper) or ``l1``, plus the mu term."""

    kind: Literal["tanh_l1", "l1"] = "tanh_l1"


@dataclass
class BilateralLoss(MuTermLoss):
    """``loss:`` of the uhd_bilateral recipe: ``lam`` (weight of the self-evolving gamma loss, 0.1 in the
    paper), ``mask_source`` (``output`` | ``input``), plus the mu term."""

    lam: float = 0.1
    mask_source: Literal["output", "input"] = "output"


class HDRUNetRecipe(Recipe):
    """HDRUNet paper (section 3.3): Tanh-L1 between output and target in the NTIRE gamma-2.24 domain.

    ``loss.kind``: ``tanh_l1`` (paper, default) or ``l1``; ``loss.mu_weight`` (default 0 = paper)
    adds that weight times :func:`~hdrlift.losses.basic.mu_l1_loss` on the linear output (the
    PSNR-mu domain, which weights the dark tones the paper's loss hardly sees); ``loss.mu_kind``
    ``l1`` (default) or ``psnr`` (:func:`~hdrlift.losses.basic.mu_psnr_loss`, the mean per-sample
    PSNR-mu in dB, negated: the metric's own average).
    """

    Loss = HDRUNetLoss
    loss: HDRUNetLoss
    model: HDRUNet

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        from hdrlift.losses.basic import l1_loss, tanh_l1_loss

        pred = self.model.forward_gamma(batch["ldr"])
        target = gamma_encode(batch["hdr"], NTIRE_GAMMA)
        lc = self.loss
        loss = tanh_l1_loss(pred, target) if lc.kind == "tanh_l1" else l1_loss(pred, target)
        logs = {"pix": float(loss.detach())}
        if lc.mu_weight > 0 or lc.clip_weight > 0:
            extra, more = lc.terms(gamma_decode(pred.clamp(min=0.0), NTIRE_GAMMA), batch)
            loss = loss + extra
            logs.update(more)
        return loss, {"loss": float(loss.detach()), **logs}


class BilateralRecipe(Recipe):
    """Collaborative bilateral network (Eq. 4-6): L1 + lambda * self-evolving gamma loss, inner [0,1] domain.

    ``loss.lam`` (default 0.1), ``loss.mask_source`` (output | input); ``loss.mu_weight`` (default 0 =
    paper) adds that weight times the PSNR-mu-domain term ``loss.mu_kind`` (``l1`` | ``psnr``, see
    :func:`~hdrlift.losses.basic.mu_loss`) on the linear output.
    """

    Loss = BilateralLoss
    loss: BilateralLoss
    model: UHDBilateral

    def build(self) -> None:
        from hdrlift.losses.gamma import SelfEvolvingGammaLoss

        self.crit = SelfEvolvingGammaLoss(lam=self.loss.lam, mask_source=self.loss.mask_source)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opts["model"] = self.make_adam(params)

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        out = self.model.forward_inner(batch["ldr"])
        target = self.model.hdr_to_inner(batch["hdr"])
        loss = self.crit(out, target, batch["ldr"])
        l1 = (out.detach() - target).abs().mean()
        logs = {"l1": float(l1)}
        if self.loss.mu_weight > 0 or self.loss.clip_weight > 0:
            extra, more = self.loss.terms(self.model.inner_to_hdr(out), batch)
            loss = loss + extra
            logs.update(more)
        return loss, {"loss": float(loss.detach()), **logs}
