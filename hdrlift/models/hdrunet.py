"""HDRUNet (Chen, Liu, Zhang, Qiao, Dong — CVPRW 2021): UNet + SFT condition network + weighting net.

Paper eq. 2: ``H = W(I) * I + G(I)`` where ``G`` is a UNet-like base network (stride-2 conv down,
pixel-shuffle up, residual blocks at each level) whose features are modulated by SFT maps of size
C x H x W predicted by a condition network at three scales, and ``W`` is a weighting network.

Domain: NTIRE 2021 gamma 2.24. The model takes the camera-encoded LDR as is (the NTIRE LDR inputs are
the 8-bit gamma-encoded images) and predicts the gamma-encoded HDR ``H``; the public output is
``clamp(H, 0) ** 2.24``, which keeps 1.0 at the camera's clipping level. Train on ``forward_gamma``
(Tanh-L1 against the gamma-encoded target, as in the paper).

Official weights (``chxy95/HDRUNet``) load through :func:`load_official_pth`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError, one_line
from hdrlift.models.base import HDRModel, ModelSpec, SizeRequirements
from hdrlift.nn.export import DynamicPad
from hdrlift.nn.sft import SFTLayer, SFTResTrunk
from hdrlift.ops.padding import crop_to, pad_to_multiple
from hdrlift.ops.transfer import NTIRE_GAMMA

_PAPER = "Chen et al., HDRUNet: Single Image HDR Reconstruction with Denoising and Dequantization, CVPRW 2021"
_DOMAIN = (
    "NTIRE gamma 2.24: LDR input used as the camera-encoded image; inside output H is gamma-encoded HDR; "
    "public output clamp(H, 0) ** 2.24"
)
_CONDITIONS = ("image", "gradient")
_ACTS = ("relu", "leakyrelu")


def _make_act(act: str) -> nn.Module:
    return nn.ReLU() if act == "relu" else nn.LeakyReLU(0.1)


def scharr_condition(ldr: torch.Tensor) -> torch.Tensor:
    """Gradient condition map: per channel ``0.5 |Scharr_x| + 0.5 |Scharr_y|`` (kernels / 16).

    Reflect border (OpenCV's default). Normalised kernels keep the map in [0, 1] for inputs in [0, 1].

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """
    k = torch.tensor([[-3.0, 0.0, 3.0], [-10.0, 0.0, 10.0], [-3.0, 0.0, 3.0]], dtype=ldr.dtype,
                     device=ldr.device) / 16.0
    c = ldr.shape[1]
    weight = torch.stack([k, k.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
    mode = "reflect" if min(ldr.shape[-2:]) > 1 else "replicate"
    g = F.conv2d(F.pad(ldr, (1, 1, 1, 1), mode=mode), weight, groups=c)
    g = g.abs().view(ldr.shape[0], c, 2, *ldr.shape[-2:])
    return 0.5 * g[:, :, 0] + 0.5 * g[:, :, 1]


def hdrunet_receptive_field(blocks: Sequence[int]) -> int:
    """Half-width (input pixels) of the region one output pixel of :class:`HDRUNet` depends on.

    Longest path, each 3x3 conv adding its half-width times the resolution step of its level:
    full resolution conv_first, hr_conv1, hr_conv2, conv_last (4 x 1) and down_conv1 (1);
    1/2 level: 2 convs per residual block of levels 1 and 3 (x2), down_conv2 and up_conv2 (x2);
    1/4 level: 2 convs per block of level 2 and up_conv1 (x4). The stride-2 convs and pixel
    shuffles add an asymmetric offset of at most 1 (at 1/2) + 2 (at 1/4) pixels. The condition
    network (at most 4 px at full resolution plus its stride offsets) feeds the SFT layers on the
    same path, so it never exceeds this. Checked by perturbation in the tests.
    """
    n1, n2, n3 = (int(b) for b in blocks)
    full = 4 + 1
    half = 2 * (2 * (n1 + n3) + 2)
    quarter = 4 * (2 * n2 + 1)
    return full + half + quarter + 3


class _ConditionNet(nn.Module):
    """Condition maps at 1, 1/2 and 1/4 resolution (each ``nf // 2`` channels)."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        cf, co = nf, nf // 2
        lrelu = nn.LeakyReLU(0.1)
        self.stem = nn.Sequential(nn.Conv2d(3, cf, 3, 1, 1), lrelu, nn.Conv2d(cf, cf, 1), lrelu,
                                  nn.Conv2d(cf, cf, 1), lrelu)
        self.level1 = nn.Sequential(nn.Conv2d(cf, cf, 1), lrelu, nn.Conv2d(cf, co, 1))
        self.level2 = nn.Sequential(nn.Conv2d(cf, cf, 3, 2, 1), lrelu, nn.Conv2d(cf, co, 1))
        self.level3 = nn.Sequential(nn.Conv2d(cf, cf, 3, 2, 1), lrelu, nn.Conv2d(cf, co, 3, 2, 1))

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.stem(cond)
        return self.level1(c), self.level2(c), self.level3(c)


class HDRUNet(HDRModel):
    """HDRUNet: base UNet ``G`` with SFT modulation + weighting network ``W``; ``H = W*I + G(I)``.

    Args:
        nf: feature channels of the base and weighting networks (condition maps: ``nf // 2``).
        blocks: SFT residual blocks at the 1/2 (encoder), 1/4 (bottleneck) and 1/2 (decoder) levels.
        act: ``"relu"`` or ``"leakyrelu"`` (slope 0.1) in the base network.
        condition: input of the condition network: ``"image"`` (the LDR itself, paper default) or
            ``"gradient"`` (:func:`scharr_condition` of the LDR).

    Shape:
        ldr: (B, 3, H, W) sRGB-encoded LDR in [0, 1], any H, W (padded to a multiple of 4 inside)
        -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping level).
    """

    arch = "hdrunet"
    inside_domain = _DOMAIN

    def __init__(
        self,
        nf: int = 64,
        blocks: Sequence[int] = (2, 8, 2),
        act: str = "relu",
        condition: str = "image",
    ) -> None:
        blocks = [int(b) for b in blocks]
        if len(blocks) != 3 or min(blocks) < 0:
            raise ModelError(f"hdrunet: blocks must be three counts >= 0, got {blocks}")
        if act not in _ACTS:
            raise ModelError(f"hdrunet: act must be one of {_ACTS}, got '{act}'")
        if condition not in _CONDITIONS:
            raise ModelError(f"hdrunet: condition must be one of {_CONDITIONS}, got '{condition}'")
        if nf < 2 or nf % 2:
            raise ModelError(f"hdrunet: nf must be an even number >= 2, got {nf}")
        super().__init__(nf=int(nf), blocks=blocks, act=act, condition=condition)
        self.condition = condition
        nc = nf // 2
        self.act = _make_act(act)
        # weighting network W (full resolution)
        relu = nn.ReLU()
        self.weight_net = nn.Sequential(nn.Conv2d(3, nf, 3, 1, 1), relu, nn.Conv2d(nf, nf, 3, 1, 1), relu,
                                        nn.Conv2d(nf, nf, 1), relu, nn.Conv2d(nf, 3, 1))
        self.cond_net = _ConditionNet(nf)
        # base network G
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.sft_first = SFTLayer(nc, nf, nc)
        self.hr_conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.down_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.down_conv2 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.trunk1 = SFTResTrunk(blocks[0], nf, nc, self.act)
        self.trunk2 = SFTResTrunk(blocks[1], nf, nc, self.act)
        self.trunk3 = SFTResTrunk(blocks[2], nf, nc, self.act)
        self.up_conv1 = nn.Sequential(nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2))
        self.up_conv2 = nn.Sequential(nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2))
        self.sft_last = SFTLayer(nc, nf, nc)
        self.hr_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal (fan_in) for every conv, zero biases (paper, sec. 4.1); the convs of the
        residual blocks are additionally scaled by 0.1 (authors' code; keeps the trunk near identity)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
                assert m.bias is not None
                nn.init.zeros_(m.bias)
        for trunk in (self.trunk1, self.trunk2, self.trunk3):
            for block in trunk:
                block.conv1.weight.data.mul_(0.1)
                block.conv2.weight.data.mul_(0.1)

    def forward_gamma(self, ldr: torch.Tensor) -> torch.Tensor:
        """Inside-domain prediction ``H = W(I) * I + G(I)`` (gamma-encoded HDR, unbounded, may be < 0).

        The paper network as a module graph (training, export, the reference of every inference kernel
        in :mod:`hdrlift.kernels.hdrunet`).

        Shape:
            ldr: (B, 3, H, W) camera-encoded LDR in [0, 1] -> (B, 3, H, W) gamma-encoded HDR
        """
        x, size = pad_to_multiple(ldr, 4)
        cond_in = x if self.condition == "image" else scharr_condition(x)
        weight = self.weight_net(x)
        cond1, cond2, cond3 = self.cond_net(cond_in)
        act = self.act
        fea0 = act(self.conv_first(x))
        fea0 = act(self.hr_conv1(self.sft_first(fea0, cond1)))
        fea1 = act(self.down_conv1(fea0))
        fea1 = self.trunk1(fea1, cond2)
        fea2 = act(self.down_conv2(fea1))
        out = self.trunk2(fea2, cond3) + fea2
        out = act(self.up_conv1(out)) + fea1
        out = self.trunk3(out, cond2)
        out = act(self.up_conv2(out)) + fea0
        out = act(self.hr_conv2(self.sft_last(out, cond1)))
        out = self.conv_last(out)
        return crop_to(weight * x + out, size)

    @staticmethod
    def inner_to_hdr(h: torch.Tensor) -> torch.Tensor:
        """Gamma-encoded HDR ``H`` -> linear HDR ``clamp(H, 0) ** 2.24`` (1.0 = clipping level).

        Shape:
            any -> same
        """
        return h.clamp(min=0.0) ** NTIRE_GAMMA

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        """Public contract: sRGB-encoded LDR (B,3,H,W) in [0,1] -> linear HDR >= 0 (1.0 = clipping)."""
        return self.inner_to_hdr(self.forward_gamma(ldr))

    @property
    def receptive_field(self) -> int:
        """Half-width (pixels) of the context an output pixel depends on, for this instance's ``blocks``
        (the runtime's tile context, :func:`hdrlift.inference.strategies.size_requirements`)."""
        return hdrunet_receptive_field(self.hparams["blocks"])

    def export_module(self) -> nn.Module:
        """Exportable form: reflect padding to the multiple of 4 with shape-dependent ops
        (:class:`~hdrlift.nn.export.DynamicPad`; the model's own Python padding is then a no-op), output
        cropped back.

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0
        """
        return DynamicPad(self, 4)


# --------------------------------------------------------------------------------------------------
# Official checkpoint conversion (chxy95/HDRUNet, BasicSR layout)

#: (official key prefix regex, hdrlift replacement), applied to the first match.
_KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"^mask_est\.", "weight_net."),
    (r"^cond_first\.", "cond_net.stem."),
    (r"^CondNet([123])\.", r"cond_net.level\1."),
    (r"^SFT_layer1\.", "sft_first."),
    (r"^SFT_layer2\.", "sft_last."),
    (r"^HR_conv([12])\.", r"hr_conv\1."),
    (r"^recon_trunk([123])\.", r"trunk\1."),
)
_SFT_MAP = ((r"SFT_scale_conv([01])\.", r"scale_conv\1."), (r"SFT_shift_conv([01])\.", r"shift_conv\1."))


