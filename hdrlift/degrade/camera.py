"""The camera model: linear HDR -> 8-bit LDR, sampled then replayed from plain parameters.

Pipeline of :func:`simulate` (each step in the listed order):

1. exposure and white balance: ``hdr_target = hdr * exposure * wb`` (linear; 1.0 = clipping level
   of this exposure - the target the networks learn);
2. sensor noise (seeded from ``params.noise_seed``), negative values cut at 0;
3. clipping to [0, 1] (``clipped_mask`` = max channel of ``hdr_target`` >= 1);
   3b. optional local tone mapping of the clipped sensor signal (``params.local_tone``, 0 = none), as cameras'
   "dynamic range" modes and phones do: a gain of up to 2 stops where the down-scaled luminance is below
   mid-grey (:func:`local_tone_gain`); clipped pixels stay clipped;
4. the camera response function (CRF);
5. optional in-camera processing of the encoded image: colour saturation around the luma
   (``params.saturation``, 1 = none) and an unsharp mask of radius 1 px (``params.sharpen``, 0 = none);
6. quantisation to 2^bits levels;
7. optional JPEG compression (Pillow, in memory; quality ``params.jpeg_quality``).

The main path is torch (C, H, W); numpy HWC float32 input is converted and the result converted
back. Randomness lives only in :func:`sample_params` (a passed ``torch.Generator``); the same
params always give the same output.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hdrlift.degrade.config import CameraConfig
from hdrlift.degrade.crf import (
    apply_crf,
    apply_curve,
    check_crf,
    crf_table,
    invert_curve_numpy,
    make_monotonic,
)
from hdrlift.degrade.crf_basis import (
    crf_basis,
    crf_family,
    curve_from_coeffs,
    fit_coeffs,
    load_dorf,
    resample_curves,
)
from hdrlift.degrade.jpeg import jpeg_roundtrip
from hdrlift.errors import ConfigError, DataError

_LUMA = (0.2126, 0.7152, 0.0722)
#: Clip fractions at which :class:`HdrStats` stores the max-channel level (log-spaced).
_FRACTIONS = tuple(float(f) for f in np.geomspace(1e-4, 0.5, 48))


@dataclass(frozen=True)
class HdrStats:
    """Exposure statistics of one linear HDR image (what auto-exposure needs).

    Attributes:
        median_luminance: median Rec.709 luminance.
        fractions: clip fractions f (increasing).
        levels: max-channel value exceeded by a fraction f of the pixels (decreasing).
    """

    median_luminance: float
    fractions: tuple[float, ...]
    levels: tuple[float, ...]

    def level_for_fraction(self, f: float) -> float:
        """Value that a fraction ``f`` of the pixels reaches (log-log interpolation)."""
        fr = np.log(np.asarray(self.fractions))
        lv = np.log(np.maximum(np.asarray(self.levels), 1e-30))
        return float(np.exp(np.interp(math.log(min(max(f, self.fractions[0]), self.fractions[-1])), fr, lv)))


def _as_chw(hdr: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    if isinstance(hdr, np.ndarray):
        if hdr.ndim != 3 or hdr.shape[-1] not in (1, 3):
            raise ValueError(f"numpy input must be HWC with 1 or 3 channels, got shape {hdr.shape}")
        return torch.from_numpy(np.ascontiguousarray(hdr, dtype=np.float32)).permute(2, 0, 1), True
    if not isinstance(hdr, torch.Tensor) or hdr.dim() != 3 or hdr.shape[0] not in (1, 3):
        raise ValueError(f"torch input must be (C, H, W) with 1 or 3 channels, got {getattr(hdr, 'shape', hdr)}")
    return hdr.float(), False


def compute_hdr_stats(hdr: torch.Tensor | np.ndarray, max_pixels: int = 1 << 18) -> HdrStats:
    """Exposure statistics of a linear HDR image (strided subsample above ``max_pixels``).

    Shape:
        hdr: (C, H, W) torch or (H, W, C) numpy, linear HDR
    """
    x, _ = _as_chw(hdr)
    a = x.detach().cpu().numpy().reshape(x.shape[0], -1).astype(np.float64)
    if not np.isfinite(a).all():
        raise DataError("HDR image contains NaN or Inf; clean it before simulating")
    a = np.clip(a, 0.0, None)
    step = max(1, a.shape[1] // max_pixels)
    a = a[:, ::step]
    lum = np.dot(np.asarray(_LUMA[: a.shape[0]] if a.shape[0] == 3 else (1.0,)), a)
    mx = a.max(axis=0)
    levels = np.quantile(mx, 1.0 - np.asarray(_FRACTIONS))
    return HdrStats(float(np.median(lum)), _FRACTIONS, tuple(float(v) for v in levels))


@dataclass(frozen=True)
class CameraParams:
    """One camera draw: everything :func:`simulate` needs (plain numbers, JSON-friendly).

    Attributes:
        exposure: multiplier applied to the HDR (absolute; auto-exposure already folded in).
        crf: ``linear | srgb | gamma | rec709 | filmic`` (analytic), ``basis`` (``crf_params`` are
            coefficients of ``crf_basis(k=len(crf_params))``), or ``table`` (``crf_params[0]`` is the
            curve index in the DoRF file ``crf_source``).
        crf_params: parameters of the CRF (see :mod:`hdrlift.degrade.crf`).
        wb: per-channel white-balance gains (R, G, B).
        shot_sigma, read_sigma: per-channel noise levels (relative to the clipping level).
        noise_model: ``relative`` (std of shot noise = shot * x) or ``poisson`` (variance shot^2 * x).
        bits: quantisation bits.
        jpeg_quality: JPEG quality 1..100, or None for no compression.
        noise_seed: seed of the noise generator.
        crf_source: DoRF file for ``crf="table"``.
        jpeg_subsampling: chroma subsampling of the JPEG step (``4:2:0``, ``4:2:2``, ``4:4:4``).
        saturation: colour saturation factor of the encoded image around its luma (1 = none).
        sharpen: unsharp-mask amount on the encoded image, Gaussian radius 1 px (0 = none).
        local_tone: strength of the local tone mapping of step 3b (0 = none, at most 1).
    """

    exposure: float = 1.0
    crf: str = "srgb"
    crf_params: tuple[float, ...] = ()
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shot_sigma: tuple[float, float, float] = (0.0, 0.0, 0.0)
    read_sigma: tuple[float, float, float] = (0.0, 0.0, 0.0)
    noise_model: str = "relative"
    bits: int = 8
    jpeg_quality: int | None = None
    noise_seed: int = 0
    crf_source: str | None = None
    jpeg_subsampling: str = "4:2:0"
    saturation: float = 1.0
    sharpen: float = 0.0
    local_tone: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples) - log it to replay a training pair."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraParams:
        """Inverse of :meth:`to_dict` (unknown key -> ConfigError)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown camera params key(s) {unknown}; valid: {', '.join(sorted(names))}")
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)


