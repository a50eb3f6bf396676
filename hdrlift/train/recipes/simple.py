"""Single-network recipes: HDRUNet (Tanh-L1, gamma domain) and the bilateral network (L1 + gamma loss)."""

from __future__ import annotations

import torch

from hdrlift.ops.transfer import NTIRE_GAMMA, gamma_decode, gamma_encode
from hdrlift.train.recipes.base import Recipe


class HDRUNetRecipe(Recipe):
    """HDRUNet paper (section 3.3): Tanh-L1 between output and target in the NTIRE gamma-2.24 domain.

    ``loss.kind``: ``tanh_l1`` (paper, default) or ``l1``; ``loss.mu_weight`` (default 0 = paper)
    adds that weight times :func:`~hdrlift.losses.basic.mu_l1_loss` on the linear output (the
    PSNR-mu domain, which weights the dark tones the paper's loss hardly sees); ``loss.mu_kind``
    ``l1`` (default) or ``psnr`` (:func:`~hdrlift.losses.basic.mu_psnr_loss`, the mean per-sample
    PSNR-mu in dB, negated: the metric's own average).
    """

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        from hdrlift.losses.basic import l1_loss, mu_loss, tanh_l1_loss

        pred = self.model.forward_gamma(batch["ldr"])
        target = gamma_encode(batch["hdr"], NTIRE_GAMMA)
        kind = self.loss_cfg.get("kind", "tanh_l1")
        loss = tanh_l1_loss(pred, target) if kind == "tanh_l1" else l1_loss(pred, target)
        logs = {"pix": float(loss.detach())}
        w_mu = float(self.loss_cfg.get("mu_weight", 0.0))
        if w_mu > 0:
            kind_mu = str(self.loss_cfg.get("mu_kind", "l1"))
            mu = mu_loss(gamma_decode(pred.clamp(min=0.0), NTIRE_GAMMA), batch["hdr"], kind_mu)
            loss = loss + w_mu * mu
            logs[f"mu_{kind_mu}"] = float(mu.detach())
        return loss, {"loss": float(loss.detach()), **logs}


class BilateralRecipe(Recipe):
    """Collaborative bilateral network (Eq. 4-6): L1 + lambda * self-evolving gamma loss, inner [0,1] domain.

    ``loss.lam`` (default 0.1), ``loss.mask_source`` (output | input); ``loss.mu_weight`` (default 0 =
    paper) adds that weight times the PSNR-mu-domain term ``loss.mu_kind`` (``l1`` | ``psnr``, see
    :func:`~hdrlift.losses.basic.mu_loss`) on the linear output.
    """

    def build(self) -> None:
        from hdrlift.losses.gamma import SelfEvolvingGammaLoss

        self.crit = SelfEvolvingGammaLoss(lam=float(self.loss_cfg.get("lam", 0.1)),
                                          mask_source=str(self.loss_cfg.get("mask_source", "output")))
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opts["model"] = self.make_adam(params)

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        out = self.model.forward_inner(batch["ldr"])
        target = self.model.hdr_to_inner(batch["hdr"])
        loss = self.crit(out, target, batch["ldr"])
        l1 = (out.detach() - target).abs().mean()
        logs = {"l1": float(l1)}
        w_mu = float(self.loss_cfg.get("mu_weight", 0.0))
        if w_mu > 0:
            from hdrlift.losses.basic import mu_loss

            kind_mu = str(self.loss_cfg.get("mu_kind", "l1"))
            mu = mu_loss(self.model.inner_to_hdr(out), batch["hdr"], kind_mu)
            loss = loss + w_mu * mu
            logs[f"mu_{kind_mu}"] = float(mu.detach())
        return loss, {"loss": float(loss.detach()), **logs}
