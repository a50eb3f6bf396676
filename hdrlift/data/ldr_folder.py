"""Unpaired LDR photos (DuHDR's semi-supervised Algorithm 2) and the crop geometry shared with the
paired datasets.

Every sample is a pure function of ``(seed, index)`` (see :func:`hdrlift.data.sources.sample_seed`):
the photo (a per-epoch permutation, like :meth:`HDRFolder.image_index`), the crop, its scale and the
flips / rot90 come from one ``torch.Generator`` seeded with them, so runs replay and resume exactly.
Rescaled crops are resampled in linear light (sRGB-decoded, resampled, re-encoded); crops that need no
rescaling keep the file's exact 8-bit values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdrlift.data.sources import sample_seed
from hdrlift.errors import DataError, HdrliftError
from hdrlift.ops.transfer import linear_to_srgb, srgb_to_linear

log = logging.getLogger(__name__)

#: Extensions read as sRGB-encoded LDR photos.
LDR_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: Salt of the unpaired stream (so it never repeats the paired stream of the same seed).
UNPAIRED_SALT = 7


def epoch_permutation_index(index: int, n: int, seed: int) -> int:
    """Item of virtual index ``index`` among ``n``: a fresh permutation of ``range(n)`` per epoch.

    Same rule as :meth:`hdrlift.data.hdr_folder.HDRFolder.image_index`.
    """
    epoch, pos = divmod(int(index), n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(sample_seed(seed, epoch, salt=1)))
    return int(perm[pos])


def random_patch(
    ldr: np.ndarray,
    target: np.ndarray | None,
    patch: int,
    g: torch.Generator,
    scale_min: float = 1.0,
    flips: bool = True,
    rot90: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random (scaled) crop of an LDR image and, with the same geometry, of its target.

    The scale ``s ~ U(scale_min, 1)`` gives a crop side ``round(patch / s)`` (clamped to the image),
    resampled to ``patch`` in linear light; then h-flip, v-flip (p = 0.5 each) and rot90 by ``k ~ U{0..3}``.

    Shape:
        ldr (H, W, 3) sRGB-encoded [0,1], target (H, W, 3) linear HDR or None
        -> (3, patch, patch) sRGB-encoded, (3, patch, patch) linear or None
    """

    def u() -> float:
        return float(torch.rand((), generator=g))

    h, w = ldr.shape[:2]
    s = scale_min + (1.0 - scale_min) * u()
    c = max(min(int(round(patch / s)), h, w), 1)
    top = int(u() * (h - c + 1))
    left = int(u() * (w - c + 1))
    sl = (slice(top, top + c), slice(left, left + c), slice(0, 3))
    x = torch.from_numpy(np.ascontiguousarray(ldr[sl])).permute(2, 0, 1)
    t = None if target is None else torch.from_numpy(np.ascontiguousarray(target[sl])).permute(2, 0, 1)
    if c != patch:
        stack = srgb_to_linear(x)[None] if t is None else torch.cat([srgb_to_linear(x), t])[None]
        stack = F.interpolate(stack, size=(patch, patch), mode="bilinear", align_corners=False,
                              antialias=c > patch)[0].clamp(min=0.0)
        x = linear_to_srgb(stack[:3]).clamp(0.0, 1.0)
        t = stack[3:] if t is not None else None
    ops: list[tuple[str, int]] = []
    if flips and u() < 0.5:
        ops.append(("flip", -1))
    if flips and u() < 0.5:
        ops.append(("flip", -2))
    if rot90:
        k = int(u() * 4) % 4
        if k:
            ops.append(("rot", k))
    for op, a in ops:
        x = x.flip(a) if op == "flip" else torch.rot90(x, a, dims=(-2, -1))
        if t is not None:
            t = t.flip(a) if op == "flip" else torch.rot90(t, a, dims=(-2, -1))
    return x.float().contiguous(), (t.float().contiguous() if t is not None else None)


def list_ldr_files(root: str | Path, recursive: bool = True) -> list[Path]:
    """All LDR photos (.jpg/.jpeg/.png/.tif/.tiff/.bmp/.webp) under ``root``, sorted."""
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: LDR photo folder not found")
    it = r.rglob("*") if recursive else r.glob("*")
    from hdrlift.io.atomic import is_temp_name

    files = sorted(p for p in it if p.is_file() and p.suffix.lower() in LDR_EXTS and not is_temp_name(p))
    if not files:
        raise DataError(f"{r}: no LDR photos ({', '.join(LDR_EXTS)}) found")
    return files


def read_ldr(path: Path) -> np.ndarray:
    """An LDR photo as (H, W, 3) float32 sRGB-encoded [0,1] (DataError for HDR or tiny files)."""
    from hdrlift.io import read_image_info

    img, info = read_image_info(path)
    if info.is_hdr:
        raise DataError(f"{path}: expected an 8/16-bit LDR photo, found linear HDR data")
    if img.ndim != 3 or img.shape[2] < 3:
        raise DataError(f"{path}: expected an RGB image, got shape {img.shape}")
    if min(img.shape[:2]) < 8:
        raise DataError(f"{path}: too small ({img.shape[1]}x{img.shape[0]})")
    return np.ascontiguousarray(img[..., :3], dtype=np.float32)


class LDRFolder(Dataset):
    """Unpaired LDR photos -> random crops (DuHDR Algorithm 2 data ``D_u``).

    Args:
        files: photo files, or a folder (searched recursively).
        patch: crop side in pixels.
        seed: base seed (the stream uses salt :data:`UNPAIRED_SALT`).
        scale_min: random down-scaling range ``[scale_min, 1]`` (1 = plain crops).
        length: virtual length; index ``i`` is a pure function of ``(seed, i)``.
        on_bad: ``"skip"`` (log the file and use the next photo) or ``"error"`` (DataError).

    Shape:
        item -> {"ldr": (3, P, P) sRGB-encoded [0,1]}
    """

    def __init__(
        self,
        files: Sequence[Path] | str | Path,
        patch: int = 128,
        seed: int = 0,
        scale_min: float = 1.0,
        length: int = 10**9,
        on_bad: str = "skip",
        flips: bool = True,
        rot90: bool = True,
    ) -> None:
        self.files = list_ldr_files(files) if isinstance(files, (str, Path)) else [Path(f) for f in files]
        if not self.files:
            raise DataError("LDRFolder: no photos given")
        self.patch, self.seed, self.scale_min = int(patch), int(seed), float(scale_min)
        self.length, self.on_bad, self.flips, self.rot90 = int(length), on_bad, flips, rot90

    def __len__(self) -> int:
        return self.length

    def image_index(self, index: int) -> int:
        return epoch_permutation_index(index, len(self.files), sample_seed(self.seed, 0, salt=UNPAIRED_SALT))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(sample_seed(self.seed, int(index), salt=UNPAIRED_SALT))
        k = self.image_index(int(index))
        n = len(self.files)
        for attempt in range(n):
            f = self.files[(k + attempt) % n]
            try:
                img = read_ldr(f)
            except HdrliftError as exc:
                if self.on_bad == "error":
                    raise DataError(str(exc)) from None
                log.warning("skipping bad LDR photo: %s", exc)
                continue
            x, _ = random_patch(img, None, self.patch, g, self.scale_min, self.flips, self.rot90)
            return {"ldr": x}
        raise DataError("LDRFolder: no readable photo")
