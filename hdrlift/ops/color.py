"""Colour spaces and colour difference (torch, differentiable).

Linear sRGB / Rec.709 primaries (D65) <-> CIE XYZ <-> CIELAB, and the CIEDE2000 colour difference
(Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes, supplementary
test data, and mathematical observations", Color Res. Appl. 30(1), 2005).

The channel axis is ``dim`` (default -3, i.e. (..., 3, H, W)). Linear RGB may exceed 1 (HDR):
XYZ and Lab are then simply beyond the white point (L* > 100), which CIEDE2000 accepts.
"""

from __future__ import annotations

import torch

from hdrlift.ops.transfer import srgb_to_linear

#: Linear sRGB (Rec.709 primaries, D65) -> CIE XYZ (IEC 61966-2-1 derived matrix).
RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
#: CIE XYZ tristimulus of the D65 white (Y = 1).
D65_WHITE = (0.95047, 1.0, 1.08883)

_DELTA = 6.0 / 29.0
_25_POW_7 = 25.0**7


def _apply_matrix(x: torch.Tensor, m: torch.Tensor, dim: int) -> torch.Tensor:
    xm = x.movedim(dim, -1)
    return (xm @ m.to(dtype=x.dtype, device=x.device).T).movedim(-1, dim)


def rgb_to_xyz(rgb_lin: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Linear sRGB/Rec.709 (D65) -> CIE XYZ (Y = luminance, 1 for RGB white).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    return _apply_matrix(rgb_lin, torch.tensor(RGB_TO_XYZ, dtype=torch.float64), dim)


def xyz_to_rgb(xyz: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """CIE XYZ -> linear sRGB/Rec.709 (no clipping; out-of-gamut colours give negative values).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    inv = torch.linalg.inv(torch.tensor(RGB_TO_XYZ, dtype=torch.float64))
    return _apply_matrix(xyz, inv, dim)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    lin = t / (3 * _DELTA**2) + 4.0 / 29.0
    cube = t.clamp(min=_DELTA**3) ** (1.0 / 3.0)
    return torch.where(t > _DELTA**3, cube, lin)


def _lab_f_inv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0))


def xyz_to_lab(xyz: torch.Tensor, dim: int = -3, white: tuple[float, float, float] = D65_WHITE) -> torch.Tensor:
    """CIE XYZ -> CIELAB (L* in [0, 100] for Y in [0, 1]; larger for HDR values).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    x, y, z = xyz.unbind(dim)
    fx, fy, fz = _lab_f(x / white[0]), _lab_f(y / white[1]), _lab_f(z / white[2])
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim)


def lab_to_xyz(lab: torch.Tensor, dim: int = -3, white: tuple[float, float, float] = D65_WHITE) -> torch.Tensor:
    """CIELAB -> CIE XYZ (inverse of :func:`xyz_to_lab`).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    lum, a, b = lab.unbind(dim)
    fy = (lum + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    return torch.stack([white[0] * _lab_f_inv(fx), white[1] * _lab_f_inv(fy), white[2] * _lab_f_inv(fz)], dim)


def rgb_to_lab(rgb_lin: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Linear sRGB (D65) -> CIELAB (negative RGB clamped to 0).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    return xyz_to_lab(rgb_to_xyz(rgb_lin.clamp(min=0.0), dim), dim)


def lab_to_rgb(lab: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """CIELAB -> linear sRGB (D65), unclipped.

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    return xyz_to_rgb(lab_to_xyz(lab, dim), dim)


def srgb_to_lab(ldr_srgb: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """sRGB-encoded display values -> CIELAB (what ``skimage.color.rgb2lab`` computes).

    Shape:
        (..., 3, H, W) -> (..., 3, H, W) for dim=-3
    """
    return rgb_to_lab(srgb_to_linear(ldr_srgb), dim)


def _safe_hue(b: torch.Tensor, a: torch.Tensor, eps: float) -> torch.Tensor:
    """atan2(b, a) in degrees [0, 360), with a finite gradient at a = b = 0."""
    tiny = (a * a + b * b) <= eps
    a_safe = torch.where(tiny, torch.full_like(a, 1.0), a)
    b_safe = torch.where(tiny, torch.zeros_like(b), b)
    h = torch.rad2deg(torch.atan2(b_safe, a_safe))
    return torch.remainder(h, 360.0)


def ciede2000(
    lab1: torch.Tensor,
    lab2: torch.Tensor,
    dim: int = -3,
    k_l: float = 1.0,
    k_c: float = 1.0,
    k_h: float = 1.0,
    eps: float = 1e-12,
) -> torch.Tensor:
    """CIEDE2000 colour difference ΔE00 between two CIELAB tensors (Sharma et al. 2005).

    Differentiable everywhere: square roots get ``eps`` added, the hue angle of achromatic
    colours (a' = b = 0) is defined as 0 with a zero gradient, and the hue-wrap case analysis
    (|h1' - h2'| > 180 deg) selects between branches that are all finite. Values equal the
    published formula up to ~sqrt(eps).

    Shape:
        (..., 3, H, W), (..., 3, H, W) -> (..., H, W) for dim=-3
    """
    l1, a1, b1 = lab1.unbind(dim)
    l2, a2, b2 = lab2.unbind(dim)

    c1 = torch.sqrt(a1 * a1 + b1 * b1 + eps)
    c2 = torch.sqrt(a2 * a2 + b2 * b2 + eps)
    c_bar = (c1 + c2) / 2
    g = 0.5 * (1.0 - c_bar**3.5 / torch.sqrt(c_bar**7 + _25_POW_7))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p_sq = a1p * a1p + b1 * b1
    c2p_sq = a2p * a2p + b2 * b2
    c1p = torch.sqrt(c1p_sq + eps)
    c2p = torch.sqrt(c2p_sq + eps)
    h1p = _safe_hue(b1, a1p, eps)
    h2p = _safe_hue(b2, a2p, eps)

    # Achromatic pair: C1' C2' == 0 (up to eps) -> hue difference 0, mean hue h1' + h2'.
    achromatic = (c1p_sq * c2p_sq) <= eps * eps
    dl = l2 - l1
    dc = c2p - c1p
    dh_raw = h2p - h1p
    dh = torch.where(dh_raw > 180.0, dh_raw - 360.0, torch.where(dh_raw < -180.0, dh_raw + 360.0, dh_raw))
    dh = torch.where(achromatic, torch.zeros_like(dh), dh)
    d_hue = 2.0 * torch.sqrt(c1p * c2p + eps) * torch.sin(torch.deg2rad(dh) / 2.0)

    l_bar = (l1 + l2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    wrap = (h1p - h2p).abs() > 180.0
    h_bar = torch.where(wrap, torch.where(h_sum < 360.0, (h_sum + 360.0) / 2, (h_sum - 360.0) / 2), h_sum / 2)
    h_bar = torch.where(achromatic, h_sum, h_bar)

    t = (
        1.0
        - 0.17 * torch.cos(torch.deg2rad(h_bar - 30.0))
        + 0.24 * torch.cos(torch.deg2rad(2.0 * h_bar))
        + 0.32 * torch.cos(torch.deg2rad(3.0 * h_bar + 6.0))
        - 0.20 * torch.cos(torch.deg2rad(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * torch.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    r_c = 2.0 * c_bar_p**3.5 / torch.sqrt(c_bar_p**7 + _25_POW_7)
    l50 = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / torch.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -torch.sin(torch.deg2rad(2.0 * d_theta)) * r_c

    tl = dl / (k_l * s_l)
    tc = dc / (k_c * s_c)
    th = d_hue / (k_h * s_h)
    return torch.sqrt((tl * tl + tc * tc + th * th + r_t * tc * th).clamp(min=0.0) + eps)


def delta_e2000_rgb(rgb1_lin: torch.Tensor, rgb2_lin: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """CIEDE2000 between two linear sRGB images (per pixel).

    Shape:
        (..., 3, H, W), (..., 3, H, W) -> (..., H, W) for dim=-3
    """
    return ciede2000(rgb_to_lab(rgb1_lin, dim), rgb_to_lab(rgb2_lin, dim), dim)


__all__ = [
    "D65_WHITE",
    "RGB_TO_XYZ",
    "ciede2000",
    "delta_e2000_rgb",
    "lab_to_rgb",
    "lab_to_xyz",
    "rgb_to_lab",
    "rgb_to_xyz",
    "srgb_to_lab",
    "xyz_to_lab",
    "xyz_to_rgb",
]
