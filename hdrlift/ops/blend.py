"""Confidence-weighted blending of a network's HDR with the plain sRGB decoding of the photo.

Where the photo is well exposed its pixels already say what the light was, up to the camera curve;
where it clips they say nothing. HDR-CNN (Eilertsen et al., SIGGRAPH Asia 2017) therefore uses the
network only near saturation: ``out = (1 - a) * f^-1(x) + a * net``, with ``a`` ramping from 0 at a
threshold ``tau`` of the max channel to 1 at the clipping level. hdrlift generalises this with a
mid-tone weight ``mid``: below the ramp the result is ``lin * (net / lin) ** mid``, a geometric mix of
the decoded photo (``mid = 0``, the HDR-CNN rule) and the network (``mid = 1``, the network alone).

With ``sigma > 0`` the mix acts on the *local tone* only: ``base = net * (G lin / G net) ** (1 - mid)``,
``G`` a Gaussian blur of ``sigma`` pixels, so the network's fine detail (its denoising) is kept while
the local brightness follows the photo (``sigma = 0`` is the per-pixel rule above, the same formula).
``detail`` in [0, 1] (per image) weighs the two: ``base = pixel ** (1 - detail) * local ** detail`` with
``pixel`` the per-pixel rule and ``local`` the rule with ``sigma``; 1 (the default) is the ``sigma`` rule,
0 the per-pixel one. A camera estimator with a degradation branch (:meth:`hdrlift.models.curvenet.
CurveNet.detail_weight`) gives it per photo: a clean photo keeps its pixels, a noisy or compressed one
takes the network's restored detail (``meta.output_blend.detail = "auto"``).

``highlight`` >= 0 expands what lies above the clipping level: a pixel of luminance ``Y > 1`` is scaled
by ``Y ** highlight`` (its log2 luminance above the clip times ``1 + highlight``; colour ratios kept;
continuous at ``Y = 1``). The networks compress their highlights: on the generalisation suite the
clipped pixels of the default came out 0.5 stops too dark on average (see docs/validation.md).

A weight declares its blend in its checkpoint (``meta.output_blend = {"tau": ..., "mid": ..., "sigma": ...,
"camera": ...}``, chosen on the generalisation suite of :mod:`hdrlift.tools.suite`); the runtime
applies it unless told ``--blend none``. ``camera`` names how the photo is decoded: ``srgb`` (the
default) or a curve estimator weight (``curvenet.polyhaven``, :mod:`hdrlift.models.curvenet`) whose
per-photo curve replaces sRGB decoding in ``lin`` above (``hdrlift predict --camera``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from hdrlift.ops.transfer import luminance, srgb_to_linear

_EPS = 1e-6


def blend_weight(ldr_srgb: torch.Tensor, tau: float) -> torch.Tensor:
    """HDR-CNN's per-pixel weight of the network: ``clamp((max_c x - tau) / (1 - tau), 0, 1)``.

    Domain: sRGB-encoded LDR in [0, 1].

    Shape:
        (..., 3, H, W) -> (..., 1, H, W)
    """
    if not 0.0 <= tau < 1.0:
        raise ValueError(f"blend tau must lie in [0, 1), got {tau}")
    m = ldr_srgb.amax(dim=-3, keepdim=True)
    return ((m - tau) / (1.0 - tau)).clamp(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 3 sigma, reflected borders) of every channel.

    The borders of both dims are reflected in one padded copy (a reflection commutes with the other
    pass); each pass is a sum of shifted views (one multiply-add per tap): on the CPU that runs 4-5x faster than
    a single-channel ``conv2d`` for the small radii the blend uses.

    Shape:
        (..., C, H, W) -> same
    """
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    k: list[float] = (g / g.sum()).tolist()
    shape = x.shape
    y = x.reshape(-1, *shape[-2:])
    radii = [min(r, n - 1) for n in shape[-2:]]
    if radii[0] > 0 or radii[1] > 0:  # reflected borders of both dims in one copy
        y = torch.nn.functional.pad(y, (radii[1], radii[1], radii[0], radii[0]), mode="reflect")
    for dim, rr, n in ((-2, radii[0], shape[-2]), (-1, radii[1], shape[-1])):
        if rr == 0:
            continue
        out = y.narrow(dim, 0, n) * k[r - rr]
        for i in range(1, 2 * rr + 1):
            out.add_(y.narrow(dim, i, n), alpha=k[r - rr + i])
        y = out
    return y.reshape(shape)


