"""Two-stage HDR network (Sharif, Naqvi, Biswas, Kim — CVPRW 2021).

Stage I (2 RDAB) maps the 8-bit LDR to an enhanced 8-bit-range image ``I_H'`` (exposure correction,
denoising; target: the clipped, [0, 1]-normalised ground truth). Stage II (1 RDAB) maps ``I_H'`` to
the 16-bit HDR ``I_H`` (tone mapping, bit expansion). Both stages: a 3x3 input conv to ``nf``
channels, the RDABs, a 1x1 output conv to 3 channels, plus the stage input, then ReLU
(``out = relu(conv_out(f) + x)``; the paper's counts 555,655 / 278,821 fix the 1x1 output conv).
The stages are trained jointly but without gradient between them (stage II sees stage I's output
detached), see :meth:`TwoStageHDR.forward_stages`.

Domain: NTIRE 2021 gamma 2.24. The LDR input is used as is (camera-encoded image); stage I's output
is the enhanced image in [0, 1] (ReLU bounds it below only) in the gamma domain; stage II's output
is the gamma-encoded HDR (may exceed 1). The public output is ``clamp(stage2, 0) ** 2.24``.
"""

from __future__ import annotations

import torch
from torch import nn

from hdrlift.errors import ModelError
from hdrlift.models.base import HDRModel, ModelSpec, SizeRequirements
from hdrlift.nn.rdab import RDAB
from hdrlift.ops.transfer import NTIRE_GAMMA

_PAPER = "Sharif et al., A Two-stage Deep Network for High Dynamic Range Image Reconstruction, CVPRW 2021"
_DOMAIN = (
    "NTIRE gamma 2.24: LDR input used as the camera-encoded image; stage I -> enhanced [0,1] image, "
    "stage II -> gamma-encoded HDR; public output clamp(stage2, 0) ** 2.24"
)
_RESIDUALS = ("paper", "released")
#: released code's RDB ``mFactor`` per stage and its RRDB outer factor (``residual="released"``)
_RELEASED_DENSE_SCALE = (0.2, 0.5)
_RELEASED_OUTER_SCALE = 0.8


class TwoStageStage(nn.Module):
    """One stage: ``relu(conv1x1(RDAB^n(conv3x3(x))) + x)``.

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), >= 0
    """

    def __init__(
        self, nf: int, gc: int, n_blocks: int, dense_scale: float, outer_scale: float | None
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, nf, 3, 1, 1)
        self.blocks = nn.Sequential(*[RDAB(nf, gc, dense_scale, outer_scale) for _ in range(n_blocks)])
        self.conv_out = nn.Conv2d(nf, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv_out(self.blocks(self.conv_in(x))) + x)


def twostage_receptive_field(n_blocks1: int, n_blocks2: int) -> int:
    """Half-width of the receptive field: per stage 1 (3x3 input conv) + 5 per RDAB (five chained
    3x3 convs in the dense branch; the attention branch, a 7x7 map times a 3x3 conv, reaches 3);
    the 1x1 output conv and the input skip add nothing. Checked by perturbation in the tests."""
    return (1 + RDAB.receptive_field() * n_blocks1) + (1 + RDAB.receptive_field() * n_blocks2)


