"""Training losses (torch). Each docstring states the domain its inputs are expected in."""

from hdrlift.losses.basic import (
    L1Loss,
    TanhL1Loss,
    clipped_log_loss,
    l1_loss,
    mu_l1_loss,
    mu_loss,
    mu_psnr_loss,
    tanh_l1_loss,
)
from hdrlift.losses.color import ColorLoss, delta_e_loss, to_lab
from hdrlift.losses.gan import GANLoss, generator_bce_loss
from hdrlift.losses.msssim import MSSSIMLoss, ms_ssim_loss
from hdrlift.losses.perceptual import VGGPerceptualLoss

__all__ = [
    "ColorLoss",
    "GANLoss",
    "L1Loss",
    "MSSSIMLoss",
    "TanhL1Loss",
    "VGGPerceptualLoss",
    "clipped_log_loss",
    "delta_e_loss",
    "generator_bce_loss",
    "l1_loss",
    "ms_ssim_loss",
    "tanh_l1_loss",
    "mu_l1_loss",
    "mu_loss",
    "mu_psnr_loss",
    "to_lab",
]
