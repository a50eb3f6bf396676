"""Pure tensor functions (torch): transfer curves, tone curves, colour, padding.

Naming says the domain: ``ldr``/``_srgb`` = sRGB-encoded display values in [0, 1]; ``hdr``/``_lin``
= linear radiance (1.0 = camera clipping level); ``_mu`` = mu-law encoded; ``_pu`` = PU21 encoded.
"""

from hdrlift.ops.padding import crop_to, pad_to_multiple
from hdrlift.ops.transfer import (
    NTIRE_GAMMA,
    gamma_decode,
    gamma_encode,
    hlg_inverse_oetf,
    hlg_oetf,
    linear_to_srgb,
    luminance,
    mu_law,
    mu_law_tanh_norm,
    pq_eotf,
    pq_inverse_eotf,
    srgb_to_linear,
)

__all__ = [
    "NTIRE_GAMMA",
    "crop_to",
    "gamma_decode",
    "gamma_encode",
    "hlg_inverse_oetf",
    "hlg_oetf",
    "linear_to_srgb",
    "luminance",
    "mu_law",
    "mu_law_tanh_norm",
    "pad_to_multiple",
    "pq_eotf",
    "pq_inverse_eotf",
    "srgb_to_linear",
]

from hdrlift.ops.color import (  # noqa: E402
    ciede2000,
    delta_e2000_rgb,
    lab_to_rgb,
    lab_to_xyz,
    rgb_to_lab,
    rgb_to_xyz,
    srgb_to_lab,
    xyz_to_lab,
    xyz_to_rgb,
)
from hdrlift.ops.pu21 import PU21_PARAMS, pu21_decode, pu21_encode, pu21_peak  # noqa: E402

__all__ += [
    "PU21_PARAMS",
    "ciede2000",
    "delta_e2000_rgb",
    "lab_to_rgb",
    "lab_to_xyz",
    "pu21_decode",
    "pu21_encode",
    "pu21_peak",
    "rgb_to_lab",
    "rgb_to_xyz",
    "srgb_to_lab",
    "xyz_to_lab",
    "xyz_to_rgb",
]

from hdrlift.ops.exposure import exposure_scale, normalize_exposure  # noqa: E402

__all__ += ["exposure_scale", "normalize_exposure"]