@dataclass
class SimResult:
    """Output of :func:`simulate` (same container type and layout as the input HDR).

    Attributes:
        ldr: sRGB-ish encoded LDR on 2^bits levels, float32 in [0, 1].
        hdr_target: linear HDR scaled so 1.0 = this exposure's clipping level (hdr * exposure * wb).
        clipped_mask: True where the max channel of ``hdr_target`` reaches 1 (bool; torch (1, H, W),
            numpy (H, W, 1)).
        params: the parameters used.
        encoded_clean: only with ``simulate(..., clean_encoded=True)``: the camera curve applied to the
            noise-free clipped target, ``f(min(1, hdr_target))``, before quantisation and JPEG (DuHDR's
            ``I_n~``, the target of its dequantisation net); float32 in [0, 1], layout of ``ldr``.
    """

    ldr: torch.Tensor | np.ndarray
    hdr_target: torch.Tensor | np.ndarray
    clipped_mask: torch.Tensor | np.ndarray
    params: CameraParams
    encoded_clean: torch.Tensor | np.ndarray | None = None


# ----------------------------------------------------------------------------- CRF helpers


@functools.lru_cache(maxsize=4)
def _dorf_curves(path: str) -> np.ndarray:
    grid, curves = load_dorf(path)
    out = resample_curves(grid, curves, 1024)
    out.setflags(write=False)
    return out


