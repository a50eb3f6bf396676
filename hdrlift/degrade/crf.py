"""Camera response functions (CRFs): named parametric curves and differentiable curve tables.

A CRF maps linear, clipped sensor values in [0, 1] to display-encoded values in [0, 1]; every curve
here is monotonic with f(0) = 0 and f(1) = 1. Named families (evaluated analytically, so dark
pixels are exact):

* ``linear``  - f(x) = x.
* ``srgb``    - IEC 61966-2-1 sRGB encoding (what most JPEG pipelines approximate).
* ``gamma``   - f(x) = x^(1/g), params ``(g,)``; the camera model samples g in [1.8, 2.6].
* ``rec709``  - a power law with a linear toe, params ``(g, b)``: slope-continuous at the knee b
  (g = 1/0.45, b = 0.018 is the BT.709 OETF shape, renormalised to f(1) = 1).
* ``filmic``  - a film-like S-curve in log exposure: the normalised Hill / Naka-Rushton function
  f(x) = x^n (1 + t) / (x^n + t), params ``(n, m)`` where n is the contrast (n > 1 gives a toe) and
  m = f(0.18) the brightness of middle grey (t follows in closed form).
* ``curve``   - a tabulated curve on a uniform grid (basis curves, DoRF tables), evaluated by linear
  interpolation with :func:`apply_curve`.

Table tools (torch, differentiable): :func:`make_monotonic`, :func:`apply_curve`,
:func:`invert_curve`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hdrlift.errors import ConfigError
from hdrlift.ops.transfer import linear_to_srgb

#: Names of the analytic CRF families (``curve`` = tabulated).
CRF_FAMILIES = ("linear", "srgb", "gamma", "rec709", "filmic")

#: Middle grey used by the ``filmic`` parametrisation (f(MID_GREY) = m).
MID_GREY = 0.18


def _rec709_consts(g: float, b: float) -> tuple[float, float, float]:
    """Offset c and toe slope s of a power law ``(1 + c) x^p - c`` (p = 1/g) with a linear toe
    ``s x`` below ``b``, continuous in value and slope at ``b``."""
    p = 1.0 / g
    bp = b**p
    c = bp * (1.0 - p) / (1.0 - bp * (1.0 - p))
    s = (1.0 + c) * p * b ** (p - 1.0)
    return p, c, s


def _filmic_t(n: float, m: float) -> float:
    """Constant t of the normalised Hill curve so that f(0.18) = m (needs 0.18^n < m < 1)."""
    a = MID_GREY**n
    m = min(max(m, a + 1e-4), 1.0 - 1e-4)
    return a * (1.0 - m) / (m - a)


def check_crf(name: str, params: Sequence[float]) -> None:
    """Raise :class:`ConfigError` for an unknown family or a wrong parameter count."""
    need = {"linear": 0, "srgb": 0, "gamma": 1, "rec709": 2, "filmic": 2}
    if name not in need:
        raise ConfigError(f"unknown CRF family {name!r}; valid: {', '.join(CRF_FAMILIES)}")
    if len(params) != need[name]:
        raise ConfigError(f"CRF {name!r} takes {need[name]} parameter(s), got {len(params)}")


def crf_numpy(name: str, params: Sequence[float], x: np.ndarray) -> np.ndarray:
    """Evaluate a named CRF on linear values (numpy, float64).

    Shape:
        any -> same; input linear in [0, 1] (clamped), output encoded in [0, 1].
    """
    check_crf(name, params)
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
    if name == "linear":
        return x
    if name == "srgb":
        return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    if name == "gamma":
        return np.power(x, 1.0 / params[0])
    if name == "rec709":
        p, c, s = _rec709_consts(*params)
        return np.where(x < params[1], s * x, (1.0 + c) * np.power(x, p) - c)
    n, m = params
    t = _filmic_t(n, m)
    xn = np.power(x, n)
    return xn * (1.0 + t) / (xn + t)


def apply_crf(x_lin: torch.Tensor, name: str, params: Sequence[float]) -> torch.Tensor:
    """Apply a named CRF to linear values (torch; differentiable away from x = 0).

    Shape:
        any -> same; linear [0, 1] (clamped) -> encoded [0, 1].
    """
    check_crf(name, params)
    x = x_lin.clamp(0.0, 1.0)
    if name == "linear":
        return x
    if name == "srgb":
        return linear_to_srgb(x).clamp(0.0, 1.0)
    if name == "gamma":
        return x.clamp(min=1e-12) ** (1.0 / float(params[0])) * (x > 0)
    if name == "rec709":
        p, c, s = _rec709_consts(float(params[0]), float(params[1]))
        return torch.where(x < params[1], s * x, (1.0 + c) * x.clamp(min=1e-12) ** p - c)
    n, m = float(params[0]), float(params[1])
    t = _filmic_t(n, m)
    xn = x.clamp(min=1e-12) ** n * (x > 0)
    return xn * (1.0 + t) / (xn + t)


def make_monotonic(curve: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Differentiable projection of tabulated curves onto monotonic curves from 0 to 1.

    Negative steps are clamped to 0 (plus ``eps`` so the curve stays invertible), the steps are
    accumulated from 0 and renormalised so the last sample is exactly 1.

    Shape:
        (..., n) -> (..., n)
    """
    # slice difference (== torch.diff, which has no ONNX op: DuHDR's curve estimate is exported)
    steps = (curve[..., 1:] - curve[..., :-1]).clamp(min=0.0) + eps
    cum = torch.cumsum(steps, dim=-1)
    cum = cum / cum[..., -1:]
    return torch.cat([torch.zeros_like(cum[..., :1]), cum], dim=-1)


