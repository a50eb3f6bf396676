"""Classical single-image expansion operators (inverse tone mapping), same contract as the networks:
(B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR >= 0 with 1.0 = the input's
clipping level. See docs/operators.md.
"""

from hdrlift.operators.base import OperatorSpec, change_luminance, linearize, to_project_scale
from hdrlift.operators.bilateral import bilateral_grid_filter
from hdrlift.operators.bt2446 import bt2446a, bt2446c, hlg_to_nits, nits_to_hlg, nits_to_pq, pq_to_nits
from hdrlift.operators.global_ops import akyuz, landis, linear, masia, masia_gamma
from hdrlift.operators.local_ops import huo, kovaleski
from hdrlift.operators.registry import expand, get_operator, list_operators

__all__ = [
    "OperatorSpec",
    "akyuz",
    "bilateral_grid_filter",
    "bt2446a",
    "bt2446c",
    "change_luminance",
    "expand",
    "get_operator",
    "hlg_to_nits",
    "huo",
    "kovaleski",
    "landis",
    "linear",
    "linearize",
    "list_operators",
    "masia",
    "masia_gamma",
    "nits_to_hlg",
    "nits_to_pq",
    "pq_to_nits",
    "to_project_scale",
]
