"""Deterministic LDR/HDR pairs from real HDR images (``hdrlift degrade`` and validation sets)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hdrlift.data.pair import Pair
from hdrlift.data.sources import load_hdr_images, sample_seed


def resize_max_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Antialiased bilinear down-scaling so that the longer side is at most ``max_side`` (None/0: as it is).

    Shape:
        (H, W, 3) linear -> (h, w, 3) linear
    """
    h, w = img.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return img
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    t = F.interpolate(t, scale_factor=max_side / max(h, w), mode="bilinear", align_corners=False, antialias=True)
    return t[0].clamp(min=0).permute(1, 2, 0).numpy().copy()


def capture_pairs(
    files: Sequence[Path],
    exposures: Sequence[float] = (-1.0, 0.0, 1.5),
    max_side: int | None = None,
    seed: int = 1234,
    camera: Any = None,
    on_bad: str = "skip",
    report: Any = None,
) -> Iterator[Pair]:
    """For every file and exposure offset (stops from the camera model's auto exposure) one :class:`Pair`
    (with ``source``, ``ev`` and the capture's ``params``).

    Pair ``(i, j)`` depends only on ``(seed, i, j)``, the file and the camera configuration.
    """
    from hdrlift.degrade import CameraConfig, sample_params, simulate

    cam = camera if camera is not None else CameraConfig()
    if isinstance(cam, dict):
        cam = CameraConfig.from_dict(cam)
    imgs, kept = load_hdr_images(files, on_bad=on_bad, report=report)
    for i, (img, f) in enumerate(zip(imgs, kept)):
        hdr_np = resize_max_side(img, max_side)
        for j, ev in enumerate(exposures):
            g = torch.Generator().manual_seed(sample_seed(seed, i * 100 + j))
            params = sample_params(cam, g, hdr_np)
            if ev:
                params = dataclasses.replace(params, exposure=float(params.exposure) * math.pow(2.0, ev))
            res = simulate(hdr_np, params)
            yield Pair(
                name=f"{f.stem}_ev{ev:+.1f}",
                ldr=np.ascontiguousarray(res.ldr, dtype=np.float32),
                hdr=np.ascontiguousarray(res.hdr_target, dtype=np.float32),
                source=str(f),
                ev=float(ev),
                params=params,
            )


def make_validation_pairs(
    files: Sequence[Path],
    exposures: Sequence[float] = (-1.0, 0.0, 1.5),
    max_side: int = 384,
    seed: int = 1234,
    camera: Any = None,
) -> list[Pair]:
    """Fixed validation pairs of an HDR folder: each image down-scaled to ``max_side`` and captured at
    several exposure offsets (stops relative to the camera model's auto exposure) with a fixed seed."""
    return list(capture_pairs(files, exposures, max_side, seed, camera))


def params_to_json(params: Any) -> dict[str, Any]:
    """Camera parameters as JSON-safe values (for the degrade manifest)."""
    out: dict[str, Any] = {}
    for k, v in dataclasses.asdict(params).items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        out[k] = v
    return out