def apply_curve(x: torch.Tensor, curve: torch.Tensor) -> torch.Tensor:
    """Map ``x`` through a tabulated curve sampled uniformly on [0, 1] (linear interpolation).

    Differentiable with respect to both ``x`` and ``curve``. ``curve`` may be one curve shared by the
    batch or one curve per batch item (the first dim of ``x``).

    Shape:
        x: (B, ...) values in [0, 1] (clamped); curve: (n,) or (B, n) -> same shape as x.
    """
    n = curve.shape[-1]
    # positions in float32 even for bfloat16 input: bfloat16 cannot hold the indices above 256 exactly
    xc = x.clamp(0.0, 1.0) if x.dtype in (torch.float32, torch.float64) else x.float().clamp(0.0, 1.0)
    pos = xc * (n - 1)
    i0 = pos.detach().floor().clamp(0, n - 2).long()
    frac = pos - i0.to(pos.dtype)
    if curve.dim() == 1:
        c0 = curve[i0]
        c1 = curve[i0 + 1]
    else:
        b = x.shape[0]
        if curve.shape[0] != b:
            raise ValueError(f"apply_curve: {curve.shape[0]} curves for a batch of {b}")
        flat = i0.reshape(b, -1)
        c0 = torch.gather(curve, 1, flat).reshape(x.shape)
        c1 = torch.gather(curve, 1, flat + 1).reshape(x.shape)
    return (c0 + frac * (c1 - c0)).to(x.dtype)


def invert_curve_numpy(curve: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Inverse of monotonic tabulated curves, sampled on the same uniform grid (numpy).

    A tiny ramp keeps flat segments invertible.

    Shape:
        (n,) or (N, n) -> same
    """
    c = np.atleast_2d(np.asarray(curve, np.float64))
    n = c.shape[-1]
    g = np.linspace(0.0, 1.0, n) if grid is None else np.asarray(grid, np.float64)
    out = np.empty_like(c)
    ramp = 1e-9 * np.arange(n)
    for i, row in enumerate(c):
        r = np.maximum.accumulate(row) + ramp
        r = (r - r[0]) / (r[-1] - r[0])
        out[i] = np.interp(g, r, g)
    return out.reshape(np.shape(curve))


def invert_curve(curve: torch.Tensor) -> torch.Tensor:
    """Inverse of monotonic tabulated curves on the same uniform grid (torch, not differentiable
    in general: uses a search; use a learned inverse where gradients are needed).

    Shape:
        (n,) or (B, n) -> same
    """
    c = curve.detach()
    squeeze = c.dim() == 1
    c2 = c.reshape(1, -1) if squeeze else c
    n = c2.shape[-1]
    grid = torch.linspace(0.0, 1.0, n, dtype=c2.dtype, device=c2.device)
    r = torch.cummax(c2, dim=-1).values + 1e-9 * torch.arange(n, dtype=c2.dtype, device=c2.device)
    r = (r - r[..., :1]) / (r[..., -1:] - r[..., :1])
    idx = torch.searchsorted(r.contiguous(), grid.expand(r.shape[0], n).contiguous()).clamp(1, n - 1)
    lo = torch.gather(r, 1, idx - 1)
    hi = torch.gather(r, 1, idx)
    w = ((grid - lo) / (hi - lo).clamp(min=1e-12)).clamp(0.0, 1.0)
    out = (idx - 1 + w) / (n - 1)
    return out.reshape(curve.shape).to(curve.dtype)


def crf_table(name: str, params: Sequence[float], n: int = 1024) -> np.ndarray:
    """Sample a named CRF on a uniform grid of ``n`` points in [0, 1] (float64).

    Shape:
        -> (n,)
    """
    return crf_numpy(name, params, np.linspace(0.0, 1.0, n))
