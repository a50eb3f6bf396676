"""ColorVideoVDP (``cvvdp``, module ``pycvvdp``) adapter: an optional extra, never required.

Install: ``pip install cvvdp --no-deps`` plus its dependencies except torchvision (einops, imageio,
matplotlib, ffmpeg-python, huggingface_hub, pyexr) - a plain ``pip install cvvdp`` replaces the CPU
torch by a CUDA build because the current torchvision pins it. cvvdp only needs torchvision's
``transforms.GaussianBlur``; when torchvision is absent a small ``sys.modules`` shim provides it
(reflect-padded separable Gaussian, the same kernel as torchvision), which reproduces the JOD of
the real torchvision (see docs / ecosystem notes). ``torchvision.ops.MLP`` (only for the
``cvvdp-ml-*`` metrics, which also need the network) raises a clear error in the shim.

Inputs are relative linear HDR; they are mapped to absolute cd/m^2 with one factor from the
reference (:func:`hdrlift.metrics.pu21.nits_scale`, default ``percentile_to_nits``: reference
luminance P99.9 -> ``peak_nits``) and scored on a linear Rec.709 HDR display of ``peak_nits`` peak
(contrast 1e6:1, 10 lux ambient, the ``standard_hdr_linear`` geometry: 30-inch 4K at 0.7472 m).
The returned info string (cvvdp's own plus the normalisation) must be published with the JOD.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

from hdrlift.errors import HdrliftError
from hdrlift.metrics.pu21 import nits_scale
from hdrlift.metrics.ssim import check_rgb_pair

_INSTALL_HINT = (
    "cvvdp is not installed: run `pip install cvvdp --no-deps` and then "
    "`pip install einops imageio matplotlib ffmpeg-python huggingface_hub pyexr` (keeps the CPU torch)"
)


class _GaussianBlurShim(torch.nn.Module):
    """Stand-in for ``torchvision.transforms.GaussianBlur(kernel_size, sigma)`` (fixed sigma)."""

    k1d: torch.Tensor  # buffer, registered in __init__

    def __init__(self, kernel_size: int | tuple[int, int], sigma: float | tuple[float, float] = (0.1, 2.0)):
        super().__init__()
        k = kernel_size if isinstance(kernel_size, int) else int(kernel_size[0])
        s = float(sigma) if isinstance(sigma, (int, float)) else float(sum(sigma) / len(sigma))
        x = torch.linspace(-(k - 1) / 2.0, (k - 1) / 2.0, k)
        g = torch.exp(-0.5 * (x / s) ** 2)
        self.kernel_size, self.sigma = k, s
        self.register_buffer("k1d", g / g.sum(), persistent=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        shape = img.shape
        x = img.reshape(-1, 1, shape[-2], shape[-1])
        k = self.k1d.to(dtype=x.dtype, device=x.device)
        p = self.kernel_size // 2
        x = F.pad(x, (p, p, p, p), mode="reflect")
        x = F.conv2d(x, k.view(1, 1, 1, -1))
        x = F.conv2d(x, k.view(1, 1, -1, 1))
        return x.reshape(shape)


class _MLPShim:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise HdrliftError("torchvision.ops.MLP is not available (torchvision shim): cvvdp-ml metrics unsupported")


def _install_torchvision_shim() -> None:
    """Register a minimal ``torchvision`` in sys.modules when the real one is not installed."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    ops = types.ModuleType("torchvision.ops")
    transforms.GaussianBlur = _GaussianBlurShim  # type: ignore[attr-defined]
    ops.MLP = _MLPShim  # type: ignore[attr-defined]
    tv.transforms = transforms  # type: ignore[attr-defined]
    tv.ops = ops  # type: ignore[attr-defined]
    tv.__hdrlift_shim__ = True  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": tv, "torchvision.transforms": transforms, "torchvision.ops": ops})


def cvvdp_available() -> bool:
    """Whether ``pycvvdp`` can be found (does not import it)."""
    return importlib.util.find_spec("pycvvdp") is not None


def _import_pycvvdp() -> types.ModuleType:
    if not cvvdp_available():
        raise HdrliftError(_INSTALL_HINT)
    _install_torchvision_shim()
    try:
        return importlib.import_module("pycvvdp")
    except Exception as exc:  # broken install: report in one line
        raise HdrliftError(f"pycvvdp failed to import ({type(exc).__name__}: {exc}); {_INSTALL_HINT}") from None


_METRIC_CACHE: dict[float, object] = {}


def _metric(peak_nits: float) -> object:
    if peak_nits not in _METRIC_CACHE:
        pycvvdp = _import_pycvvdp()
        from pycvvdp.display_model import vvdp_display_photo_eotf

        dm = vvdp_display_photo_eotf(
            Y_peak=peak_nits, contrast=1e6, source_colorspace="BT.709-linear", E_ambient=10
        )
        geom = pycvvdp.vvdp_display_geometry.load("standard_hdr_linear")
        _METRIC_CACHE[peak_nits] = pycvvdp.cvvdp(
            display_photometry=dm, display_geometry=geom, device=torch.device("cpu"), quiet=True
        )
    return _METRIC_CACHE[peak_nits]


def cvvdp_score(
    ref_lin: np.ndarray,
    res_lin: np.ndarray,
    peak_nits: float = 1000.0,
    normalisation: str = "percentile_to_nits",
) -> tuple[float, str]:
    """ColorVideoVDP JOD (10 = identical) of linear HDR and the info string to publish with it.

    Domain: relative linear HDR (1.0 = clipping), mapped to cd/m^2 as described in the module doc.

    Shape:
        HxWx3, HxWx3 -> (float JOD, str)
    """
    r, t = check_rgb_pair(ref_lin, res_lin)
    ns = nits_scale(r, normalisation, peak_nits)
    metric = _metric(float(peak_nits))
    test = (t * ns.scale).astype(np.float32)
    ref = (r * ns.scale).astype(np.float32)
    with torch.no_grad():
        jod, _ = metric.predict(test, ref, dim_order="HWC")  # type: ignore[attr-defined]
    info = f"{metric.get_info_string()}; {ns.description}"  # type: ignore[attr-defined]
    return float(jod), info
