"""Conditional GAN losses with binary cross-entropy (two-stage network, stage I, Eq. 5).

Generator: L_G = -mean log D(fake[, condition]) (non-saturating form = BCE against label 1).
Discriminator: BCE(D(real), real label) + BCE(D(fake), fake label).

Labels are ``"hard"`` (1 / 0), ``"soft"`` (fixed one-sided smoothing: ``real_label``,
``fake_label``) or ``"noisy"`` (drawn per element from U[real_range) and U[fake_range) with a passed
``torch.Generator``; the released two-stage code uses U[0.7, 1.2) and U[0, 0.3), so real labels can
exceed 1 - BCE is still defined for targets outside [0, 1] with probabilities, and
``binary_cross_entropy_with_logits`` accepts them too).

The discriminator output is a probability by default (the two-stage D ends with a sigmoid); pass
``logits=True`` with raw scores for the numerically stable BCE-with-logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LABEL_MODES = ("hard", "soft", "noisy")
_EPS = 1e-7


def _bce(d_out: torch.Tensor, target: torch.Tensor, logits: bool) -> torch.Tensor:
    if logits:
        return F.binary_cross_entropy_with_logits(d_out, target)
    p = d_out.clamp(_EPS, 1.0 - _EPS)
    # explicit form: F.binary_cross_entropy rejects targets outside [0, 1] (noisy labels up to 1.2)
    return -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p)).mean()


class GANLoss(nn.Module):
    """BCE GAN losses with optional soft / noisy labels.

    Args:
        label_mode: ``"hard"``, ``"soft"`` or ``"noisy"``.
        real_label, fake_label: targets for ``"soft"`` (defaults 0.9 / 0.0).
        real_range, fake_range: [low, high) of the uniform labels for ``"noisy"``
            (defaults (0.7, 1.2) / (0.0, 0.3) as in the two-stage release).
        logits: discriminator outputs are raw scores (True) or probabilities (False).

    Shape:
        D outputs (B, ...) -> ()
    """

    def __init__(
        self,
        label_mode: str = "hard",
        real_label: float = 0.9,
        fake_label: float = 0.0,
        real_range: tuple[float, float] = (0.7, 1.2),
        fake_range: tuple[float, float] = (0.0, 0.3),
        logits: bool = False,
    ) -> None:
        super().__init__()
        if label_mode not in LABEL_MODES:
            raise ValueError(f"unknown label mode {label_mode!r}; use one of {list(LABEL_MODES)}")
        self.label_mode = label_mode
        self.real_label, self.fake_label = real_label, fake_label
        self.real_range, self.fake_range = real_range, fake_range
        self.logits = logits

    def labels(self, like: torch.Tensor, real: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """Target labels shaped like ``like`` for the discriminator update."""
        if self.label_mode == "hard":
            return torch.full_like(like, 1.0 if real else 0.0)
        if self.label_mode == "soft":
            return torch.full_like(like, self.real_label if real else self.fake_label)
        if generator is None:
            raise ValueError("label_mode='noisy' needs a torch.Generator (no global RNG)")
        lo, hi = self.real_range if real else self.fake_range
        u = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=generator.device)
        return (lo + (hi - lo) * u).to(like.device)

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """-mean log D(fake): BCE of the generator's samples against the label 1 (hard).

        Shape:
            (B, ...) -> ()
        """
        return _bce(d_fake, torch.ones_like(d_fake), self.logits)

    def discriminator_loss(
        self, d_real: torch.Tensor, d_fake: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """BCE(D(real), real labels) + BCE(D(fake), fake labels); ``d_fake`` from detached samples.

        Shape:
            (B, ...), (B, ...) -> ()
        """
        real_t = self.labels(d_real, True, generator)
        fake_t = self.labels(d_fake, False, generator)
        return _bce(d_real, real_t, self.logits) + _bce(d_fake, fake_t, self.logits)

    def forward(self, d_fake: torch.Tensor) -> torch.Tensor:
        return self.generator_loss(d_fake)


def generator_bce_loss(d_fake: torch.Tensor, logits: bool = False) -> torch.Tensor:
    """Functional -mean log D(fake) (probabilities, or raw scores with ``logits=True``).

    Shape:
        (B, ...) -> ()
    """
    return _bce(d_fake, torch.ones_like(d_fake), logits)
