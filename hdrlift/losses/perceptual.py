"""VGG feature (perceptual) loss, optionally masked (Johnson et al. 2016; DuHDR's ITNet loss_prec).

    L = sum_l w_l * mean_l( m_l * |phi_l(T(pred)) - phi_l(T(target))|^p ),   p = 1 (``"l1"``) or 2 (``"l2"``)

phi_l are VGG activations from :class:`hdrlift.nn.vgg.VGGFeatures` (own definition, frozen; weights
from a user-given torchvision-layout file - without one the VGG is randomly initialised, which
still gives a usable feature-space distance for tests but not the published behaviour). T is an
optional input transform (e.g. a mu-law tone curve for linear HDR, whose range VGG was not trained
on); inputs after T are expected in about [0, 1]. With a mask (B, 1, H, W) in [0, 1] each layer uses
the mask area-resized to its resolution and the loss is the mask-weighted mean (DuHDR weights the
VGG16 difference by the over-exposure mask and uses the squared L2 norm: ``norm="l2"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.nn.vgg import VGGFeatures

NORMS = ("l1", "l2")


class VGGPerceptualLoss(nn.Module):
    """Masked / unmasked VGG feature distance.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        layers: VGG layer names (``"relu1_2"``, ``"relu2_2"``, ...).
        layer_weights: one weight per layer (default 1 each).
        weights: optional torchvision-layout VGG weights file (nothing is downloaded).
        norm: ``"l1"`` (mean absolute difference) or ``"l2"`` (mean squared difference).
        transform: optional callable applied to both images first (e.g. a tone curve).
        normalize: ImageNet mean/std normalisation inside the VGG (for pretrained weights).

    Shape:
        (B, 3, H, W), (B, 3, H, W), optional mask (B, 1, H, W) -> ()
    """

    def __init__(
        self,
        arch: str = "vgg16",
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3"),
        layer_weights: Sequence[float] | None = None,
        weights: str | os.PathLike | None = None,
        norm: str = "l1",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; use one of {list(NORMS)}")
        if layer_weights is not None and len(layer_weights) != len(layers):
            raise ValueError(f"{len(layer_weights)} layer weights for {len(layers)} layers")
        self.vgg = VGGFeatures(arch, outputs=tuple(layers), weights=weights, normalize=normalize)
        self.vgg.eval()
        self.layers = tuple(layers)
        self.layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(layers)
        self.norm = norm
        self.transform = transform

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        super().train(mode)
        self.vgg.eval()  # the frozen VGG has no train-time behaviour; keep it in eval
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.transform is not None:
            pred, target = self.transform(pred), self.transform(target)
        fp = self.vgg(pred)
        ft = self.vgg(target)  # no graph is recorded unless the target itself requires grad
        total = pred.new_zeros(())
        for name, w in zip(self.layers, self.layer_weights):
            d = fp[name] - ft[name]
            d = d.abs() if self.norm == "l1" else d * d
            if mask is None:
                total = total + w * d.mean()
            else:
                m = F.interpolate(mask.to(d.dtype), size=d.shape[-2:], mode="area").expand_as(d)
                total = total + w * (d * m).sum() / m.sum().clamp(min=1e-8)
        return total