#: the fields of a blend given as text, in order (:func:`parse_blend`); the first two are required
BLEND_FIELDS = ("TAU", "MID", "SIGMA", "DETAIL", "HIGHLIGHT")
#: largest highlight expansion ``k`` accepted (:func:`expand_highlights`: ``Y ** k``)
HIGHLIGHT_MAX = 4.0
#: a parsed blend: ``(tau, mid[, sigma[, detail[, highlight]]])`` as given (detail a number or ``"auto"``)
BlendFields = tuple[float | str, ...]


def parse_blend(text: str) -> BlendFields:
    """``"TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]"`` -> the fields given, as numbers (DETAIL may be ``auto``),
    each checked against its range (TAU in [0, 1), MID and DETAIL in [0, 1], SIGMA >= 0, HIGHLIGHT in [0, 4]).
    The one parser of a blend string: ``hdrlift predict --blend``, the suite's ``--blend`` and
    ``scripts/record_suite.py --use`` all read it here.

    Raises:
        ValueError: a one-line message naming the field that is wrong.
    """
    toks = [t.strip() for t in text.split(",")]
    if not 2 <= len(toks) <= len(BLEND_FIELDS):
        raise ValueError(f"blend takes TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]], got {text!r}")
    ranges = {"TAU": (0.0, 1.0, False), "MID": (0.0, 1.0, True), "SIGMA": (0.0, math.inf, True),
              "DETAIL": (0.0, 1.0, True), "HIGHLIGHT": (0.0, HIGHLIGHT_MAX, True)}
    out: list[float | str] = []
    for name, tok in zip(BLEND_FIELDS, toks, strict=False):
        if name == "DETAIL" and tok == "auto":
            out.append("auto")
            continue
        lo, hi, closed = ranges[name]
        try:
            v = float(tok)
        except ValueError:
            v = math.nan
        if not (lo <= v <= hi and (closed or v < hi)):
            interval = f"[{lo:g}, {hi:g}{']' if closed else ')'}" if hi < math.inf else f">= {lo:g}"
            what = "a number " + (f"in {interval}" if hi < math.inf else interval)
            raise ValueError(f"blend {name} must be {what}{' or auto' if name == 'DETAIL' else ''}, "
                             f"got {tok!r} in {text!r}")
        out.append(v)
    return tuple(out)


#: a per-pixel decoder of rows of the photo: ``(ldr_srgb rows (..., 3, h, W), index of their first row) -> linear
#: (..., 3, h, W)`` (see :func:`blend_with_decoded`)
RowDecoder = Callable[[torch.Tensor, int], torch.Tensor]

#: pixels per row strip of :func:`blend_with_decoded` (its temporaries then take a few strips' memory, not the
#: image's: about 14 full-size float tensors at once for the detail rule would be 1.4 GB at 4K)
STRIP_PIXELS = 1 << 20