class TwoStageHDR(HDRModel):
    """Two-stage RDAB network; ``forward`` returns stage II's output converted to linear HDR.

    Args:
        nf: feature channels (paper 64).
        gc: growth channels of the dense blocks (64 -> 32 per conv; fixed by the paper's counts).
        n_blocks1: RDABs in stage I (paper 2).
        n_blocks2: RDABs in stage II (paper 1).
        residual: ``"paper"``: ``R(x) = x + c5`` (RDB of RDN, no scaling); ``"released"``: the authors'
            code, ``R(x) = x + 0.8 (x + m c5)`` with ``m`` = 0.2 (stage I) / 0.5 (stage II).

    Shape:
        ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1], any H, W -> (B, 3, H, W) linear HDR >= 0.
    """

    arch = "twostage"
    inside_domain = _DOMAIN

    def __init__(
        self,
        nf: int = 64,
        gc: int = 32,
        n_blocks1: int = 2,
        n_blocks2: int = 1,
        residual: str = "paper",
    ) -> None:
        if residual not in _RESIDUALS:
            raise ModelError(f"twostage: residual must be one of {_RESIDUALS}, got '{residual}'")
        if nf < 1 or gc < 1 or n_blocks1 < 0 or n_blocks2 < 0:
            raise ModelError("twostage: nf, gc must be >= 1 and block counts >= 0")
        super().__init__(nf=int(nf), gc=int(gc), n_blocks1=int(n_blocks1), n_blocks2=int(n_blocks2),
                         residual=residual)
        if residual == "paper":
            scales: list[tuple[float, float | None]] = [(1.0, None), (1.0, None)]
        else:
            scales = [(s, _RELEASED_OUTER_SCALE) for s in _RELEASED_DENSE_SCALE]
        self.stage1 = TwoStageStage(nf, gc, n_blocks1, *scales[0])
        self.stage2 = TwoStageStage(nf, gc, n_blocks2, *scales[1])

    @property
    def receptive_field(self) -> int:
        """Half-width (pixels) of the context an output pixel depends on, for this instance's block counts
        (the runtime's tile context, :func:`hdrlift.inference.strategies.size_requirements`)."""
        return twostage_receptive_field(self.hparams["n_blocks1"], self.hparams["n_blocks2"])

    def forward_stages(self, ldr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both stage outputs in the inside (NTIRE gamma) domain, for training.

        Stage II's input is stage I's output **detached**: no gradient flows between the stages
        (paper sec. 3.2; each stage has its own loss).

        Shape:
            ldr: (B, 3, H, W) camera-encoded LDR in [0, 1]
            -> (stage1, stage2): (B, 3, H, W) each; stage1 = enhanced 8-bit-range image (target in
            [0, 1]), stage2 = gamma-encoded 16-bit HDR (>= 0).
        """
        out1 = self.stage1(ldr)
        out2 = self.stage2(out1.detach())
        return out1, out2

    def forward_gamma(self, ldr: torch.Tensor) -> torch.Tensor:
        """Stage II output (gamma-encoded HDR, >= 0) without the detach (inference path).

        The paper network as a module graph (training, export, the reference of the inference kernel in
        :mod:`hdrlift.kernels.twostage`).

        Shape:
            (B, 3, H, W) -> (B, 3, H, W)
        """
        return self.stage2(self.stage1(ldr))

    @staticmethod
    def inner_to_hdr(h: torch.Tensor) -> torch.Tensor:
        """Gamma-encoded stage II output -> linear HDR ``clamp(h, 0) ** 2.24`` (1.0 = clipping level).

        Shape:
            any -> same
        """
        return h.clamp(min=0.0) ** NTIRE_GAMMA

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Public contract: sRGB-encoded LDR (B,3,H,W) in [0,1] -> linear HDR >= 0 (1.0 = clipping)."""
        return self.inner_to_hdr(self.forward_gamma(ldr))

    def stage_parameters(self) -> tuple[int, int]:
        """Parameter counts of stage I and stage II."""
        return (sum(p.numel() for p in self.stage1.parameters()),
                sum(p.numel() for p in self.stage2.parameters()))


_FULL = {"nf": 64, "gc": 32, "n_blocks1": 2, "n_blocks2": 1, "residual": "paper"}
_TINY = {"nf": 8, "gc": 4, "n_blocks1": 1, "n_blocks2": 1, "residual": "paper"}

SPECS = [
    ModelSpec(
        name="twostage",
        cls=TwoStageHDR,
        paper=_PAPER,
        description="two-stage RDAB network (stage I 2 RDAB, stage II 1 RDAB; 834,476 params), NTIRE gamma",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=1, receptive_field=twostage_receptive_field(2, 1)),
        hparams=_FULL,
    ),
    ModelSpec(
        name="twostage_tiny",
        cls=TwoStageHDR,
        paper=_PAPER,
        description="two-stage test variant (nf 8, gc 4, one RDAB per stage)",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=1, receptive_field=twostage_receptive_field(1, 1)),
        hparams=_TINY,
    ),
]
