"""The camera model: linear HDR -> LDR simulation (exposure, white balance, noise, clipping, CRF,
quantisation, JPEG), sampled from a :class:`CameraConfig` with a passed ``torch.Generator`` and
replayable from its :class:`CameraParams`; plus CRF families and hdrlift's own CRF basis.

See docs/camera-model.md.
"""

from hdrlift.degrade.camera import (
    CameraParams,
    HdrStats,
    SimResult,
    capture,
    compute_hdr_stats,
    crf_coefficients,
    crf_curve,
    sample_params,
    simulate,
)
from hdrlift.degrade.config import CRF_KINDS, CameraConfig, load_camera_config
from hdrlift.degrade.crf import (
    CRF_FAMILIES,
    apply_crf,
    apply_curve,
    crf_numpy,
    crf_table,
    invert_curve,
    invert_curve_numpy,
    make_monotonic,
)
from hdrlift.degrade.crf_basis import (
    CRFBasis,
    crf_basis,
    crf_family,
    curve_from_coeffs,
    fit_coeffs,
    load_dorf,
    load_emor,
    resample_curves,
)
from hdrlift.degrade.jpeg import jpeg_roundtrip

__all__ = [
    "CRF_FAMILIES",
    "CRF_KINDS",
    "CRFBasis",
    "CameraConfig",
    "CameraParams",
    "HdrStats",
    "SimResult",
    "apply_crf",
    "apply_curve",
    "capture",
    "compute_hdr_stats",
    "crf_basis",
    "crf_coefficients",
    "crf_curve",
    "crf_family",
    "crf_numpy",
    "crf_table",
    "curve_from_coeffs",
    "fit_coeffs",
    "invert_curve",
    "invert_curve_numpy",
    "jpeg_roundtrip",
    "load_camera_config",
    "load_dorf",
    "load_emor",
    "make_monotonic",
    "resample_curves",
    "sample_params",
    "simulate",
]
