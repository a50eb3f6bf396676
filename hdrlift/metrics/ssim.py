"""SSIM and MS-SSIM (Wang et al. 2004 / 2003), differentiable torch core plus numpy metric wrappers.

Conventions (the standard ones, as in Wang's MATLAB code and ``skimage`` with ``gaussian_weights``):
Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, C1 = (K1 L)^2, C2 = (K2 L)^2 with L the
data range, "valid" filtering (no padding), mean over pixels and channels.

MS-SSIM: 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling
between scales, MS-SSIM = prod_{j<M} cs_j^{w_j} * ssim_M^{w_M}. Small images reduce the number of
scales gracefully: M = the largest number (<= 5) such that the coarsest scale is still at least
11 px, the first M weights renormalised to sum 1 (an image smaller than 11 px uses one scale and a
window as large as the image). Negative cs/ssim values are clamped to 1e-6 before the power (a
fractional power of a negative number is undefined; same choice as pytorch-msssim's ReLU).

The loss in :mod:`hdrlift.losses.msssim` reuses this core (and adds the two-stage release variant).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import correlate1d

from hdrlift.metrics._common import check_hwc3, check_pair

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on the middle tap.

    Shape:
        () -> (size,)
    """
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of (B, C, H, W) with a 1-D window, per channel.

    Without autograd on CPU, scipy's correlate1d does the same sums about 4x faster (metrics path).
    """
    if x.device.type == "cpu" and not (torch.is_grad_enabled() and x.requires_grad):
        kn = win.to(dtype=x.dtype).numpy()
        r0 = (len(kn) - 1) // 2
        a = x.detach().numpy()
        a = correlate1d(a, kn, axis=-1, mode="constant", origin=-1 if len(kn) % 2 == 0 else 0)
        a = correlate1d(a, kn, axis=-2, mode="constant", origin=-1 if len(kn) % 2 == 0 else 0)
        h, w = x.shape[-2] - len(kn) + 1, x.shape[-1] - len(kn) + 1
        return torch.from_numpy(np.ascontiguousarray(a[..., r0 : r0 + h, r0 : r0 + w]))
    c = x.shape[1]
    k = win.to(dtype=x.dtype, device=x.device)
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _window_for(h: int, w: int, size: int, odd: bool = True) -> int:
    s = min(size, h, w)
    return s if (s % 2 == 1 or not odd) else s - 1


def ssim_components(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    odd_window: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mean SSIM and mean contrast-structure term cs (differentiable).

    The window shrinks to the image size for images smaller than ``win_size`` (to the largest odd
    size with ``odd_window``; exactly min(H, W) otherwise, as pytorch_msssim-style code does).

    Shape:
        (B, C, H, W), (B, C, H, W) -> (B,), (B,)
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim expects two (B, C, H, W) tensors of equal shape, got {x.shape}, {y.shape}")
    win = gaussian_window(_window_for(x.shape[-2], x.shape[-1], win_size, odd_window), sigma, x.dtype)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x * mu_x
    syy = _filter(y * y, win) - mu_y * mu_y
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs_map
    return ssim_map.mean(dim=(1, 2, 3)), cs_map.mean(dim=(1, 2, 3))


def ms_ssim_scales(h: int, w: int, win_size: int = 11, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Number of MS-SSIM scales used for an HxW image (coarsest scale >= ``win_size`` px)."""
    m, s = 1, min(h, w)
    while m < max_scales and s // 2 >= win_size:
        s //= 2
        m += 1
    return m


def ms_ssim_torch(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    win_size: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Standard MS-SSIM per sample (see module docstring), differentiable.

    Shape:
        (B, C, H, W), (B, C, H, W) -> (B,)
    """
    m = ms_ssim_scales(x.shape[-2], x.shape[-1], win_size, len(weights))
    w = torch.tensor(weights[:m], dtype=x.dtype, device=x.device)
    if m < len(weights):
        w = w / w.sum()  # fewer scales: renormalise (the full standard set sums to 1.0001, kept as is)
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for j in range(m):
        s, cs = ssim_components(x, y, data_range, win_size, sigma)
        if j < m - 1:
            out = out * cs.clamp(min=1e-6) ** w[j]
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            out = out * s.clamp(min=1e-6) ** w[j]
    return out


def _hwc_to_bchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0)


def ssim(ref: np.ndarray, res: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two HxWxC (or HxW) arrays, mean over pixels and channels (float64).

    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L, channel_axis=-1)``.

    Shape:
        HxWxC or HxW, same for both -> float
    """
    r, t = check_pair(ref, res)
    if r.ndim == 2:
        r, t = r[..., None], t[..., None]
    s, _ = ssim_components(_hwc_to_bchw(r), _hwc_to_bchw(t), data_range)
    return float(s[0])


def ms_ssim(ref: np.ndarray, res: np.ndarray, data_range: float = 1.0) -> float:
    """Standard MS-SSIM of two HxWxC (or HxW) arrays (float64), scales reduced for small images.

    Shape:
        HxWxC or HxW, same for both -> float
    """
    r, t = check_pair(ref, res)
    if r.ndim == 2:
        r, t = r[..., None], t[..., None]
    return float(ms_ssim_torch(_hwc_to_bchw(r), _hwc_to_bchw(t), data_range)[0])


def check_rgb_pair(ref: np.ndarray, res: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """check_pair plus HxWx3 validation."""
    r, t = check_pair(ref, res)
    check_hwc3(r, "reference")
    return r, t


def ssim_matlab(ref: np.ndarray, res: np.ndarray, data_range: float = 1.0, radius: float = 1.5) -> float:
    """SSIM as MATLAB's ``ssim(A, ref, 'DynamicRange', L)`` computes it for a 2-D image (float64).

    MATLAB (Image Processing Toolbox) filters with ``imgaussfilt(X, radius, 'FilterSize',
    2*ceil(3*radius)+1, 'Padding', 'replicate')`` - a normalised 11-tap Gaussian (sigma 1.5) with
    *replicated* borders and a same-size map - uses C1 = (0.01 L)^2, C2 = (0.03 L)^2 (C3 = C2/2, so
    with unit exponents the two-factor formula) and returns the mean of the map over all pixels.
    This differs from :func:`ssim` (the 'valid' window of Wang's code) by its border handling only.
    It is the SSIM of the PU21 reference ``pu21_metric.m``.

    Shape:
        HxW, HxW -> float
    """
    r, t = check_pair(ref, res)
    if r.ndim != 2:
        raise ValueError(f"ssim_matlab expects 2-D (luminance) images, got shape {r.shape}")
    size = 2 * int(np.ceil(3 * radius)) + 1
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(x**2) / (2.0 * radius**2))
    k /= k.sum()

    def blur(a: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(a, k, axis=0, mode="nearest"), k, axis=1, mode="nearest")

    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_r, mu_t = blur(r), blur(t)
    s_rr = blur(r * r) - mu_r * mu_r
    s_tt = blur(t * t) - mu_t * mu_t
    s_rt = blur(r * t) - mu_r * mu_t
    num = (2.0 * mu_r * mu_t + c1) * (2.0 * s_rt + c2)
    den = (mu_r * mu_r + mu_t * mu_t + c1) * (s_rr + s_tt + c2)
    return float(np.mean(num / den))
