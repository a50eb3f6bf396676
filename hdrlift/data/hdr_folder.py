"""Training pairs made on the fly from real HDR images with the project's camera model.

Every sample is a pure function of ``(seed, index)``: the image, crop, scale, flips/rot90 and every camera
parameter come from a ``torch.Generator`` seeded with them. So a run is replayable, resumes exactly
(the sample stream continues at ``step * batch``) and DDP ranks draw disjoint indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdrlift.data.sources import load_hdr_images, sample_seed

#: samples of the inverse camera curve returned with ``camera_targets`` (DuHDR's curve resolution)
ICRF_SAMPLES = 1024


@dataclass
class AugmentConfig:
    """Geometric augmentation of HDR crops (before the camera model)."""

    patch: int = 128
    scale_min: float = 0.5  # random down-scaling factor range [scale_min, 1] before cropping
    flips: bool = True
    rot90: bool = True
    panorama_band: float = 0.6  # for ~2:1 images crop rows from the middle band of this height fraction
    perspective: float = 0.0  # probability that a ~2:1 panorama yields a pinhole view instead of a flat crop
    fov: tuple[float, float] = (45.0, 100.0)  # horizontal field of view of such a view, degrees
    pitch: tuple[float, float] = (-30.0, 30.0)  # camera pitch, degrees
    roll: float = 5.0  # camera roll drawn from U(-roll, roll), degrees


def is_panorama(shape: Sequence[int]) -> bool:
    """Whether an (H, W, ...) image is an equirectangular 360x180 panorama (aspect about 2:1)."""
    h, w = int(shape[0]), int(shape[1])
    return 1.8 <= w / h <= 2.2


def perspective_view(
    pano: np.ndarray | torch.Tensor, size: int, yaw: float, pitch: float, roll: float, fov: float
) -> torch.Tensor:
    """Render a square pinhole-camera view of an equirectangular panorama (bilinear, wraps in yaw).

    A 360 degree panorama holds many distinct photographs: every direction and field of view is
    another framing with its own perspective, which flat crops of the equirectangular image (with
    their bent lines) do not give.

    Args:
        pano: linear HDR panorama, (H, W, 3) numpy or (3, H, W) tensor, longitude across the width.
        size: output side in pixels.
        yaw, pitch, roll: camera orientation in degrees (yaw 0 = image centre, pitch > 0 looks up).
        fov: horizontal (= vertical) field of view in degrees, in (0, 180).

    Shape:
        (H, W, 3) / (3, H, W) linear -> (3, size, size) linear float32
    """
    t = torch.as_tensor(pano)
    if t.ndim != 3:
        raise ValueError(f"perspective_view needs a 3-D image, got shape {tuple(t.shape)}")
    if t.shape[0] != 3 and t.shape[-1] == 3:
        t = t.permute(2, 0, 1)
    t = t.float()
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov must lie in (0, 180) degrees, got {fov}")
    f = 1.0 / np.tan(np.radians(fov) / 2.0)
    v = torch.linspace(-1.0, 1.0, size, dtype=torch.float64)
    yy, xx = torch.meshgrid(-v, v, indexing="ij")  # image up = +y
    d = torch.stack([xx, yy, torch.full_like(xx, f)], dim=-1)  # camera looks down +z
    d = d / d.norm(dim=-1, keepdim=True)
    r, p, y = (float(np.radians(a)) for a in (roll, pitch, yaw))
    rz = torch.tensor([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]], dtype=torch.float64)
    ry = torch.tensor([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]], dtype=torch.float64)
    d = d @ (ry @ rx @ rz).T
    lon = torch.atan2(d[..., 0], d[..., 2])  # (-pi, pi], 0 = centre column
    lat = torch.asin(d[..., 1].clamp(-1.0, 1.0))  # +pi/2 = top row
    h, w = t.shape[-2:]
    # pad one column on each side so bilinear sampling wraps around the seam
    padded = torch.cat([t[..., -1:], t, t[..., :1]], dim=-1)
    gx = (lon / np.pi) * (w / (w + 2))
    gy = -(lat / (np.pi / 2))
    grid = torch.stack([gx, gy], dim=-1).float()[None]
    out = F.grid_sample(padded[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    return out.clamp(min=0.0).contiguous()


def random_crop(
    hdr: np.ndarray, aug: AugmentConfig, g: torch.Generator
) -> torch.Tensor:
    """Random scaled crop of an HDR image with flips / rot90, all drawn from ``g``.

    Shape:
        (H, W, 3) linear numpy -> (3, patch, patch) linear tensor
    """

    def u() -> float:
        return float(torch.rand((), generator=g))

    h, w = hdr.shape[:2]
    y0, y1 = 0, h
    if aug.perspective > 0 and is_panorama(hdr.shape):
        # always draw the view parameters so the stream of draws does not depend on the image kind
        take, a, b, c_, e = (u() for _ in range(5))
        if take < aug.perspective:
            fov = aug.fov[0] + (aug.fov[1] - aug.fov[0]) * a
            # render at up to 2x and downscale with antialiasing: the panorama is coarse (1k wide)
            n = aug.patch
            view = perspective_view(hdr, n, yaw=360.0 * b - 180.0,
                                    pitch=aug.pitch[0] + (aug.pitch[1] - aug.pitch[0]) * c_,
                                    roll=aug.roll * (2 * e - 1), fov=fov)
            if aug.flips and u() < 0.5:
                view = view.flip(-1)
            return view
    if 1.8 <= w / h <= 2.2:  # equirectangular panorama: avoid the stretched poles
        band = int(round(h * aug.panorama_band))
        y0 = (h - band) // 2
        y1 = y0 + band
    avail = min(y1 - y0, w)
    s = aug.scale_min + (1.0 - aug.scale_min) * u()
    c = int(round(aug.patch / s))
    c = max(min(c, avail), 1)
    top = y0 + int(u() * (y1 - y0 - c + 1))
    left = int(u() * (w - c + 1))
    crop = torch.from_numpy(np.ascontiguousarray(hdr[top : top + c, left : left + c])).permute(2, 0, 1)
    if c != aug.patch:
        crop = F.interpolate(
            crop[None], size=(aug.patch, aug.patch), mode="bilinear", align_corners=False, antialias=c > aug.patch
        )[0].clamp(min=0.0)
    if aug.flips and u() < 0.5:
        crop = crop.flip(-1)
    if aug.flips and u() < 0.5:
        crop = crop.flip(-2)
    if aug.rot90:
        k = int(u() * 4) % 4
        if k:
            crop = torch.rot90(crop, k, dims=(-2, -1))
    return crop.contiguous()


class HDRFolder(Dataset):
    """Real HDR images + the camera model applied on the fly -> (LDR sRGB [0,1], linear HDR target).

    Args:
        files: HDR files (see :func:`hdrlift.data.splits.read_split`).
        length: virtual length (number of distinct samples addressable; index ``i`` is a pure
            function of ``(seed, i)``).
        aug: crop / flip configuration.
        camera: camera configuration (dict or ``CameraConfig``) for :mod:`hdrlift.degrade`.
        seed: base seed.
        camera_targets: also return what only a synthetic camera knows (DuHDR's supervision):
            ``"ldr_n"``, the noise-free encoded image before quantisation, and ``"icrf"``, the
            inverse camera curve sampled at :data:`ICRF_SAMPLES` points of [0, 1].

    Shape:
        item -> {"ldr": (3, P, P) sRGB [0,1], "hdr": (3, P, P) linear (1.0 = clipping level)}
        (+ "ldr_n" (3, P, P) in [0, 1], "icrf" (ICRF_SAMPLES,) with ``camera_targets``)
    """

    def __init__(
        self,
        files: Sequence[Path],
        length: int = 10**9,
        aug: AugmentConfig | None = None,
        camera: Any = None,
        seed: int = 0,
        on_bad: str = "skip",
        camera_targets: bool = False,
    ) -> None:
        from hdrlift.degrade import CameraConfig

        self.images, self.files = load_hdr_images(files, on_bad=on_bad)
        self.length = int(length)
        self.aug = aug or AugmentConfig()
        if camera is None:
            camera = CameraConfig()
        elif isinstance(camera, dict):
            camera = CameraConfig.from_dict(camera)
        self.camera = camera
        self.seed = int(seed)
        self.camera_targets = bool(camera_targets)

    def __len__(self) -> int:
        return self.length

    def image_index(self, index: int) -> int:
        n = len(self.images)
        epoch, pos = divmod(index, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(sample_seed(self.seed, epoch, salt=1)))
        return int(perm[pos])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from hdrlift.degrade import sample_params, simulate

        g = torch.Generator().manual_seed(sample_seed(self.seed, int(index)))
        k = self.image_index(int(index))
        crop = random_crop(self.images[k], self.aug, g)
        hdr_np = crop.permute(1, 2, 0).numpy()
        params = sample_params(self.camera, g, hdr_np)
        res = simulate(hdr_np, params, clean_encoded=self.camera_targets)
        ldr = torch.as_tensor(np.ascontiguousarray(res.ldr)).permute(2, 0, 1).float()
        tgt = torch.as_tensor(np.ascontiguousarray(res.hdr_target)).permute(2, 0, 1).float()
        out = {"ldr": ldr.contiguous(), "hdr": tgt.contiguous()}
        if self.camera_targets:
            from hdrlift.degrade.camera import crf_curve
            from hdrlift.degrade.crf import invert_curve_numpy

            out["ldr_n"] = torch.as_tensor(np.ascontiguousarray(res.encoded_clean)).permute(2, 0, 1).float()
            inv = invert_curve_numpy(crf_curve(params, ICRF_SAMPLES))
            out["icrf"] = torch.as_tensor(inv, dtype=torch.float32)
        return out
