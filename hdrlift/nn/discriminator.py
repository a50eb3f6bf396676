"""Conditional discriminator of the two-stage HDR network (Sharif et al., CVPRW 2021, sec. 3.3).

Paper: a conditional GAN discriminator (cGAN, Mirza & Osindero; objective E_{X,Y}[log D(X, Y)]) of
eight consecutive 3x3 convolutions with swish activations, starting at 64 channels; "in every
(2n-1)-th layer" the feature depth expands and the spatial size halves; the output is a 1x1
convolution with a sigmoid. Used only for training stage I (adversarial term 1e-4 * L_G).

Reading used here (paper mode, the defaults):
* conditioning: the judged image and the condition image are concatenated along channels
  (``cond_channels=3``; the caller passes the LDR input as condition, the pix2pix-style cGAN).
  ``cond_channels=0`` gives an unconditional D (the released code).
* channels 64, 64, 128, 128, 256, 256, 512, 512; stride 2 at the odd layers 1, 3, 5, 7
  (``stride_on="odd"``). The released code strides at the even layers 2, 4, 6, 8 (``"even"``);
  both layouts have the same parameters and the same 16x total reduction.
* no normalisation (the paper names none); ``batch_norm=True`` adds the released code's BatchNorm
  after convs 2-8.
* output: a per-patch probability map (B, 1, H/16, W/16). ``global_pool=True`` averages the logits
  over the map first, giving (B, 1, 1, 1) as the released code does (which also zero-pads its 1x1
  head conv; not reproduced).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError

_CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)


class TwoStageDiscriminator(nn.Module):
    """Conditional patch discriminator; ``forward`` returns probabilities, ``logits`` the raw scores.

    Args:
        in_channels: channels of the judged image.
        cond_channels: channels of the condition image (0 = unconditional).
        base_channels: width of the first layer (paper 64; later layers scale with it).
        stride_on: ``"odd"`` (paper reading) or ``"even"`` (released code) layers halve the size.
        batch_norm: BatchNorm after convs 2-8 (released code), off in the paper reading.
        global_pool: average the logit map to one score per image.

    Shape:
        image: (B, in_channels, H, W), condition: (B, cond_channels, H, W)
        -> (B, 1, ceil(H/16), ceil(W/16)) or (B, 1, 1, 1) with ``global_pool``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        cond_channels: int = 3,
        base_channels: int = 64,
        stride_on: str = "odd",
        batch_norm: bool = False,
        global_pool: bool = False,
    ) -> None:
        super().__init__()
        if stride_on not in ("odd", "even"):
            raise ModelError(f"stride_on must be 'odd' or 'even', got '{stride_on}'")
        self.cond_channels = int(cond_channels)
        self.global_pool = bool(global_pool)
        chans = [c * base_channels // 64 for c in _CHANNELS]
        layers: list[nn.Module] = []
        prev = in_channels + self.cond_channels
        for i, c in enumerate(chans):
            layer_no = i + 1
            stride = 2 if (layer_no % 2 == 1) == (stride_on == "odd") else 1
            layers.append(nn.Conv2d(prev, c, 3, stride, 1))
            if batch_norm and layer_no > 1:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.SiLU())  # swish: x * sigmoid(x)
            prev = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(prev, 1, 1)

    def logits(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-sigmoid scores (use with ``binary_cross_entropy_with_logits``)."""
        if self.cond_channels:
            if condition is None or condition.shape[1] != self.cond_channels:
                raise ModelError(f"conditional discriminator needs a {self.cond_channels}-channel condition")
            image = torch.cat([image, condition], dim=1)
        elif condition is not None:
            raise ModelError("unconditional discriminator (cond_channels=0) got a condition")
        out = self.head(self.features(image))
        if self.global_pool:
            out = F.adaptive_avg_pool2d(out, 1)
        return out

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(image, condition))
