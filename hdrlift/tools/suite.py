"""The generalisation validation suite: does a method beat plain sRGB decoding on cameras it never saw?

A single validation file made with the training camera says little about photos from elsewhere
(issue #22: the project's own validation said +2.15 dB while two independent sets said +1). The suite
captures the validation scenes (``configs/splits/hdr_v2_val.txt``, none of them trained on) with four
cameras and scores every method the way those independent sets do - output scaled by one factor fitted
on the well-exposed pixels, then PSNR-mu:

* ``a_default``  - the project's default camera model (its curve mix, noise, JPEG);
* ``b_heldout``  - a held-out camera: the held-out fifth of the 201 measured DoRF curves
  (``crf_table_subset="holdout"``), Poisson-Gaussian noise with another level range, JPEG 60-92 with
  4:4:4 chroma on every capture - nothing a hdrlift recipe samples;
* ``c_srgb``     - the plain sRGB curve with the default noise and JPEG (renders, edited photos);
* ``c_srgb_clean`` - the sRGB curve, 8-bit quantisation only;

and, only when asked for (``--parts``; not in the score of the shipping rule), the diagnostic

* ``d_processed`` - the held-out camera with in-camera processing, as real cameras' JPEGs have it: colour
  saturation 1.0-1.4 and an unsharp mask of amount 0.3-1.2 (radius 1 px) before quantisation and JPEG
  (:func:`hdrlift.degrade.camera.simulate`, step 5) - what no hdrlift training recipe samples. Its captures
  are those of ``b_heldout`` with the processing added (same seed), so the two compare pair by pair.
* ``d_localtone`` - the held-out camera with local tone mapping of the sensor signal, as cameras' "dynamic
  range" modes and phones apply it: shadows of the down-scaled luminance lifted by up to 2 stops, strength
  0.3-0.7 (:func:`hdrlift.degrade.camera.local_tone_gain`, step 3b). Also ``b_heldout``'s captures plus the
  processing: what neither a global curve nor any training recipe models.

Every capture is exposed so that 3-10 % of the pixels clip (as the independent sets were), two
captures per scene with independent draws. Metrics per pair, after the alignment:
``psnr_mu`` (NTIRE recipe), ``psnr_mu_well`` / ``psnr_mu_clip`` (the same squared tone-mapped error
averaged over the well-exposed / the clipped pixels only), ``clip_stops`` (RMSE of log2 luminance on
the clipped pixels), ``pu21_psnr``; and per part the per-region oracle of the clipped error
(:func:`oracle_rmses`, a lower bound given the reference). The checkpoint criterion is
:func:`suite_score`: the *smallest* gain over ``linear`` across the parts, so a weight that trades
one kind of camera for another does not win.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from hdrlift.data.pair import Pair
from hdrlift.errors import DataError

#: the DoRF file the held-out camera draws its curves from (user data, never shipped)
DEFAULT_CRF_FILE = "../shared/data/crf/201_CRF_data.mat"
#: fraction of pixels (max channel) that clip in every suite capture
SUITE_CLIP_FRACTION = (0.03, 0.10)
#: exposure offsets (stops from the auto exposure) of the captures of each scene
SUITE_EXPOSURES = (-0.3, 0.3)
#: input code values counted as well exposed (max channel below, min channel above)
WELL_EXPOSED = (0.05, 0.95)
CLIP_LEVEL = 0.99
PARTS = ("a_default", "b_heldout", "c_srgb", "c_srgb_clean")
#: diagnostic parts, scored only when asked for
EXTRA_PARTS = ("d_processed", "d_localtone")
#: capture seed offset of each part; d_processed shares b_heldout's, so its captures are b_heldout's draws (scene
#: view, exposure, curve, noise, JPEG) with the processing added: a paired comparison
_SEED_INDEX = {**{p: i for i, p in enumerate(PARTS)}, "d_processed": 1, "d_localtone": 1}
METRICS = ("psnr_mu", "psnr_mu_well", "psnr_mu_clip", "clip_stops", "pu21_psnr")


def suite_cameras(crf_file: str | Path = DEFAULT_CRF_FILE) -> dict[str, dict[str, Any]]:
    """Camera configurations (:class:`~hdrlift.degrade.CameraConfig` dicts) of the four parts.

    ``configs/camera/heldout.yaml``, ``srgb.yaml`` and ``srgb_clean.yaml`` hold the same settings for
    ``hdrlift degrade --camera`` (a test keeps them equal)."""
    common = {"clip_fraction": list(SUITE_CLIP_FRACTION)}
    heldout = {
        **common,
        "crf_weights": {"table": 1.0},
        "crf_table_path": str(crf_file),
        "crf_table_subset": "holdout",
        "noise_prob": 1.0,
        "noise_model": "poisson",
        "shot_sigma": [0.002, 0.02],
        "read_sigma": [0.0005, 0.004],
        "jpeg_prob": 1.0,
        "jpeg_quality": [60, 92],
        "jpeg_subsampling": "4:4:4",
        "wb_jitter": 0.15,
    }
    return {
        "a_default": dict(common),
        "b_heldout": heldout,
        "c_srgb": {**common, "crf_weights": {"srgb": 1.0}},
        "c_srgb_clean": {**common, "crf_weights": {"srgb": 1.0}, "noise_prob": 0.0, "jpeg_prob": 0.0},
        "d_processed": {**heldout, "saturation": [1.0, 1.4], "sharpen": [0.3, 1.2]},
        "d_localtone": {**heldout, "local_tone": [0.3, 0.7]},
    }


def build_suite(
    files: Sequence[Path],
    parts: Sequence[str] = PARTS,
    max_side: int = 384,
    seed: int = 22,
    crf_file: str | Path = DEFAULT_CRF_FILE,
) -> list[Pair]:
    """Deterministic pairs of every part for the HDR ``files`` (a pure function of the arguments); a pair's
    ``group`` is its part."""
    from hdrlift.data.synth import capture_pairs

    cams = suite_cameras(crf_file)
    unknown = [p for p in parts if p not in cams]
    if unknown:
        raise DataError(f"unknown suite part(s) {unknown}; valid: {', '.join(PARTS + EXTRA_PARTS)}")
    if {"b_heldout", "d_processed", "d_localtone"} & set(parts) and not Path(crf_file).is_file():
        raise DataError(f"{crf_file}: DoRF curve file not found (the held-out camera needs it; --crf-file)")
    out: list[Pair] = []
    for part in parts:
        for p in capture_pairs(files, SUITE_EXPOSURES, max_side, seed * 7 + _SEED_INDEX[part], cams[part]):
            out.append(dataclasses.replace(p, group=part))
    return out


# ----------------------------------------------------------------------------- metrics


def well_exposed_mask(ldr: np.ndarray, lo: float = WELL_EXPOSED[0], hi: float = WELL_EXPOSED[1]) -> np.ndarray:
    """Pixels of the sRGB-encoded input that are neither clipped nor near black.

    Shape:
        (H, W, 3) -> (H, W) bool
    """
    return (ldr.max(axis=-1) < hi) & (ldr.min(axis=-1) > lo)


def align_on_well_exposed(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray, floor: float = 1e-6) -> float:
    """Scale s minimising the squared log2-luminance error of ``s * res`` on the well-exposed pixels
    (all pixels with positive luminance when none is well exposed).

    Domain: ``ref`` / ``res`` linear HDR, ``ldr`` the sRGB-encoded input.

    Shape:
        (H, W, 3) x3 -> float
    """
    from hdrlift.metrics._common import luminance_hwc

    yr, yt = luminance_hwc(ref), luminance_hwc(res)
    m = well_exposed_mask(ldr) & (yr > floor) & (yt > floor)
    if not m.any():
        m = (yr > floor) & (yt > floor)
    if not m.any():
        return 1.0
    return float(2.0 ** np.mean(np.log2(yr[m]) - np.log2(yt[m])))


def oracle_exponent(ldr: np.ndarray, hdr: np.ndarray, min_pixels: int = 200) -> tuple[float, float, float] | None:
    """``(g, var, resid)``: the exponent ``g`` for which ``srgb_to_linear(ldr) ** g`` best matches the
    true luminance on the well-exposed pixels (least squares in log2 with a free scale, as the suite
    aligns), the variance of log2 of the decoded luminance there and the mean squared log2 error left at
    ``g``; None with fewer than ``min_pixels`` such pixels or no spread. ``resid + var * (g' - g) ** 2``
    is the squared log2 error an exponent ``g'`` leaves after alignment (CurveNet's training target and
    loss, :mod:`hdrlift.train.curvenet`).

    Domain: ``ldr`` sRGB-encoded LDR in [0, 1], ``hdr`` linear HDR.

    Shape:
        (H, W, 3), (H, W, 3) -> (float, float, float) | None
    """
    import torch

    from hdrlift.metrics._common import luminance_hwc
    from hdrlift.ops.transfer import srgb_to_linear

    lin = srgb_to_linear(torch.from_numpy(np.asarray(ldr, np.float64))).numpy()
    yl, yr = luminance_hwc(lin), luminance_hwc(np.asarray(hdr, np.float64))
    m = well_exposed_mask(ldr) & (yl > 1e-6) & (yr > 1e-6)
    if m.sum() < min_pixels:
        return None
    a, b = np.log2(yl[m]), np.log2(yr[m])
    va = float(a.var())
    if va < 1e-4:
        return None
    g = float(((a - a.mean()) * (b - b.mean())).mean() / va)
    resid = float((((b - b.mean()) - g * (a - a.mean())) ** 2).mean())
    return g, va, resid


def pair_metrics(ref: np.ndarray, res: np.ndarray, ldr: np.ndarray) -> dict[str, float]:
    """The suite's metrics of one result (aligned here first).

    Domain: ``ref`` / ``res`` linear HDR (1.0 = clipping level), ``ldr`` the sRGB-encoded input.

    Shape:
        (H, W, 3) x3 -> {metric: float}; NaN where a mask is empty
    """
    from hdrlift.metrics.clipped import clipped_log_rmse, clipped_mask
    from hdrlift.metrics.ntire import ntire_mu_norm, ntire_mu_tonemap, psnr_mu
    from hdrlift.metrics.pu21 import pu_psnr

    ref = np.asarray(ref, np.float64)
    res = np.maximum(np.asarray(res, np.float64), 0.0)
    res = res * align_on_well_exposed(ref, res, ldr)
    n = ntire_mu_norm(ref)
    err = ((ntire_mu_tonemap(ref, n) - ntire_mu_tonemap(res, n)) ** 2).mean(axis=-1)

    def masked(m: np.ndarray) -> float:
        if not m.any():
            return float("nan")
        return float(-10.0 * np.log10(max(float(err[m].mean()), 1e-20)))

    return {
        "psnr_mu": psnr_mu(ref, res),
        "psnr_mu_well": masked(well_exposed_mask(ldr)),
        "psnr_mu_clip": masked(clipped_mask(ldr, CLIP_LEVEL)),
        "clip_stops": clipped_log_rmse(ref, res, ldr, CLIP_LEVEL),
        "pu21_psnr": pu_psnr(ref, res),
    }


def oracle_rmses(ref_lin: np.ndarray, ldr: np.ndarray, threshold: float = CLIP_LEVEL) -> dict[str, float] | None:
    """RMSE (stops) of oracle fits of the true log2 luminance inside the clipped pixels; None when none clip.

    Each oracle is given the answer, so each is a lower bound for any method that only predicts
    what the oracle can express: ``oracle image constant`` (one value per image), ``oracle region
    constant`` (one value per 8-connected clipped region), ``oracle image features`` / ``oracle region
    features`` (least squares, per image / per region, on log(1 + distance to the region's edge) and
    its square, log region area, the LDR min and mean channel and min channel squared).

    Shape:
        ref_lin (H, W, 3) linear HDR, ldr (H, W, 3) sRGB-encoded LDR in [0, 1] -> {oracle: float}
    """
    from scipy import ndimage

    from hdrlift.metrics.clipped import LOG_FLOOR, clipped_mask, luminance_hwc

    mask = clipped_mask(ldr, threshold)
    if not mask.any():
        return None
    y = np.log2(np.maximum(luminance_hwc(ref_lin)[mask], LOG_FLOOR))
    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    blob = lab[mask]
    dist = np.log1p(ndimage.distance_transform_edt(mask)[mask])
    area = np.log(np.bincount(lab.ravel())[blob])
    mn, me = ldr.min(-1)[mask], ldr.mean(-1)[mask]
    feats = np.stack([np.ones_like(y), dist, dist**2, area, mn, me, mn**2], axis=1)
    local = feats[:, [0, 1, 2, 4, 5, 6]]  # area is constant inside a region

    def lstsq(f: np.ndarray, t: np.ndarray) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(f, t, rcond=None)
        return f @ coef

    pred = {k: np.empty_like(y) for k in ORACLES}
    pred["oracle image constant"][:] = y.mean()
    pred["oracle image features"] = lstsq(feats, y)
    for k in range(1, n + 1):
        s = blob == k
        pred["oracle region constant"][s] = y[s].mean()
        pred["oracle region features"][s] = lstsq(local[s], y[s]) if s.sum() > 10 else y[s].mean()
    return {k: float(np.sqrt(np.mean((p - y) ** 2))) for k, p in pred.items()}


ORACLES = ("oracle image constant", "oracle region constant", "oracle image features", "oracle region features")


# ----------------------------------------------------------------------------- running


def _nanmean(v: list[float]) -> float | None:
    a = np.asarray([x for x in v if np.isfinite(x)], np.float64)
    return float(a.mean()) if a.size else None


#: a blend variant's parameters: (tau, mid), (tau, mid, sigma), (tau, mid, sigma, detail) or (tau, mid, sigma,
#: detail, highlight) of :func:`hdrlift.ops.blend.blend_with_decoded`; detail a number or ``"auto"`` (per photo,
#: from a camera estimator's degradation branch)
Blend = tuple[float, ...] | tuple[float, float, float, float | str] | tuple[float, float, float, float | str, float]


def _blend3(b: Sequence[Any]) -> tuple[float, float, float]:
    """(tau, mid, sigma), sigma 0 (the function's default) when not given."""
    return (float(b[0]), float(b[1]), float(b[2])) if len(b) >= 3 else (float(b[0]), float(b[1]), 0.0)


def _detail(b: Sequence[Any]) -> float | str:
    """A blend variant's detail weight: its 4th field, 1.0 (the function's default) when not given."""
    return b[3] if len(b) >= 4 else 1.0


def _highlight(b: Sequence[Any]) -> float:
    """A blend variant's highlight expansion: its 5th field, 0.0 (the function's default) when not given."""
    return float(b[4]) if len(b) == 5 else 0.0


def _detail_of(detail: float | str, auto: Any) -> Any:
    """The ``detail`` argument of a variant: the photo's own weight when ``auto``, else the number."""
    if detail == "auto":
        if auto is None:
            raise DataError("blend detail 'auto' needs a camera estimator with a degradation branch")
        return auto
    return float(detail)


def parse_blend(text: str) -> Blend:
    """``"TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]"`` -> a :data:`Blend` (DETAIL a number or ``auto``); ValueError naming
    the bad field (:func:`hdrlift.ops.blend.parse_blend`, the same parser as ``hdrlift predict --blend``)."""
    from hdrlift.ops.blend import parse_blend as parse

    return cast(Blend, parse(text))


def run_suite(
    methods: Sequence[str],
    pairs: Sequence[Pair],
    device: str = "auto",
    precision: str = "fp32",
    progress: Any = None,
    blends: Sequence[Blend] = (),
    raw: bool = False,
    threads: int | None = None,
    cameras: Sequence[str] = (),
) -> dict[str, Any]:
    """Score every method on every pair; returns ``{"parts": {part: {method: {metric: mean}}},
    "oracle": {part: per-region oracle stops}, "score": {method: min gain over linear across parts},
    "n": {part: pairs}}``. ``linear`` is always scored (it is the baseline of the gains).

    ``blends``: also score every network's output blended with the decoded photo
    (:func:`hdrlift.ops.blend.blend_with_decoded`) for each ``(tau, mid)``, as rows
    ``"<method>+blend(tau,mid)"`` - one network run serves all of them. ``threads``: torch threads
    (default: every core of the affinity mask; 1 on a busy machine). ``raw=True`` scores the
    networks without the blend their checkpoint declares (``--blend none``). ``cameras``: decoders of the
    photo (a curve estimator weight or checkpoint, see :func:`~hdrlift.inference.predictor.resolve_camera`);
    every blend is also scored with each as the decoded photo, rows ``"<method>+blend(tau,mid)@<camera>"``."""
    from hdrlift.inference.predictor import Predictor, set_threads

    methods = list(dict.fromkeys(["linear", *methods]))
    parts = list(dict.fromkeys(p.group for p in pairs))
    set_threads(threads)
    res: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in parts}
    import torch

    from hdrlift.inference.methods import default_camera_estimator, resolve_method
    from hdrlift.ops.blend import blend_with_decoded

    maybe = {c: resolve_method(default_camera_estimator() if c == "estimate" else c).model for c in cameras}
    decoders = {c: d for c, d in maybe.items() if d is not None}
    if len(decoders) != len(maybe):
        raise DataError(f"suite cameras must be models (weights or checkpoints), got {list(cameras)}")
    detector: Any = None  # detail "auto": the first camera with a degradation branch, else the shipped one
    if any(_detail(b) == "auto" for b in blends):
        detector = next((d for d in decoders.values() if getattr(d, "has_detail", False)), None)
        if detector is None:
            detector = resolve_method(default_camera_estimator()).model
        if detector is None or not getattr(detector, "has_detail", False):
            raise DataError("blend detail 'auto' needs a camera estimator with a degradation branch")
    labels: list[str] = []
    for m in methods:
        pred = Predictor(m, device=device, precision=precision, blend="none" if raw else "auto")
        # (row label, None for the plain output or ((tau, mid, sigma), detail, camera decoder name or None,
        # highlight))
        variants: list[tuple[str, tuple[tuple[float, float, float], float | str, str | None, float] | None]] = [
            (m, None)]
        if pred.method.model is not None:
            variants += [(blend_label(m, b), (_blend3(b), _detail(b), None, _highlight(b))) for b in blends]
            variants += [(f"{blend_label(m, b)}@{c}", (_blend3(b), _detail(b), c, _highlight(b)))
                         for b in blends for c in cameras]
        acc: dict[str, dict[str, dict[str, list[float]]]] = {
            lab: {p: {k: [] for k in METRICS} for p in parts} for lab, _ in variants}
        times: list[float] = []
        for pr in pairs:
            t0 = time.perf_counter()
            out = np.asarray(pred(pr.ldr))
            times.append(time.perf_counter() - t0)
            x = torch.from_numpy(pr.ldr).permute(2, 0, 1)
            with torch.inference_mode():
                dec = {c: d(x[None])[0] for c, d in decoders.items()}
                auto = None if detector is None else detector.detail_weight(x[None])[0]
            for lab, tb in variants:
                o = out
                if tb is not None:
                    o = blend_with_decoded(x, torch.from_numpy(out).permute(2, 0, 1), *tb[0],
                                           decoded=None if tb[2] is None else dec[tb[2]],
                                           detail=_detail_of(tb[1], auto), highlight=tb[3]).permute(1, 2, 0).numpy()
                for k, v in pair_metrics(pr.hdr, o, pr.ldr).items():
                    acc[lab][pr.group][k].append(v)
            if progress is not None:
                progress(m, pr)
        for lab, _ in variants:
            labels.append(lab)
            for p in parts:
                res[p][lab] = {k: _nanmean(v) for k, v in acc[lab][p].items()}
                res[p][lab]["sec_per_image"] = float(np.median(times)) if times else None
    oracle: dict[str, float | None] = {}
    oracle_exp: dict[str, float | None] = {}
    for p in parts:
        vals = [o["oracle region constant"] for pr in pairs if pr.group == p
                for o in [oracle_rmses(pr.hdr, pr.ldr)] if o is not None]
        oracle[p] = _nanmean(vals)
        oracle_exp[p] = _nanmean([exponent_oracle_psnr(pr) for pr in pairs if pr.group == p])
    score = {m: suite_score(res, m) for m in labels}
    return {"parts": res, "oracle": oracle, "oracle_exponent_psnr_mu": oracle_exp, "score": score,
            "n": {p: sum(1 for pr in pairs if pr.group == p) for p in parts}}


def exponent_oracle_psnr(pair: Pair) -> float:
    """PSNR-mu of ``srgb_to_linear(ldr) ** g`` with the pair's :func:`oracle_exponent` ``g`` (given the
    reference): what knowing the camera curve up to one exponent is worth (NaN when nothing is well exposed).
    """
    import torch

    from hdrlift.ops.transfer import srgb_to_linear

    o = oracle_exponent(pair.ldr, pair.hdr)
    if o is None:
        return float("nan")
    lin = srgb_to_linear(torch.from_numpy(np.asarray(pair.ldr, np.float64))).numpy()
    return pair_metrics(pair.hdr, np.maximum(lin, 1e-8) ** o[0], pair.ldr)["psnr_mu"]


def blend_label(method: str, blend: Sequence[Any]) -> str:
    """Row label of a blend variant: ``method+blend(tau,mid)``, ``method+blend(tau,mid,sigma)``,
    ``method+blend(tau,mid,sigma,detail)`` or ``method+blend(tau,mid,sigma,detail,highlight)`` (trailing
    defaults - highlight 0, detail 1, sigma 0 - are left out)."""
    b = list(blend)
    if len(b) == 5 and float(b[4]) == 0.0:
        b = b[:4]
    if len(b) == 4 and b[3] != "auto" and float(b[3]) == 1.0:
        b = b[:3]
    if len(b) == 3 and b[2] == 0:
        b = b[:2]
    return f"{method}+blend({','.join(v if isinstance(v, str) else f'{v:g}' for v in b)})"


def suite_score(results: dict[str, dict[str, dict[str, Any]]], method: str) -> float | None:
    """The smallest PSNR-mu gain of ``method`` over ``linear`` across the parts (dB): the checkpoint
    criterion of issue #22 (no camera traded away for another)."""
    gains = []
    for part in results.values():
        if method in part and "linear" in part and part[method]["psnr_mu"] is not None:
            gains.append(part[method]["psnr_mu"] - part["linear"]["psnr_mu"])
    return float(min(gains)) if gains else None


def format_suite(report: dict[str, Any]) -> str:
    """Plain-text tables of a :func:`run_suite` report (one per part)."""
    lines = []
    for part, rows in report["parts"].items():
        lin = rows.get("linear", {}).get("psnr_mu")
        orc = report["oracle"].get(part)
        oe = report.get("oracle_exponent_psnr_mu", {}).get(part)
        lines.append(f"{part} ({report['n'][part]} pairs; per-region oracle clip error "
                     f"{'-' if orc is None else f'{orc:.2f}'} stops; exponent oracle PSNR-mu "
                     f"{'-' if oe is None else f'{oe:.2f}'})")
        lines.append(f"  {'method':<34}{'PSNR-mu':>8}{'vs lin':>8}{'well':>8}{'clip':>8}{'stops':>7}{'PU21':>8}")
        for m, r in rows.items():

            def f(v: Any, w: int = 8, d: int = 2) -> str:
                return f"{'-':>{w}}" if v is None else f"{v:>{w}.{d}f}"

            gain = None if lin is None or r["psnr_mu"] is None else r["psnr_mu"] - lin
            lines.append(f"  {m:<34}{f(r['psnr_mu'])}{f(gain)}{f(r['psnr_mu_well'])}{f(r['psnr_mu_clip'])}"
                         f"{f(r['clip_stops'], 7)}{f(r['pu21_psnr'])}")
    lines.append("score (smallest gain over linear across the parts, dB): "
                 + ", ".join(f"{m} {'-' if s is None else f'{s:+.2f}'}" for m, s in report["score"].items()))
    return "\n".join(lines)


def format_suite_markdown(report: dict[str, Any], rows: Sequence[str] | None = None) -> str:
    """A Markdown table of a :func:`run_suite` report: one row per method, PSNR-mu and the gain over
    linear per part, the clipped error per part, and the score; the oracle in the last row."""
    parts = list(report["parts"])
    methods = list(rows) if rows is not None else list(next(iter(report["parts"].values())))
    head = "| method | " + " | ".join(f"{p} PSNR-μ (vs linear)" for p in parts) + " | " + \
        " | ".join(f"{p} clipped (stops)" for p in parts) + " | score |"
    lines = [head, "|---|" + "---:|" * (2 * len(parts) + 1)]
    for m in methods:
        cells = []
        for p in parts:
            r, lin = report["parts"][p][m], report["parts"][p]["linear"]
            cells.append(f"{r['psnr_mu']:.2f} ({r['psnr_mu'] - lin['psnr_mu']:+.2f})")
        cells += [f"{report['parts'][p][m]['clip_stops']:.2f}" for p in parts]
        sc = report["score"].get(m)
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {'-' if sc is None else f'{sc:+.2f}'} |")
    orc = ["-" if report["oracle"].get(p) is None else f"{report['oracle'][p]:.2f}" for p in parts]
    oe = report.get("oracle_exponent_psnr_mu")
    if oe:
        lines.append("| exponent oracle (sRGB decoding ** g, g given the reference) | " + " | ".join(
            "-" if oe.get(p) is None else f"{oe[p]:.2f} ({oe[p] - report['parts'][p]['linear']['psnr_mu']:+.2f})"
            for p in parts) + " | " + " | ".join("" for _ in parts) + " | |")
    lines.append("| per-region oracle (given the reference) | " + " | ".join("" for _ in parts) + " | "
                 + " | ".join(orc) + " | |")
    return "\n".join(lines)
