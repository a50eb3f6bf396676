"""A toy architecture written as a model module of ``hdrlift/models/`` would be (class + ``SPECS``).

It is the fifth architecture of the tests: registered at run time (``hdrlift.models.temporary_registration``)
it must go through prediction, tiling, ONNX export and the bench with no change to ``hdrlift.inference``,
which reads only what the model declares here:

- a global part (``global_context`` / ``forward_with_context``): the image's mean colour, computed once
  on the whole image by tiled inference, so tiles equal the untiled result exactly;
- its receptive field (two 3x3 convolutions: 2 px) in its :class:`SizeRequirements`;
- ``export_requirements``: ONNX opset >= 18 (so an export asked at 17 is raised to 18).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.models.base import ExportRequirements, HDRModel, ModelSpec, SizeRequirements

#: gamma of the toy's LDR decoding (inside the model)
TOY_GAMMA = 2.2


class ToyHDR(HDRModel):
    """``hdr = ldr ** 2.2 * (1 + gain * softplus(conv(relu(conv(ldr - mean colour)))))``.

    Args:
        width: channels of the hidden 3x3 convolution.
        gain: scale of the (>= 0) expansion term.

    Shape:
        ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping)
    """

    arch = "toy"
    inside_domain = "sRGB-encoded LDR decoded with gamma 2.2, expanded by a learned factor >= 1"
    export_requirements = ExportRequirements(min_opset=18)

    def __init__(self, width: int = 8, gain: float = 2.0) -> None:
        super().__init__(width=int(width), gain=float(gain))
        self.gain = float(gain)
        self.conv1 = nn.Conv2d(3, int(width), 3, padding=1)
        self.conv2 = nn.Conv2d(int(width), 3, 3, padding=1)

    def global_context(self, ldr: torch.Tensor) -> torch.Tensor:
        """Mean colour of the whole image.

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 3, 1, 1)
        """
        return ldr.mean(dim=(2, 3), keepdim=True)

    def forward_with_context(self, ldr: torch.Tensor, ctx: torch.Tensor, offset: tuple[int, int],
                             full_size: tuple[int, int]) -> torch.Tensor:
        """Linear HDR of a tile given the whole image's mean colour (offset and size unused: local part).

        Shape:
            (B, 3, h, w) sRGB-encoded LDR tile, ctx (B, 3, 1, 1) -> (B, 3, h, w) linear HDR >= 0
        """
        expand = F.softplus(self.conv2(F.relu(self.conv1(ldr - ctx))))
        return ldr.clamp(0.0, 1.0) ** TOY_GAMMA * (1.0 + self.gain * expand)

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Shape: (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0"""
        return self.forward_with_context(ldr, self.global_context(ldr), (0, 0), (ldr.shape[-2], ldr.shape[-1]))


_CONTEXT = "mean colour of the whole image (global_context once, forward_with_context per tile)"

SPECS = [
    ModelSpec(name="toy", cls=ToyHDR, paper="none (test architecture)", description="two 3x3 convs",
              domain=ToyHDR.inside_domain, size=SizeRequirements(receptive_field=2, global_context=_CONTEXT)),
    ModelSpec(name="toy_tiny", cls=ToyHDR, paper="none (test architecture)", description="width 4",
              domain=ToyHDR.inside_domain, size=SizeRequirements(receptive_field=2, global_context=_CONTEXT),
              hparams={"width": 4}),
]
