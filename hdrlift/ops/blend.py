"""Confidence-weighted blending of a network's HDR with the plain sRGB decoding of the photo.

Where the photo is well exposed its pixels already say what the light was, up to the camera curve;
where it clips they say nothing. HDR-CNN (Eilertsen et al., SIGGRAPH Asia 2017) therefore uses the
network only near saturation: ``out = (1 - a) * f^-1(x) + a * net``, with ``a`` ramping from 0 at a
threshold ``tau`` of the max channel to 1 at the clipping level. hdrlift generalises this with a
mid-tone weight ``mid``: below the ramp the result is ``lin * (net / lin) ** mid``, a geometric mix of
the decoded photo (``mid = 0``, the HDR-CNN rule) and the network (``mid = 1``, the network alone).

With ``sigma > 0`` the mix acts on the *local tone* only: ``base = net * (G lin / G net) ** (1 - mid)``,
``G`` a Gaussian blur of ``sigma`` pixels, so the network's fine detail (its denoising) is kept while
the local brightness follows the photo (``sigma = 0`` is the per-pixel rule above, the same formula).
``detail`` in [0, 1] (per image) weighs the two: ``base = pixel ** (1 - detail) * local ** detail`` with
``pixel`` the per-pixel rule and ``local`` the rule with ``sigma``; 1 (the default) is the ``sigma`` rule,
0 the per-pixel one. A camera estimator with a degradation branch (:meth:`hdrlift.models.curvenet.
CurveNet.detail_weight`) gives it per photo: a clean photo keeps its pixels, a noisy or compressed one
takes the network's restored detail (``meta.output_blend.detail = "auto"``).

A weight declares its blend in its checkpoint (``meta.output_blend = {"tau": ..., "mid": ..., "sigma": ...,
"camera": ...}``, chosen on the generalisation suite of :mod:`hdrlift.tools.suite`); the runtime
applies it unless told ``--blend none``. ``camera`` names how the photo is decoded: ``srgb`` (the
default) or a curve estimator weight (``curvenet.polyhaven``, :mod:`hdrlift.models.curvenet`) whose
per-photo curve replaces sRGB decoding in ``lin`` above (``hdrlift predict --camera``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 3 sigma, reflected borders) of every channel.

    Shape:
        (..., C, H, W) -> same
    """
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    shape = x.shape
    y = x.reshape(-1, 1, *shape[-2:])
    ry, rx = min(r, shape[-2] - 1), min(r, shape[-1] - 1)
    y = F.pad(y, (rx, rx, ry, ry), mode="reflect" if min(shape[-2:]) > 1 else "replicate")
    y = F.conv2d(y, k[r - ry : r + ry + 1].view(1, 1, -1, 1))
    y = F.conv2d(y, k[r - rx : r + rx + 1].view(1, 1, 1, -1))
    return y.reshape(shape)


def blend_with_decoded(
    ldr_srgb: torch.Tensor, hdr: torch.Tensor, tau: float = 0.9, mid: float = 0.0, sigma: float = 0.0,
    decoded: torch.Tensor | None = None, detail: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Blend a reconstruction with the decoding of its input (see the module docstring).

    ``decoded``: the photo decoded to linear by another camera curve than sRGB (e.g. the per-photo
    curve of :class:`hdrlift.models.curvenet.CurveNet`, ``--camera estimate``); default the sRGB
    decoding of ``ldr_srgb``. The ramp weight always follows the code values of ``ldr_srgb``.
    ``detail``: weight of the ``sigma`` rule against the per-pixel rule (a number, or one per image
    ``(...,)`` of the batch dimensions; only with ``sigma > 0``).

    Domain: ``ldr_srgb`` sRGB-encoded LDR in [0, 1]; ``hdr``, ``decoded`` and the result linear HDR
    (1.0 = clipping).

    Shape:
        (..., 3, H, W), (..., 3, H, W)[, (..., 3, H, W)] -> (..., 3, H, W)
    """
    if not 0.0 <= mid <= 1.0:
        raise ValueError(f"blend mid must lie in [0, 1], got {mid}")
    if sigma < 0:
        raise ValueError(f"blend sigma must be >= 0, got {sigma}")
    d = torch.as_tensor(detail, dtype=hdr.dtype, device=hdr.device)
    if bool(((d < 0) | (d > 1)).any()):
        raise ValueError(f"blend detail must lie in [0, 1], got {detail}")
    x = ldr_srgb.to(hdr.dtype).clamp(0.0, 1.0)
    lin = srgb_to_linear(x) if decoded is None else decoded.to(hdr.dtype).clamp(min=0.0)
    net = hdr.clamp(min=0.0)
    if mid == 1.0:
        base = net
    else:
        pixel = lin if mid == 0.0 else lin * ((net + _EPS) / (lin + _EPS)) ** mid
        base = pixel
        if sigma > 0 and bool((d > 0).any()):
            ratio = (gaussian_blur(lin, sigma) + _EPS) / (gaussian_blur(net, sigma) + _EPS)
            local = net * ratio ** (1.0 - mid)
            if bool((d == 1).all()):
                base = local
            else:
                dd = d.reshape(*d.shape, 1, 1, 1)
                base = torch.exp((1 - dd) * torch.log(pixel + _EPS) + dd * torch.log(local + _EPS)) - _EPS
                base = base.clamp(min=0.0)
    a = blend_weight(x, tau)
    return base + a * (net - base)