def table_subset(n_curves: int, subset: str) -> np.ndarray:
    """Indices of the curves of an ``n_curves``-curve table that ``subset`` draws from.

    ``holdout`` = every index with ``i % 5 == 2`` (40 of the 201 DoRF curves), ``train`` = the others,
    ``all`` = every curve. The rule is fixed so that validation on ``holdout`` stays unseen by any
    weight trained on ``train``.

    Shape:
        -> (m,) int64, sorted
    """
    idx = np.arange(int(n_curves))
    if subset == "all":
        return idx
    held = idx % 5 == 2
    if subset == "holdout":
        return idx[held]
    if subset == "train":
        return idx[~held]
    raise ConfigError(f"unknown crf_table_subset {subset!r}; valid: all, train, holdout")


@functools.lru_cache(maxsize=8)
def _basis_coeff_std(k: int) -> np.ndarray:
    """Standard deviation of each basis coefficient over the curve family."""
    return fit_coeffs(crf_basis(k), crf_family(1024)).std(axis=0)


def crf_curve(params: CameraParams, n: int = 1024) -> np.ndarray:
    """The CRF of ``params`` sampled on a uniform grid of n points (monotonic, 0 -> 0, 1 -> 1).

    Shape:
        -> (n,) float64
    """
    if params.crf == "basis":
        c = torch.as_tensor(params.crf_params, dtype=torch.float64)
        curve = make_monotonic(curve_from_coeffs(crf_basis(len(params.crf_params)), c)).numpy()
        return curve if n == curve.size else np.interp(np.linspace(0, 1, n), np.linspace(0, 1, curve.size), curve)
    if params.crf == "table":
        if not params.crf_source:
            raise ConfigError("crf='table' needs crf_source (a DoRF file)")
        curves = _dorf_curves(params.crf_source)
        curve = curves[int(params.crf_params[0]) % len(curves)]
        return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, curve.size), curve)
    return crf_table(params.crf, params.crf_params, n)


def crf_coefficients(params: CameraParams, k: int = 11, inverse: bool = False) -> np.ndarray:
    """Coefficients of the CRF (or its inverse) of ``params`` in hdrlift's k-dim basis - the
    supervision target of DuHDR's Nnet / INnet.

    Shape:
        -> (k,) float64
    """
    curve = crf_curve(params, 1024)
    if inverse:
        curve = invert_curve_numpy(curve)
    return fit_coeffs(crf_basis(k, 1024, inverse), curve)


def _apply_params_crf(x: torch.Tensor, params: CameraParams) -> torch.Tensor:
    if params.crf in ("basis", "table"):
        curve = torch.as_tensor(crf_curve(params), dtype=x.dtype, device=x.device)
        return apply_curve(x, curve)
    return apply_crf(x, params.crf, params.crf_params)


# ----------------------------------------------------------------------------- sampling


def _uniform(u: float, rng: tuple[float, float]) -> float:
    return rng[0] + (rng[1] - rng[0]) * u