def blend_with_decoded(
    ldr_srgb: torch.Tensor, hdr: torch.Tensor, tau: float = 0.9, mid: float = 0.0, sigma: float = 0.0,
    decoded: torch.Tensor | RowDecoder | None = None, detail: float | torch.Tensor = 1.0,
    strip_pixels: int | None = None, highlight: float = 0.0,
) -> torch.Tensor:
    """Blend a reconstruction with the decoding of its input (see the module docstring).

    ``decoded``: the photo decoded to linear by another camera curve than sRGB (e.g. the per-photo
    curve of :class:`hdrlift.models.curvenet.CurveNet`, ``--camera estimate``); default the sRGB
    decoding of ``ldr_srgb``. It may also be a :data:`RowDecoder`, called on each strip of rows
    (``decoded(rows, top)``, ``top`` the strip's first row), so that the decoded photo is never held at
    full size and is computed while the strip is in cache; it must be per pixel (a curve given a
    whole-image context: ``SizeRequirements.pointwise``). The ramp weight always follows the code values
    of ``ldr_srgb``.
    ``detail``: weight of the ``sigma`` rule against the per-pixel rule (a number, or one per image
    ``(...,)`` of the batch dimensions; only with ``sigma > 0``). ``strip_pixels``: the image is blended
    in strips of rows of about this many pixels (with a halo of ``3 sigma`` rows for the blur; the same
    result as at once), 0 = at once, None = :data:`STRIP_PIXELS` (read at call time). ``highlight``:
    :func:`expand_highlights` of the result (0 = none).

    Domain: ``ldr_srgb`` sRGB-encoded LDR in [0, 1]; ``hdr``, ``decoded`` and the result linear HDR
    (1.0 = clipping).

    Shape:
        (..., 3, H, W), (..., 3, H, W)[, (..., 3, H, W)] -> (..., 3, H, W)
    """
    if not 0.0 <= mid <= 1.0:
        raise ValueError(f"blend mid must lie in [0, 1], got {mid}")
    if sigma < 0:
        raise ValueError(f"blend sigma must be >= 0, got {sigma}")
    d = torch.as_tensor(detail, dtype=hdr.dtype, device=hdr.device)
    if bool(((d < 0) | (d > 1)).any()):
        raise ValueError(f"blend detail must lie in [0, 1], got {detail}")
    if not highlight >= 0.0:
        raise ValueError(f"blend highlight must be >= 0, got {highlight}")
    strip_pixels = STRIP_PIXELS if strip_pixels is None else strip_pixels
    h, w = hdr.shape[-2:]
    halo = max(1, math.ceil(3.0 * sigma)) if sigma > 0 else 0
    rows = max(4 * halo + 8, strip_pixels // max(1, w)) if strip_pixels > 0 else h
    def rows_of(a0: int, a1: int) -> torch.Tensor | None:
        if decoded is None or isinstance(decoded, torch.Tensor):
            return decoded if decoded is None or (a0, a1) == (0, h) else decoded[..., a0:a1, :]
        return decoded(ldr_srgb[..., a0:a1, :], a0)

    if rows >= h:
        return expand_highlights(_blend_rows(ldr_srgb, hdr, tau, mid, sigma, rows_of(0, h), d), highlight)
    out = torch.empty_like(hdr)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a0, a1 = max(0, y0 - halo), min(h, y1 + halo)
        part = _blend_rows(ldr_srgb[..., a0:a1, :], hdr[..., a0:a1, :], tau, mid, sigma, rows_of(a0, a1), d)
        out[..., y0:y1, :] = expand_highlights(part[..., y0 - a0 : y1 - a0, :], highlight)
    return out


def expand_highlights(hdr: torch.Tensor, k: float) -> torch.Tensor:
    """Scale every pixel whose luminance ``Y`` (Rec. 709) exceeds 1 by ``Y ** k``: log2 luminance above the
    clipping level times ``1 + k``, colour ratios kept; ``k = 0`` returns ``hdr`` itself.

    Domain: linear HDR (1.0 = clipping) in and out.

    Shape:
        (..., 3, H, W) -> (..., 3, H, W)
    """
    if k == 0.0:
        return hdr
    return hdr * luminance(hdr).clamp(min=1.0) ** k


def _blend_rows(
    ldr_srgb: torch.Tensor, hdr: torch.Tensor, tau: float, mid: float, sigma: float,
    decoded: torch.Tensor | None, d: torch.Tensor,
) -> torch.Tensor:
    """:func:`blend_with_decoded` of a whole image or a strip of rows with its halo (arguments checked)."""
    x = ldr_srgb.to(hdr.dtype).clamp(0.0, 1.0)
    lin = srgb_to_linear(x) if decoded is None else decoded.to(hdr.dtype).clamp(min=0.0)
    net = hdr.clamp(min=0.0)
    if mid == 1.0:
        base = net
    else:
        pixel = lin if mid == 0.0 else lin * ((net + _EPS) / (lin + _EPS)) ** mid
        base = pixel
        if sigma > 0 and bool((d > 0).any()):
            ratio = (gaussian_blur(lin, sigma) + _EPS) / (gaussian_blur(net, sigma) + _EPS)
            local = net * ratio ** (1.0 - mid)
            if bool((d == 1).all()):
                base = local
            else:
                dd = d.reshape(*d.shape, 1, 1, 1)
                base = torch.exp((1 - dd) * torch.log(pixel + _EPS) + dd * torch.log(local + _EPS)) - _EPS
                base = base.clamp(min=0.0)
    a = blend_weight(x, tau)
    return base + a * (net - base)
