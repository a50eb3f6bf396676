"""ICtCp (ITU-R BT.2100) and the colour difference Delta E_ITP (ITU-R BT.2124), numpy float64.

Recipe (absolute linear light in cd/m^2):

1. linear Rec.709 RGB -> linear BT.2020 RGB (the matrix derived from both sets of primaries and
   D65, the matrix of ITU-R BT.2087 to its 4 printed decimals);
2. BT.2100 LMS: ``[[1688, 2146, 262], [683, 2951, 462], [99, 309, 3688]] / 4096``;
3. PQ inverse EOTF (SMPTE ST 2084) of ``LMS / 10000`` -> L'M'S';
4. ``I = 0.5 L' + 0.5 M'``, ``Ct = (6610 L' - 13613 M' + 7003 S') / 4096``,
   ``Cp = (17933 L' - 17390 M' - 543 S') / 4096``;
5. BT.2124: ``T = 0.5 Ct``, ``P = Cp``, ``dE_ITP = 720 sqrt(dI^2 + dT^2 + dP^2)`` per pixel.

One unit of Delta E_ITP is about one just-noticeable difference; the image score is the mean over
pixels (lower is better). Each LMS row sums to 1, so a grey of Y cd/m^2 has I = PQ(Y), Ct = Cp = 0.
"""

from __future__ import annotations

import numpy as np

from hdrlift.metrics._common import check_pair

_XY_709 = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
_XY_2020 = ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))
_XY_D65 = (0.3127, 0.3290)

LMS_2100 = np.array([[1688, 2146, 262], [683, 2951, 462], [99, 309, 3688]], dtype=np.float64) / 4096.0
ICTCP_2100 = np.array([[2048, 2048, 0], [6610, -13613, 7003], [17933, -17390, -543]], dtype=np.float64) / 4096.0

# SMPTE ST 2084
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32


def rgb_to_xyz_matrix(primaries: tuple[tuple[float, float], ...], white: tuple[float, float] = _XY_D65) -> np.ndarray:
    """RGB -> XYZ matrix of a colour space from its primaries' and white's xy chromaticities.

    Shape:
        -> (3, 3)
    """
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    w = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return xyz * np.linalg.solve(xyz, w)


#: Linear Rec.709 RGB -> linear BT.2020 RGB (BT.2087: 0.6274 0.3293 0.0433 / 0.0691 0.9195 0.0114 / ...).
BT709_TO_BT2020 = np.linalg.solve(rgb_to_xyz_matrix(_XY_2020), rgb_to_xyz_matrix(_XY_709))


def pq_encode_np(nits: np.ndarray) -> np.ndarray:
    """PQ inverse EOTF: absolute luminance (cd/m^2, clipped to [0, 10000]) -> signal in [0, 1].

    Shape:
        any -> same
    """
    y = np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0.0, 1.0) ** _M1
    return ((_C1 + _C2 * y) / (1.0 + _C3 * y)) ** _M2


def rgb709_to_ictcp(rgb_nits: np.ndarray) -> np.ndarray:
    """Linear Rec.709 RGB in cd/m^2 -> BT.2100 ICtCp (PQ).

    Shape:
        (..., 3) -> (..., 3)
    """
    rgb2020 = np.asarray(rgb_nits, dtype=np.float64) @ BT709_TO_BT2020.T
    lms = np.maximum(rgb2020, 0.0) @ LMS_2100.T
    return pq_encode_np(lms) @ ICTCP_2100.T


def delta_e_itp_map(ref_nits: np.ndarray, res_nits: np.ndarray) -> np.ndarray:
    """Per-pixel BT.2124 Delta E_ITP of two linear Rec.709 images in cd/m^2.

    Shape:
        HxWx3, HxWx3 -> HxW
    """
    r, t = check_pair(ref_nits, res_nits)
    d = rgb709_to_ictcp(r) - rgb709_to_ictcp(t)
    d[..., 1] *= 0.5  # T = 0.5 Ct
    return 720.0 * np.sqrt(np.sum(d * d, axis=-1))


def delta_e_itp_nits(ref_nits: np.ndarray, res_nits: np.ndarray) -> float:
    """Mean BT.2124 Delta E_ITP over pixels (absolute linear Rec.709 RGB in cd/m^2; lower is better).

    Shape:
        HxWx3, HxWx3 -> float
    """
    return float(np.mean(delta_e_itp_map(ref_nits, res_nits)))
