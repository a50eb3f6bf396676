"""Shared fixtures: procedural HDR scenes made by code (no files outside the repository)."""

from __future__ import annotations

import numpy as np
import pytest


def make_hdr_scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A linear HDR scene (float32 HWC, >= 0): sky gradient, textured ground, a bright light
    source and a specular highlight. Median luminance about 0.18, peak about 50."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= max(h - 1, 1)
    xx /= max(w - 1, 1)
    img = np.zeros((h, w, 3), np.float32)
    sky = yy < 0.45
    img[sky] = np.stack([0.5 + 0.3 * yy, 0.7 + 0.2 * yy, 1.2 - 0.3 * yy], -1)[sky]
    tex = 0.15 + 0.1 * np.sin(xx * 23 + rng.uniform(0, 6)) * np.cos(yy * 17) + 0.05 * rng.random((h, w))
    ground = ~sky
    img[ground] = np.stack([tex * 0.9, tex * 0.7, tex * 0.5], -1)[ground]
    cy, cx = rng.uniform(0.1, 0.35) * h, rng.uniform(0.2, 0.8) * w
    r2 = (np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2
    img += (50.0 * np.exp(-r2 / (2 * (0.05 * min(h, w)) ** 2)))[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    sy, sx = rng.uniform(0.6, 0.9) * h, rng.uniform(0.2, 0.8) * w
    r2s = (np.mgrid[0:h, 0:w][0] - sy) ** 2 + (np.mgrid[0:h, 0:w][1] - sx) ** 2
    img += (6.0 * np.exp(-r2s / (2 * (0.03 * min(h, w) + 0.5) ** 2)))[..., None]
    lum = 0.2126 * img[..., 0] + 0.7152 * img[..., 1] + 0.0722 * img[..., 2]
    img *= 0.18 / max(float(np.median(lum)), 1e-6)
    return img.astype(np.float32)


@pytest.fixture
def hdr_scene() -> np.ndarray:
    return make_hdr_scene()