def sample_params(
    cfg: CameraConfig,
    generator: torch.Generator,
    hdr_stats: HdrStats | torch.Tensor | np.ndarray | None = None,
) -> CameraParams:
    """Draw camera parameters from ``cfg`` with ``generator`` (never the global RNG).

    ``hdr_stats`` (an :class:`HdrStats`, or the HDR image itself) feeds the auto-exposure; without
    it the HDR is assumed already normalised (auto-exposure factor 1). The number of random draws
    is the same for every call, so streams stay aligned.
    """
    if hdr_stats is not None and not isinstance(hdr_stats, HdrStats):
        hdr_stats = compute_hdr_stats(hdr_stats)
    u = torch.rand(12, generator=generator, dtype=torch.float64).tolist()
    un = torch.rand(6, generator=generator, dtype=torch.float64).tolist()
    z = torch.randn(cfg.basis_k, generator=generator, dtype=torch.float64).numpy()
    noise_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())

    # exposure
    base = 1.0
    if hdr_stats is not None:
        if cfg.auto_exposure == "clip_fraction":
            level = hdr_stats.level_for_fraction(_uniform(u[0], cfg.clip_fraction))
            base = 1.0 / level if level > 0 else 1.0
        elif cfg.auto_exposure == "median" and hdr_stats.median_luminance > 0:
            base = cfg.median_target / hdr_stats.median_luminance
    exposure = base * 2.0 ** _uniform(u[1], cfg.exposure_stops)

    # CRF
    kinds = [k for k, w in cfg.crf_weights.items() if w > 0]
    w = np.cumsum([cfg.crf_weights[k] for k in kinds])
    kind = kinds[min(int(np.searchsorted(w, u[2] * w[-1], side="right")), len(kinds) - 1)]
    source = None
    if kind == "srgb":
        crf_params: tuple[float, ...] = ()
    elif kind == "gamma":
        crf_params = (_uniform(u[3], cfg.gamma_range),)
    elif kind == "filmic":
        crf_params = (_uniform(u[3], cfg.filmic_contrast), _uniform(u[4], cfg.filmic_mid))
    elif kind == "basis":
        crf_params = tuple(float(v) for v in z * cfg.basis_spread * _basis_coeff_std(cfg.basis_k))
    else:
        source = str(cfg.crf_table_path)
        pool = table_subset(len(_dorf_curves(source)), cfg.crf_table_subset)
        crf_params = (float(pool[min(int(u[3] * len(pool)), len(pool) - 1)]),)

    wb = (2.0 ** (cfg.wb_jitter * (2 * u[5] - 1)), 1.0, 2.0 ** (cfg.wb_jitter * (2 * u[6] - 1)))
    noisy = u[7] < cfg.noise_prob
    shot = tuple(_uniform(v, cfg.shot_sigma) if noisy else 0.0 for v in un[:3])
    read = tuple(_uniform(v, cfg.read_sigma) if noisy else 0.0 for v in un[3:])
    quality = None
    if u[8] < cfg.jpeg_prob:
        lo, hi = cfg.jpeg_quality
        quality = int(min(lo + int(u[9] * (hi - lo + 1)), hi))
    return CameraParams(
        exposure=float(exposure),
        crf=kind,
        crf_params=crf_params,
        wb=wb,
        shot_sigma=shot,  # type: ignore[arg-type]
        read_sigma=read,  # type: ignore[arg-type]
        noise_model=cfg.noise_model,
        bits=cfg.bits,
        jpeg_quality=quality,
        noise_seed=noise_seed,
        crf_source=source,
        jpeg_subsampling=cfg.jpeg_subsampling,
        saturation=float(_uniform(u[10], cfg.saturation)),  # u[10], u[11]: draws no other field uses
        sharpen=float(_uniform(u[11], cfg.sharpen)),
        local_tone=_local_tone_draw(cfg.local_tone, noise_seed),
    )


def _local_tone_draw(rng: tuple[float, float], noise_seed: int) -> float:
    """The local-tone strength of a capture: uniform in ``rng``, from a generator seeded by the capture's noise
    seed, so that the main stream's draws (and every capture of a config without it) stay as they were."""
    if rng[1] <= 0.0:
        return 0.0
    g = torch.Generator().manual_seed(int(noise_seed) + 1)
    return float(_uniform(float(torch.rand(1, generator=g, dtype=torch.float64).item()), rng))


# ----------------------------------------------------------------------------- simulation


#: local tone mapping (step 3b): blur sigma as a fraction of the long side, the level below which the down-scaled
#: luminance is lifted (mid-grey, linear), and the largest lift in stops
LOCAL_TONE_SIGMA = 0.04
LOCAL_TONE_REF = 0.18
LOCAL_TONE_MAX_STOPS = 2.0


