"""ITU-R BT.2446 SDR -> HDR conversions (Report ITU-R BT.2446-1, 2021): method A and method C inverses,
plus the display-referred BT.2100 PQ / HLG mappings their outputs are delivered in.

Both methods work on a BT.2020 container and produce *display light* in cd/m^2. hdrlift's LDR input
is sRGB/BT.709-encoded, so each operator (1) decodes the code values with the display gamma
(``gamma=2.4``: BT.1886 with zero black, the Report's SDR display; ``"srgb"`` also accepted),
(2) converts linear BT.709 -> BT.2020, and at the end converts the display light back to linear
BT.709 (negatives clipped). With ``normalize=True`` (default) the cd/m^2 output is divided per
image by the median ``L_out / L_lin`` over well-exposed pixels
(:func:`hdrlift.operators.base.to_project_scale`), as for every other operator; ``normalize=False``
returns cd/m^2.

Method A inverse (Report Table 4), on BT.2020 R'G'B' = code values re-encoded with 1/gamma:

* ``Y' = 0.2627 R' + 0.6780 G' + 0.0593 B'``, ``C'b = (B' - Y') / 1.8814``, ``C'r = (R' - Y') / 1.4746``;
* ``Y'' = 255 Y'``; ``E = a1 Y''^2 + b1 Y'' + c1`` for ``Y'' <= 70`` (a1 1.8712e-5, b1 -2.7334e-3,
  c1 1.3141), else ``a2 Y''^2 + b2 Y'' + c2`` (a2 2.8305e-6, b2 -7.4622e-4, c2 1.2528);
  ``Y'_HDR = Y''^E`` (0 .. 1000; SDR white -> 1000);
* ``S_C = 1.075 Y'_HDR / Y'`` (1 where Y' = 0), ``C'b,HDR = S_C C'b``, ``C'r,HDR = S_C C'r``;
* ``R' = clip(Y'_HDR + 1.4746 C'r,HDR)``, ``G' = clip(Y'_HDR - 0.16455 C'b,HDR - 0.57135 C'r,HDR)``,
  ``B' = clip(Y'_HDR + 1.8814 C'b,HDR)`` to [0, 1000]; display light ``1000 (X' / 1000)^2.4`` cd/m^2.

Method C inverse (the inverse of method C's tone curve, Report section on method C), on linear light:

* SDR linear BT.2020 RGB in cd/m^2 (code 1.0 -> ``sdr_peak`` = 100 cd/m^2), crosstalk matrix
  ``[[1-2a, a, a], [a, 1-2a, a], [a, a, 1-2a]]`` (a = ``alpha`` = 0.05), RGB -> XYZ -> xyY;
* ``Y_HDR = Y_SDR / k1`` below ``Y_SDR,ip = 58.5``, else ``Y_HDR = Y_HDR,ip (exp((Y_SDR - k4) / k2) + k3)``
  with k1 0.83802, k2 15.09968, k3 0.74204, k4 78.99439, ``Y_HDR,ip = 58.5 / k1`` (the inverse of
  ``Y_SDR = k1 Y`` / ``k2 ln(Y / Y_HDR,ip - k3) + k4``: SDR 100 cd/m^2 -> 332.5, 118.4 -> 1000);
* x, y kept; XYZ -> RGB; inverse crosstalk matrix; negatives clipped.
"""

from __future__ import annotations

import math

import torch

from hdrlift.operators.base import check_ldr, linearize, to_project_scale
from hdrlift.ops.transfer import hlg_inverse_oetf, hlg_oetf, luminance, pq_eotf, pq_inverse_eotf


def _rgb_to_xyz(primaries: tuple[tuple[float, float], ...], white: tuple[float, float] = (0.3127, 0.3290)
                ) -> torch.Tensor:
    """RGB -> XYZ matrix from the primaries' and white's xy chromaticities (float64)."""
    p = torch.tensor([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries], dtype=torch.float64).T
    wx, wy = white
    w = torch.tensor([wx / wy, 1.0, (1 - wx - wy) / wy], dtype=torch.float64)
    return p * torch.linalg.solve(p, w)


#: BT.2020 RGB -> CIE XYZ (D65) and linear BT.709 -> BT.2020 (ITU-R BT.2087), derived from the primaries.
_M2020_XYZ = _rgb_to_xyz(((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)))
_M709_2020 = torch.linalg.solve(_M2020_XYZ, _rgb_to_xyz(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))))
_MXYZ_2020 = torch.linalg.inv(_M2020_XYZ)
_M2020_709 = torch.linalg.inv(_M709_2020)

KR, KG, KB = 0.2627, 0.6780, 0.0593
A_PARAMS = {"a1": 1.8712e-5, "b1": -2.7334e-3, "c1": 1.3141, "a2": 2.8305e-6, "b2": -7.4622e-4, "c2": 1.2528,
            "T": 70.0}
