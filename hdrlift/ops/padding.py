"""Padding to a size multiple and cropping back (models with down-sampling need it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims of ``x`` at the bottom/right to a multiple of ``multiple``.

    Reflect padding is used when the image is large enough, replicate otherwise.

    Shape:
        x: (B, C, H, W) -> (B, C, H', W') with H' % multiple == 0; returns also (H, W) to crop back.
    """
    h, w = x.shape[-2:]
    if multiple <= 1:
        return x, (h, w)
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    use = mode
    if mode == "reflect" and (ph >= h or pw >= w):
        use = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=use), (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the last two dims of ``x`` to ``size`` = (H, W) from the top-left corner.

    Shape:
        x: (B, C, H', W') -> (B, C, H, W)
    """
    h, w = size
    return x[..., :h, :w]
