"""PU21 perceptually uniform encoding of absolute luminance (torch).

Mantiuk & Azimi, "PU21: A novel perceptually uniform encoding for adapting existing quality metrics
for HDR", PCS 2021 (reference code: gfxdisp/pu21). The encoding is

    V = p6 * (((p0 + p1 * Y**p3) / (1 + p2 * Y**p3)) ** p4 - p5)

with Y in cd/m^2 clamped to [0.005, 10000]. ``banding_glare`` is the set the authors recommend;
PU(0.005) ~ 0, PU(100) ~ 256.4 (SDR white, the PU-PSNR peak), PU(10000) ~ 595.4.
"""

from __future__ import annotations

import torch

#: Parameter sets (p0..p6) of the PU21 reference implementation.
PU21_PARAMS: dict[str, tuple[float, ...]] = {
    "banding": (1.070275272, 0.4088273932, 0.153224308, 0.2520326168, 1.063512885, 1.14115047, 521.4527484),
    "banding_glare": (
        0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142,
    ),
    "peaks": (1.043882782, 0.6459495343, 0.3194584211, 0.374025247, 1.114783422, 1.095360363, 384.9217577),
    "peaks_glare": (
        816.885024, 1479.463946, 0.001253215609, 0.9329636822, 0.06746643971, 1.573435413, 419.6006374,
    ),
}

#: Luminance range (cd/m^2) the encoding is defined on; inputs are clamped to it.
PU21_L_MIN = 0.005
PU21_L_MAX = 10000.0

#: Peak of PU-PSNR and dynamic range of PU-SSIM in the reference ``pu21_metric.m``
#: (``psnr(T, R, 256)``, ``ssim(T, R, 'DynamicRange', 256)``).
PU21_METRIC_PEAK = 256.0

#: Luminance weights of the reference ``pu21_metric.m`` (``get_luminance``) for linear Rec.709 RGB.
PU21_LUMA = (0.212656, 0.715158, 0.072186)


def _params(kind: str) -> tuple[float, ...]:
    if kind not in PU21_PARAMS:
        raise ValueError(f"unknown PU21 parameter set {kind!r}; use one of {sorted(PU21_PARAMS)}")
    return PU21_PARAMS[kind]


def pu21_encode(nits: torch.Tensor, kind: str = "banding_glare") -> torch.Tensor:
    """PU21 encoding of absolute luminance (or of each linear RGB channel in cd/m^2).

    Input: linear values in cd/m^2 (absolute, not relative HDR); clamped to [0.005, 10000].
    Output: PU units (about 0 .. 595 for ``banding_glare``; 256.4 at 100 cd/m^2).

    Shape:
        any -> same
    """
    p = _params(kind)
    y = nits.clamp(PU21_L_MIN, PU21_L_MAX)
    yp = y ** p[3]
    return p[6] * (((p[0] + p[1] * yp) / (1.0 + p[2] * yp)) ** p[4] - p[5])


def pu21_decode(pu: torch.Tensor, kind: str = "banding_glare") -> torch.Tensor:
    """Inverse of :func:`pu21_encode`: PU units -> absolute luminance in cd/m^2.

    As the reference decoder: ``V_p = max(V / p6 + p5, 0) ** (1 / p4)``,
    ``Y = (max(V_p - p0, 0) / (p1 - p2 V_p)) ** (1 / p3)``; no clamping of the output, so values
    encoded inside [0.005, 10000] cd/m^2 come back exactly.

    Shape:
        any -> same
    """
    p = _params(kind)
    v = (pu / p[6] + p[5]).clamp(min=0.0) ** (1.0 / p[4])
    # v = (p0 + p1 t) / (1 + p2 t) with t = Y**p3  ->  t = (v - p0) / (p1 - p2 v)
    t = (v - p[0]).clamp(min=0.0) / (p[1] - p[2] * v)
    return t ** (1.0 / p[3])


def pu21_peak(nits: float = 100.0, kind: str = "banding_glare") -> float:
    """PU value of ``nits`` cd/m^2 as a float (``pu21_peak()`` = 256.38 = PU(100 cd/m^2)).

    The reference metrics (``pu21_metric.m``) use the rounded peak / dynamic range
    :data:`PU21_METRIC_PEAK` = 256, not this value (cvvdp's ``pu_psnr`` uses 256.38)."""
    return float(pu21_encode(torch.tensor(nits, dtype=torch.float64), kind))