def local_tone_gain(sig: torch.Tensor, strength: float) -> torch.Tensor:
    """The gain of step 3b: ``2 ** clamp(strength * (log2 0.18 - B), 0, 2)`` with ``B`` the log2 luminance blurred
    with a Gaussian of 4 % of the long side (computed at a reduced scale): regions darker than mid-grey are
    lifted, up to 2 stops; bright regions get a gain of 1. (:func:`simulate` clamps the lifted signal at 1, so a
    clipped pixel stays clipped, also a small light in a dark room.)

    Domain: linear sensor signal in [0, 1] (1.0 = clipping level).

    Shape:
        (C, H, W) -> (1, H, W)
    """
    import torch.nn.functional as F

    from hdrlift.ops.blend import gaussian_blur
    from hdrlift.ops.transfer import luminance

    c, h, w = sig.shape
    y = luminance(sig) if c == 3 else sig[0:1]
    sigma = LOCAL_TONE_SIGMA * max(h, w)
    f = max(1, int(sigma // 4))
    small = F.avg_pool2d(y[None], f, ceil_mode=True)[0] if f > 1 else y
    base = gaussian_blur(torch.log2(small.clamp(min=0.0) + 1e-4), sigma / f)
    if f > 1:
        base = F.interpolate(base[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    lift = (strength * (math.log2(LOCAL_TONE_REF) - base)).clamp(0.0, LOCAL_TONE_MAX_STOPS)
    return torch.exp2(lift)


def _local_tone(sig: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Step 3b of :func:`simulate` on the clipped sensor signal (the input itself when ``local_tone`` is 0).

    Shape:
        (C, H, W) -> (C, H, W)
    """
    if params.local_tone <= 0.0:
        return sig
    return (sig * local_tone_gain(sig, params.local_tone)).clamp(0.0, 1.0)


def _in_camera(enc: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Step 5 of :func:`simulate`: saturation around the luma, then an unsharp mask (radius 1 px), clamped to
    [0, 1]; the input itself when both are off.

    Domain: camera-encoded LDR in [0, 1] in and out.

    Shape:
        (C, H, W) -> (C, H, W)
    """
    out = enc
    if params.saturation != 1.0 and enc.shape[0] == 3:
        y = 0.299 * enc[0:1] + 0.587 * enc[1:2] + 0.114 * enc[2:3]
        out = (y + params.saturation * (out - y)).clamp(0.0, 1.0)
    if params.sharpen > 0.0:
        from hdrlift.ops.blend import gaussian_blur

        out = (out + params.sharpen * (out - gaussian_blur(out, 1.0))).clamp(0.0, 1.0)
    return out


def simulate(hdr: torch.Tensor | np.ndarray, params: CameraParams, clean_encoded: bool = False) -> SimResult:
    """Simulate the capture of a linear HDR image with fixed camera parameters (deterministic).

    ``clean_encoded=True`` also returns the noise-free encoded image before quantisation
    (``SimResult.encoded_clean``).

    Shape:
        hdr: (C, H, W) torch or (H, W, C) numpy float, linear HDR >= 0 (C = 1 or 3)
        -> SimResult with ldr / hdr_target of the same shape and type, clipped_mask (1, H, W) or
        (H, W, 1)
    """
    x, was_numpy = _as_chw(hdr)
    if not torch.isfinite(x).all():
        raise DataError("HDR image contains NaN or Inf; clean it before simulating")
    if params.noise_model not in ("relative", "poisson"):
        raise ConfigError(f"unknown noise_model {params.noise_model!r}")
    if params.crf not in ("basis", "table"):
        check_crf(params.crf, params.crf_params)
    c = x.shape[0]
    wb = torch.tensor(params.wb[:c] if c == 3 else (1.0,), dtype=x.dtype, device=x.device).view(c, 1, 1)
    target = x.clamp(min=0.0) * params.exposure * wb
    mask = target.amax(dim=0, keepdim=True) >= 1.0

    sig = target
    shot = torch.tensor(params.shot_sigma[:c], dtype=x.dtype, device=x.device).view(c, 1, 1)
    read = torch.tensor(params.read_sigma[:c], dtype=x.dtype, device=x.device).view(c, 1, 1)
    if bool((shot > 0).any() or (read > 0).any()):
        g = torch.Generator().manual_seed(int(params.noise_seed))
        n = torch.randn(target.shape, generator=g, dtype=torch.float32).to(x.device, x.dtype)
        s = target.clamp(max=2.0)  # noise above the clipping level is clipped away anyway
        var = (shot * s) ** 2 if params.noise_model == "relative" else shot**2 * s
        sig = (target + n * torch.sqrt(var + read**2)).clamp(min=0.0)
    encoded = _in_camera(_apply_params_crf(_local_tone(sig.clamp(0.0, 1.0), params), params).clamp(0.0, 1.0), params)
    levels = float(2 ** int(params.bits) - 1)
    ldr = torch.round(encoded * levels) / levels

    if params.jpeg_quality is not None:
        if params.bits != 8:
            raise ConfigError(f"JPEG needs bits=8, got bits={params.bits}")
        u8 = (ldr * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        out = jpeg_roundtrip(u8[..., 0] if c == 1 else u8, params.jpeg_quality, params.jpeg_subsampling)
        if c == 1:
            out = out[..., None]
        ldr = torch.from_numpy(out).permute(2, 0, 1).to(x.device, torch.float32) / 255.0

    ldr = ldr.float()
    target = target.float()
    clean = (_in_camera(_apply_params_crf(_local_tone(target.clamp(0.0, 1.0), params), params).clamp(0.0, 1.0),
                        params).float()
             if clean_encoded else None)
    if was_numpy:
        return SimResult(
            ldr=ldr.permute(1, 2, 0).cpu().numpy(),
            hdr_target=target.permute(1, 2, 0).cpu().numpy(),
            clipped_mask=mask.permute(1, 2, 0).cpu().numpy(),
            params=params,
            encoded_clean=None if clean is None else clean.permute(1, 2, 0).cpu().numpy(),
        )
    return SimResult(ldr=ldr, hdr_target=target, clipped_mask=mask, params=params, encoded_clean=clean)


def capture(
    hdr: torch.Tensor | np.ndarray,
    exposure_stops: float = 0.0,
    crf: str = "srgb",
    crf_params: tuple[float, ...] = (),
    auto_exposure: str = "median",
    median_target: float = 0.18,
    clip_fraction: float = 0.05,
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0),
    shot_sigma: float = 0.0,
    read_sigma: float = 0.0,
    noise_model: str = "poisson",
    bits: int = 8,
    jpeg_quality: int | None = None,
    seed: int = 0,
) -> SimResult:
    """How a camera would capture this scene: the user-facing HDR -> LDR feature (``hdrlift degrade``).

    ``auto_exposure``: ``"median"`` (default) meters the median luminance to ``median_target``
    (middle grey), ``"clip_fraction"`` exposes so that ``clip_fraction`` of the pixels clip,
    ``"none"`` uses the HDR values as they are; ``exposure_stops`` is added on top (+1 = twice the
    light). ``crf`` is a named family (``srgb``, ``gamma`` with ``crf_params=(2.2,)``, ``rec709``,
    ``filmic``, ``linear``). Noise is off unless ``shot_sigma``/``read_sigma`` are given.

    Shape:
        hdr: (C, H, W) torch or (H, W, C) numpy, linear HDR -> SimResult (see :func:`simulate`)
    """
    if auto_exposure not in ("median", "clip_fraction", "none"):
        raise ConfigError(f"auto_exposure must be median, clip_fraction or none, got {auto_exposure!r}")
    check_crf(crf, crf_params)
    base = 1.0
    if auto_exposure != "none":
        st = compute_hdr_stats(hdr)
        if auto_exposure == "median" and st.median_luminance > 0:
            base = median_target / st.median_luminance
        elif auto_exposure == "clip_fraction":
            level = st.level_for_fraction(clip_fraction)
            base = 1.0 / level if level > 0 else 1.0
    params = CameraParams(
        exposure=float(base * 2.0**exposure_stops),
        crf=crf,
        crf_params=tuple(float(v) for v in crf_params),
        wb=(float(wb[0]), float(wb[1]), float(wb[2])),
        shot_sigma=(float(shot_sigma),) * 3,
        read_sigma=(float(read_sigma),) * 3,
        noise_model=noise_model,
        bits=int(bits),
        jpeg_quality=jpeg_quality,
        noise_seed=int(seed),
    )
    return simulate(hdr, params)
