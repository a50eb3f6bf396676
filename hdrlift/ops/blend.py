"""Confidence-weighted blending of a network's HDR with the plain sRGB decoding of the photo.

Where the photo is well exposed its pixels already say what the light was, up to the camera curve;
where it clips they say nothing. HDR-CNN (Eilertsen et al., SIGGRAPH Asia 2017) therefore uses the
network only near saturation: ``out = (1 - a) * f^-1(x) + a * net``, with ``a`` ramping from 0 at a
threshold ``tau`` of the max channel to 1 at the clipping level. hdrlift generalises this with a
mid-tone weight ``mid``: below the ramp the result is ``lin * (net / lin) ** mid``, a geometric mix of
the decoded photo (``mid = 0``, the HDR-CNN rule) and the network (``mid = 1``, the network alone).

A weight declares its blend in its checkpoint (``meta.output_blend = {"tau": ..., "mid": ...}``,
chosen on the generalisation suite of :mod:`hdrlift.inference.suite`); the runtime applies it unless
told ``--blend none``.
"""

from __future__ import annotations

import torch

from hdrlift.ops.transfer import srgb_to_linear

_EPS = 1e-6


def blend_weight(ldr_srgb: torch.Tensor, tau: float) -> torch.Tensor:
    """HDR-CNN's per-pixel weight of the network: ``clamp((max_c x - tau) / (1 - tau), 0, 1)``.

    Domain: sRGB-encoded LDR in [0, 1].

    Shape:
        (..., 3, H, W) -> (..., 1, H, W)
    """
    if not 0.0 <= tau < 1.0:
        raise ValueError(f"blend tau must lie in [0, 1), got {tau}")
    m = ldr_srgb.amax(dim=-3, keepdim=True)
    return ((m - tau) / (1.0 - tau)).clamp(0.0, 1.0)


def blend_with_decoded(ldr_srgb: torch.Tensor, hdr: torch.Tensor, tau: float = 0.9, mid: float = 0.0) -> torch.Tensor:
    """Blend a reconstruction with the sRGB decoding of its input (see the module docstring).

    Domain: ``ldr_srgb`` sRGB-encoded LDR in [0, 1]; ``hdr`` and the result linear HDR (1.0 = clipping).

    Shape:
        (..., 3, H, W), (..., 3, H, W) -> (..., 3, H, W)
    """
    if not 0.0 <= mid <= 1.0:
        raise ValueError(f"blend mid must lie in [0, 1], got {mid}")
    x = ldr_srgb.to(hdr.dtype).clamp(0.0, 1.0)
    lin = srgb_to_linear(x)
    net = hdr.clamp(min=0.0)
    if mid == 1.0:
        base = net
    elif mid == 0.0:
        base = lin
    else:
        base = lin * ((net + _EPS) / (lin + _EPS)) ** mid
    a = blend_weight(x, tau)
    return base + a * (net - base)