def convert_official_key(key: str) -> str:
    """Map one key of the official state dict (``module.`` prefix allowed) to this implementation."""
    if key.startswith("module."):
        key = key[len("module."):]
    for pattern, repl in _KEY_MAP:
        new, n = re.subn(pattern, repl, key)
        if n:
            key = new
            break
    for pattern, repl in _SFT_MAP:
        key = re.sub(pattern, repl, key)
    return key


def convert_official_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official HDRUNet state dict (reference-code.md 2.1 key layout) to :class:`HDRUNet`'s.

    Unchanged names (``conv_first``, ``down_conv1/2``, ``up_conv1/2.0``, ``conv_last``) pass through.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        new = convert_official_key(key)
        if new in out:
            raise ModelError(f"official HDRUNet state dict: duplicate key after conversion: '{new}'")
        out[new] = value
    return out


def _infer_hparams(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    if "conv_first.weight" not in sd:
        raise ModelError("not an HDRUNet state dict (no 'conv_first.weight')")
    nf = int(sd["conv_first.weight"].shape[0])
    blocks = []
    for level in (1, 2, 3):
        idx = {int(m.group(1)) for k in sd if (m := re.match(rf"trunk{level}\.(\d+)\.", k))}
        blocks.append(max(idx) + 1 if idx else 0)
    return {"nf": nf, "blocks": blocks}


def load_official_pth(path: str | os.PathLike, condition: str = "image", act: str = "relu") -> HDRUNet:
    """Build an :class:`HDRUNet` from the authors' ``.pth`` (``torch.load(..., weights_only=True)``).

    ``condition`` must match what the weights were trained with (the released model: ``"image"``).
    Returns the model in eval mode; raises :class:`ModelError` on unreadable or mismatching files.
    """
    try:
        raw = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: file not found") from None
    except Exception as exc:  # pickle / zip errors of many kinds
        raise ModelError(f"{path}: not a loadable PyTorch weights file ({one_line(exc)})") from None
    if isinstance(raw, dict):
        for wrapper in ("params", "state_dict", "model"):
            if isinstance(raw.get(wrapper), dict):
                raw = raw[wrapper]
                break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ModelError(f"{path}: does not hold a state dict of tensors")
    sd = convert_official_state_dict(raw)
    from hdrlift.nn.state import check_state_shapes

    hp = _infer_hparams(sd)
    model = HDRUNet(condition=condition, act=act, **hp)
    check_state_shapes(path, {k: v.shape for k, v in sd.items()}, model.state_dict(),
                       f"HDRUNet nf={hp['nf']} blocks={hp['blocks']}")
    model.load_state_dict(sd, strict=True)
    return model.eval()


_FULL: dict[str, Any] = {"nf": 64, "blocks": [2, 8, 2], "act": "relu", "condition": "image"}
_TINY: dict[str, Any] = {"nf": 8, "blocks": [1, 1, 1], "act": "relu", "condition": "image"}

SPECS = [
    ModelSpec(
        name="hdrunet",
        cls=HDRUNet,
        paper=_PAPER,
        description="UNet + SFT condition network + weighting network (1.65 M params), NTIRE gamma domain",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=4, receptive_field=hdrunet_receptive_field(_FULL["blocks"])),
        hparams=_FULL,
    ),
    ModelSpec(
        name="hdrunet_tiny",
        cls=HDRUNet,
        paper=_PAPER,
        description="HDRUNet test variant (nf 8, one block per level)",
        domain=_DOMAIN,
        size=SizeRequirements(multiple=4, receptive_field=hdrunet_receptive_field(_TINY["blocks"])),
        hparams=_TINY,
    ),
]
