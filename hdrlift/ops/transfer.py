"""Transfer functions between display-encoded and linear values (torch).

All functions are elementwise and differentiable where the curve is; inputs below 0 are clamped
where the curve is undefined for negative values.
"""

from __future__ import annotations

import math

import torch

#: Gamma of the NTIRE 2021 HDR challenge data (LDR inputs and 16-bit GT are encoded with it).
NTIRE_GAMMA = 2.24

_EPS = 1e-8


def srgb_to_linear(ldr_srgb: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB decoding: sRGB-encoded [0,1] -> linear [0,1].

    Shape:
        any -> same
    """
    x = ldr_srgb.clamp(min=0.0)
    curve = x.add(0.055).div_(1.055).clamp_(min=_EPS).pow_(2.4)  # in place on one new tensor (a third faster)
    return torch.where(x <= 0.04045, x / 12.92, curve)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """sRGB encoding of linear values (values above 1 keep following the curve; clamp if needed).

    Shape:
        any -> same
    """
    x = lin.clamp(min=0.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=_EPS) ** (1 / 2.4) - 0.055)


def gamma_decode(x: torch.Tensor, gamma: float = NTIRE_GAMMA) -> torch.Tensor:
    """Gamma-encoded -> linear: ``x ** gamma`` on ``x >= 0``.

    Shape:
        any -> same
    """
    return x.clamp(min=0.0) ** gamma


def gamma_encode(lin: torch.Tensor, gamma: float = NTIRE_GAMMA) -> torch.Tensor:
    """Linear -> gamma-encoded: ``lin ** (1/gamma)`` (gradient-safe at 0).

    Shape:
        any -> same
    """
    return lin.clamp(min=0.0).add(_EPS) ** (1.0 / gamma) - _EPS ** (1.0 / gamma)


def luminance(rgb_lin: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Rec.709 luminance ``0.2126 R + 0.7152 G + 0.0722 B`` of linear RGB, channel dim kept.

    Shape:
        (..., 3, H, W) -> (..., 1, H, W) for dim=-3
    """
    r, g, b = rgb_lin.unbind(dim)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b).unsqueeze(dim)


def mu_law(hdr: torch.Tensor, mu: float = 5000.0) -> torch.Tensor:
    """Plain mu-law ``log(1 + mu x) / log(1 + mu)`` for HDR already in [0, 1].

    Shape:
        any -> same
    """
    return torch.log1p(mu * hdr.clamp(min=0.0)) / math.log1p(mu)


def mu_law_tanh_norm(hdr_lin: torch.Tensor, norm: torch.Tensor | float, mu: float = 5000.0) -> torch.Tensor:
    """NTIRE 2021 tone curve ``log(1 + mu tanh(x / n)) / log(1 + mu)``.

    ``norm`` is the 99th percentile of the linear reference (see metrics.ntire).

    Shape:
        any -> same
    """
    return torch.log1p(mu * torch.tanh(hdr_lin.clamp(min=0.0) / norm)) / math.log1p(mu)


# SMPTE ST 2084 (PQ) constants
_M1 = 2610 / 16384
_M2 = 2523 / 4096 * 128
_C1 = 3424 / 4096
_C2 = 2413 / 4096 * 32
_C3 = 2392 / 4096 * 32


def pq_inverse_eotf(nits: torch.Tensor) -> torch.Tensor:
    """Absolute luminance in cd/m^2 (0..10000) -> PQ signal in [0, 1] (SMPTE ST 2084).

    Shape:
        any -> same
    """
    y = (nits.clamp(min=0.0) / 10000.0).clamp(max=1.0)
    ym = y**_M1
    return ((_C1 + _C2 * ym) / (1 + _C3 * ym)) ** _M2


def pq_eotf(signal: torch.Tensor) -> torch.Tensor:
    """PQ signal in [0, 1] -> absolute luminance in cd/m^2 (SMPTE ST 2084).

    Shape:
        any -> same
    """
    e = signal.clamp(0.0, 1.0) ** (1 / _M2)
    return 10000.0 * ((e - _C1).clamp(min=0.0) / (_C2 - _C3 * e)) ** (1 / _M1)


_HLG_A = 0.17883277
_HLG_B = 1 - 4 * _HLG_A
_HLG_C = 0.5 - _HLG_A * math.log(4 * _HLG_A)


def hlg_oetf(scene_lin: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.2100 HLG OETF: normalised scene light [0, 1] -> signal [0, 1].

    Shape:
        any -> same
    """
    e = scene_lin.clamp(0.0, 1.0)
    return torch.where(
        e <= 1 / 12,
        torch.sqrt(3 * e),
        _HLG_A * torch.log((12 * e - _HLG_B).clamp(min=_EPS)) + _HLG_C,
    )


def hlg_inverse_oetf(signal: torch.Tensor) -> torch.Tensor:
    """Inverse HLG OETF: signal [0, 1] -> normalised scene light [0, 1].

    Shape:
        any -> same
    """
    s = signal.clamp(0.0, 1.0)
    return torch.where(s <= 0.5, s * s / 3, (torch.exp((s - _HLG_C) / _HLG_A) + _HLG_B) / 12)