C_K1, C_K2, C_K3, C_K4 = 0.83802, 15.09968, 0.74204, 78.99439
C_Y_SDR_IP = 58.5
C_Y_HDR_IP = C_Y_SDR_IP / C_K1


def _mat(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix over the channel dim of (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", m.to(dtype=x.dtype, device=x.device), x)


def _decode(ldr: torch.Tensor, gamma: str | float) -> torch.Tensor:
    return linearize(ldr, gamma)


def _encode(lin: torch.Tensor, gamma: str | float) -> torch.Tensor:
    from hdrlift.ops.transfer import linear_to_srgb

    if gamma == "srgb":
        return linear_to_srgb(lin.clamp(0.0, 1.0))
    return lin.clamp(0.0, 1.0) ** (1.0 / float(gamma))


def method_a_luma_to_hdr(y_code: torch.Tensor) -> torch.Tensor:
    """BT.2446 method A luma expansion ``Y'_HDR = (255 Y')^E(255 Y')`` (0 .. 1000).

    Shape:
        any -> same
    """
    p = A_PARAMS
    y2 = 255.0 * y_code.clamp(0.0, 1.0)
    e1 = p["a1"] * y2 * y2 + p["b1"] * y2 + p["c1"]
    e2 = p["a2"] * y2 * y2 + p["b2"] * y2 + p["c2"]
    e = torch.where(y2 <= p["T"], e1, e2)
    return torch.where(y2 > 0, y2.clamp(min=1e-12) ** e, torch.zeros_like(y2))


def bt2446a_inverse_nits(rgb2020_code: torch.Tensor) -> torch.Tensor:
    """BT.2446 method A inverse on BT.2020 R'G'B' code values in [0, 1] -> BT.2020 display light (cd/m^2).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    r, g, b = rgb2020_code.clamp(0.0, 1.0).unbind(1)
    y = KR * r + KG * g + KB * b
    cb, cr = (b - y) / 1.8814, (r - y) / 1.4746
    yh = method_a_luma_to_hdr(y)
    sc = torch.where(y > 0, 1.075 * yh / y.clamp(min=1e-12), torch.ones_like(y))
    cbh, crh = cb * sc, cr * sc
    rh = (yh + 1.4746 * crh).clamp(0.0, 1000.0)
    gh = (yh - 0.16455 * cbh - 0.57135 * crh).clamp(0.0, 1000.0)
    bh = (yh + 1.8814 * cbh).clamp(0.0, 1000.0)
    return 1000.0 * (torch.stack([rh, gh, bh], dim=1) / 1000.0) ** 2.4


def method_c_inverse_luminance(y_sdr: torch.Tensor) -> torch.Tensor:
    """Inverse of BT.2446 method C's tone curve: SDR luminance (cd/m^2) -> HDR luminance (cd/m^2).

    Shape:
        any -> same
    """
    y = y_sdr.clamp(min=0.0)
    return torch.where(y < C_Y_SDR_IP, y / C_K1, C_Y_HDR_IP * (torch.exp((y - C_K4) / C_K2) + C_K3))


def method_c_luminance(y_hdr: torch.Tensor) -> torch.Tensor:
    """BT.2446 method C's forward tone curve (HDR cd/m^2 -> SDR cd/m^2), for tests and round trips.

    Shape:
        any -> same
    """
    y = y_hdr.clamp(min=0.0)
    return torch.where(y < C_Y_HDR_IP, C_K1 * y, C_K2 * torch.log((y / C_Y_HDR_IP - C_K3).clamp(min=1e-12)) + C_K4)


def _crosstalk(alpha: float) -> torch.Tensor:
    a = float(alpha)
    return torch.tensor([[1 - 2 * a, a, a], [a, 1 - 2 * a, a], [a, a, 1 - 2 * a]], dtype=torch.float64)


def bt2446c_inverse_nits(rgb2020_sdr_nits: torch.Tensor, alpha: float = 0.05) -> torch.Tensor:
    """BT.2446 method C inverse on linear BT.2020 SDR light (cd/m^2) -> BT.2020 HDR display light (cd/m^2).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if not 0.0 <= alpha < 1.0 / 3.0:
        raise ValueError(f"bt2446c: alpha must be in [0, 1/3), got {alpha}")
    ct = _crosstalk(alpha)
    xyz = _mat(_mat(rgb2020_sdr_nits.clamp(min=0.0), ct), _M2020_XYZ)
    s = xyz.sum(dim=1, keepdim=True)
    y = xyz[:, 1:2]
    ok = s > 1e-12
    cx = torch.where(ok, xyz[:, 0:1] / s.clamp(min=1e-12), torch.full_like(s, 0.3127))
    cy = torch.where(ok, y / s.clamp(min=1e-12), torch.full_like(s, 0.3290)).clamp(min=1e-6)
    yh = method_c_inverse_luminance(y)
    xyz_h = torch.cat([cx / cy * yh, yh, (1 - cx - cy) / cy * yh], dim=1)
    rgb = _mat(_mat(xyz_h, _MXYZ_2020), torch.linalg.inv(ct))
    return rgb.clamp(min=0.0)


def bt2446a(ldr: torch.Tensor, gamma: str | float = 2.4, normalize: bool = True) -> torch.Tensor:
    """ITU-R BT.2446 method A inverse tone mapping (SDR -> 1000 cd/m^2 HDR), see module docstring.

    Domain: sRGB/BT.709-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level; cd/m^2 BT.709
    with ``normalize=False``).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    x = check_ldr(ldr).double()
    lin709 = _decode(x, gamma)
    code2020 = _encode(_mat(lin709, _M709_2020), gamma)
    out = _mat(bt2446a_inverse_nits(code2020), _M2020_709).clamp(min=0.0)
    out = to_project_scale(out, luminance(out), luminance(linearize(x, "srgb")), x) if normalize else out
    return out.to(ldr.dtype if ldr.dtype in (torch.float32, torch.float64) else torch.float32)


def bt2446c(ldr: torch.Tensor, alpha: float = 0.05, sdr_peak: float = 100.0, gamma: str | float = 2.4,
            normalize: bool = True) -> torch.Tensor:
    """ITU-R BT.2446 method C inverse tone mapping, see module docstring.

    ``sdr_peak`` is the cd/m^2 of code value 1.0 (100: the Report's SDR display, so SDR white comes
    out at 332.5 cd/m^2; 118.4 = method C's 109 % super-white maps code 1.0 to 1000 cd/m^2).

    Domain: sRGB/BT.709-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level; cd/m^2 BT.709
    with ``normalize=False``).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    if sdr_peak <= 0:
        raise ValueError("bt2446c: sdr_peak must be positive")
    x = check_ldr(ldr).double()
    lin2020 = _mat(_decode(x, gamma), _M709_2020) * sdr_peak
    out = _mat(bt2446c_inverse_nits(lin2020, alpha), _M2020_709).clamp(min=0.0)
    out = to_project_scale(out, luminance(out), luminance(linearize(x, "srgb")), x) if normalize else out
    return out.to(ldr.dtype if ldr.dtype in (torch.float32, torch.float64) else torch.float32)


# ---------------------------------------------------------------- display-referred BT.2100 mappings


def nits_to_pq(nits: torch.Tensor) -> torch.Tensor:
    """Display light (cd/m^2) -> BT.2100 PQ signal in [0, 1] (SMPTE ST 2084 inverse EOTF).

    Shape:
        any -> same
    """
    return pq_inverse_eotf(nits)


def pq_to_nits(signal: torch.Tensor) -> torch.Tensor:
    """BT.2100 PQ signal in [0, 1] -> display light (cd/m^2).

    Shape:
        any -> same
    """
    return pq_eotf(signal)


def _y2020(x: torch.Tensor) -> torch.Tensor:
    """BT.2020 luminance over channel dim -3 (3 channels), or the values themselves (1 channel, grey)."""
    if x.dim() >= 3 and x.shape[-3] == 3:
        r, g, b = x.unbind(-3)
        return (KR * r + KG * g + KB * b).unsqueeze(-3)
    return x


def hlg_system_gamma(peak_nits: float = 1000.0) -> float:
    """BT.2100 HLG system gamma ``1.2 + 0.42 log10(L_W / 1000)`` (1.2 at 1000 cd/m^2)."""
    return 1.2 + 0.42 * math.log10(peak_nits / 1000.0)


def hlg_to_nits(signal: torch.Tensor, peak_nits: float = 1000.0) -> torch.Tensor:
    """BT.2100 HLG EOTF (black 0): signal R'G'B' in [0, 1] -> display light (cd/m^2) on a ``peak_nits`` display.

    ``F_D = L_W Y_S^(gamma - 1) E`` with E the inverse OETF, Y_S its BT.2020 luminance.

    Shape:
        (..., 3, H, W) or any grey array -> same
    """
    e = hlg_inverse_oetf(signal)
    ys = _y2020(e)
    g = hlg_system_gamma(peak_nits)
    return peak_nits * ys.clamp(min=1e-12) ** (g - 1.0) * e * (ys > 0)


def nits_to_hlg(nits: torch.Tensor, peak_nits: float = 1000.0) -> torch.Tensor:
    """Inverse of :func:`hlg_to_nits`: display light (cd/m^2) -> HLG signal (inverse OOTF, then OETF).

    Shape:
        (..., 3, H, W) or any grey array -> same
    """
    fd = (nits.clamp(min=0.0) / peak_nits).clamp(max=1.0)
    yd = _y2020(fd)
    g = hlg_system_gamma(peak_nits)
    e = torch.where(yd > 0, yd.clamp(min=1e-12) ** ((1.0 - g) / g) * fd, torch.zeros_like(fd))
    return hlg_oetf(e)
