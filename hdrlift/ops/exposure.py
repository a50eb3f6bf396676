"""Exposure and percentile normalisation of linear HDR (torch).

HDR files have arbitrary absolute scale; these helpers bring them to a reference exposure.
"""

from __future__ import annotations

import torch

from hdrlift.ops.transfer import luminance


def exposure_scale(hdr_lin: torch.Tensor, method: str = "median", target: float = 0.18,
                   percentile: float = 99.0) -> torch.Tensor:
    """Per-image factor that maps the image's median (or ``percentile``-th percentile) luminance to ``target``.

    Only positive luminances count for the median. Returns shape (B, 1, 1, 1).

    Shape:
        (B, 3, H, W) linear -> (B, 1, 1, 1)
    """
    lum = luminance(hdr_lin.clamp(min=0.0)).flatten(1)
    out = []
    for row in lum:
        if method == "median":
            pos = row[row > 0]
            v = pos.median() if pos.numel() else row.new_tensor(1.0)
        elif method == "percentile":
            v = torch.quantile(row.float(), percentile / 100.0)
        else:
            raise ValueError(f"unknown exposure method {method!r}; use 'median' or 'percentile'")
        out.append(target / v.clamp(min=1e-12))
    return torch.stack(out).view(-1, 1, 1, 1).to(hdr_lin.dtype)


def normalize_exposure(hdr_lin: torch.Tensor, method: str = "median", target: float = 0.18,
                       percentile: float = 99.0) -> torch.Tensor:
    """``hdr_lin * exposure_scale(...)``: e.g. median luminance 0.18, or the 99th percentile at 1.0.

    Shape:
        (B, 3, H, W) linear -> same
    """
    return hdr_lin * exposure_scale(hdr_lin, method, target, percentile)
