"""Two-stage RDAB recipe (Sharif et al., CVPRW 2021, section 3.2-3.3).

Stage I (enhancement, 8-bit target in the NTIRE gamma domain): L1 + (1 - MS-SSIM) + w_gan * cGAN.
Stage II (16-bit HDR target, gamma domain): L1 + w_de * CIEDE2000 (+ ``loss.mu_weight`` times the
NTIRE mu-law L1 on its linear output, an option of this project; 0 = the paper). Both stages and the conditional
discriminator train jointly; stage II sees stage I's output detached (no gradient between stages).
The discriminator is conditioned on the LDR input; its labels are hard by default (``loss.labels``:
hard | soft | noisy, noisy = the released code's U[0.7,1.2) / U[0,0.3)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from hdrlift.errors import ConfigError
from hdrlift.ops.transfer import NTIRE_GAMMA, gamma_encode
from hdrlift.train.distributed import DistInfo
from hdrlift.train.recipes.base import MuTermLoss, Recipe, _Fn

if TYPE_CHECKING:
    from hdrlift.models.twostage import TwoStageHDR


@dataclass
class TwoStageLoss(MuTermLoss):
    """``loss:`` of the twostage recipe (defaults: the paper).

    Attributes:
        w_msssim: weight of (1 - MS-SSIM) in stage I.
        w_gan: weight of the conditional GAN loss in stage I (0 = no discriminator step).
        w_de: weight of CIEDE2000 in stage II.
        msssim_variant: ``standard`` or ``twostage_release`` (:data:`hdrlift.losses.msssim.VARIANTS`).
        labels: discriminator labels ``hard``, ``soft`` or ``noisy`` (:data:`hdrlift.losses.gan.LABEL_MODES`).
        d_width: base width of the discriminator.
        mu_weight, mu_kind, clip_weight, clip_delta: the project's terms on stage II's linear output (0 = the
            paper; :class:`MuTermLoss`).
    """

    w_msssim: float = 1.0
    w_gan: float = 1e-3
    w_de: float = 1.0
    msssim_variant: Literal["standard", "twostage_release"] = "standard"
    labels: Literal["hard", "soft", "noisy"] = "hard"
    d_width: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_width < 1:
            raise ConfigError(f"loss.d_width must be >= 1, got {self.d_width}")


class TwoStageRecipe(Recipe):
    find_unused = False
    Loss = TwoStageLoss
    loss: TwoStageLoss
    model: TwoStageHDR

    def build(self) -> None:
        from hdrlift.losses.gan import GANLoss
        from hdrlift.nn.discriminator import TwoStageDiscriminator

        lc = self.loss
        self.w_msssim, self.w_gan, self.w_de = lc.w_msssim, lc.w_gan, lc.w_de
        self.msssim_variant = lc.msssim_variant
        self.gan = GANLoss(label_mode=lc.labels)
        self.disc = TwoStageDiscriminator(base_channels=lc.d_width).to(self.device)
        self.nets["disc"] = self.disc
        self.opts["model"] = self.make_adam(self.model.parameters())
        self.opts["disc"] = self.make_adam(self.disc.parameters(), lr=self.cfg.optim.d_lr)
        self.d_step: torch.nn.Module = _Fn(self.disc_loss, disc=self.disc)
        self._cache: dict[str, torch.Tensor] = {}

    def wrap_extra(self, info: DistInfo, ids: object) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.d_step = DDP(self.d_step, device_ids=ids)

    @staticmethod
    def targets(hdr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gt8, gt16): 8-bit quantised clip of the gamma-encoded target, and the gamma-encoded HDR."""
        gt16 = gamma_encode(hdr, NTIRE_GAMMA)
        gt8 = torch.round(gt16.clamp(0.0, 1.0) * 255.0) / 255.0
        return gt8, gt16

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        from hdrlift.losses.color import delta_e_loss
        from hdrlift.losses.msssim import ms_ssim_loss

        lc = self.loss
        ldr = batch["ldr"]
        gt8, gt16 = self.targets(batch["hdr"])
        s1, s2 = self.model.forward_stages(ldr)
        l1_1 = (s1 - gt8).abs().mean()
        ms = ms_ssim_loss(s1.clamp(0, 1), gt8, data_range=1.0, variant=self.msssim_variant)
        adv = self.gan.generator_loss(self.disc(s1, ldr)) if self.w_gan > 0 else s1.new_zeros(())
        loss1 = l1_1 + self.w_msssim * ms + self.w_gan * adv
        l1_2 = (s2 - gt16).abs().mean()
        de = delta_e_loss(s2.clamp(min=0), gt16, domain="gamma") if self.w_de > 0 else s2.new_zeros(())
        loss2 = l1_2 + self.w_de * de
        extra_logs: dict[str, float] = {}
        if lc.mu_weight > 0 or lc.clip_weight > 0:
            from hdrlift.ops.transfer import gamma_decode

            extra, extra_logs = lc.terms(gamma_decode(s2.clamp(min=0.0), NTIRE_GAMMA), batch)
            loss2 = loss2 + extra
        self._cache = {"s1": s1.detach(), "gt8": gt8, "ldr": ldr}
        logs = {"loss": float(loss1.detach() + loss2.detach()), "l1_s1": float(l1_1.detach()),
                "msssim": float(ms.detach()), "adv": float(adv.detach()), "l1_s2": float(l1_2.detach()),
                "de2000": float(de.detach()), f"mu_{lc.mu_kind}": 0.0, **extra_logs}
        return loss1 + loss2, logs

    def disc_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        c = self._cache
        g = torch.Generator().manual_seed(1_000_003 * self.cfg.seed + step)
        d_real = self.disc(c["gt8"], c["ldr"])
        d_fake = self.disc(c["s1"], c["ldr"])
        loss = self.gan.discriminator_loss(d_real, d_fake, generator=g)
        return loss, {"d_loss": float(loss.detach())}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        og, od = self.opts["model"], self.opts["disc"]
        og.zero_grad(set_to_none=True)
        loss, logs = self.g_step(batch, step)
        loss.backward()
        self.clip(self.model.parameters())
        og.step()
        self.scheds["model"].step()
        if self.w_gan > 0:
            od.zero_grad(set_to_none=True)
            dl, dlogs = self.d_step(batch, step)
            dl.backward()
            od.step()
            self.scheds["disc"].step()
            logs.update(dlogs)
        return logs
