"""NTIRE 2021 single-frame HDR data (HDRUNet and two-stage papers).

Files per id: ``<id>_medium.png`` (8-bit LDR input, gamma-2.24 encoded; used as the LDR input as is),
``<id>_gt.png`` (uint16) + ``<id>_alignratio.npy``: linear target = (png / alignratio) ** 2.24, already
exposure-aligned with the medium frame (1.0 = its clipping level). Pre-cropped folders
(:func:`precrop_ntire`) hold ``<id>_sNNN_medium.png`` / ``<id>_sNNN_gt.png`` / ``<id>_sNNN_alignratio.npy``;
their split group is the image id ``<id>``.

Split (HDRUNet section 4.1): the 1494 training frames form 26 long takes; 3 frames per take (78) are
held out for validation, the other 1416 train. The takes are not named in the files, so
:func:`detect_takes` finds them from the frames: consecutive frames of a take are nearly identical, a cut
is a large jump of the thumbnail difference (the 25 largest jumps for the 1494-frame set). The held-out
frames are drawn per take with ``numpy.random.default_rng(SPLIT_SEED)``, independent of the training seed,
so every run and ``hdrlift evaluate --dataset ntire`` use the same split. An explicit id list
(``data.val_split``, e.g. the HDRUNet authors' ``random_valid.txt``) replaces the detection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hdrlift.data.layouts import PairRecord, exclude_ids, natural_key, select_ids
from hdrlift.data.paired_folder import PairedFolder
from hdrlift.errors import DataError

log = logging.getLogger(__name__)

#: Seed of the held-out frame choice (a property of the dataset split, not of a training run).
SPLIT_SEED = 0
#: Frames held out per long take, and the number of takes of the full 1494-frame training set.
HOLDOUT_PER_TAKE = 3
NTIRE_TRAIN_FRAMES = 1494
NTIRE_TAKES = 26
_SUB = re.compile(r"^(.+)_s\d{3,}$")
_TAKES_CACHE: dict[tuple[str, tuple[str, ...], int | None], list[list[str]]] = {}


def ntire_records(root: Path) -> list[PairRecord]:
    """Every ``*_medium.png`` of an NTIRE folder (full frames or pre-cropped) with its GT and ratio."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: NTIRE folder not found")
    meds = sorted(root.glob("*_medium.png"), key=lambda p: natural_key(p.name))
    if not meds:
        raise DataError(f"{root}: no <id>_medium.png files (NTIRE 2021 single-frame layout)")
    out = []
    for m in meds:
        pid = m.name[: -len("_medium.png")]
        gt = root / f"{pid}_gt.png"
        if not gt.is_file():
            raise DataError(f"{m}: matching {gt.name} not found")
        if not (root / f"{pid}_alignratio.npy").is_file():
            raise DataError(f"{gt}: matching {pid}_alignratio.npy not found")
        mm = _SUB.match(pid)
        out.append(PairRecord(pid, m, gt, "ntire", mm.group(1) if mm else pid))
    return out


def _thumb(path: Path, side: int = 24) -> np.ndarray:
    from hdrlift.io import read_image

    t = torch.from_numpy(np.ascontiguousarray(read_image(path)[..., :3])).permute(2, 0, 1)[None]
    return F.adaptive_avg_pool2d(t.mean(1, keepdim=True), (side, side))[0, 0].numpy()


def detect_takes(records: Sequence[PairRecord], n_takes: int | None = None) -> list[list[str]]:
    """Group the image ids (in natural order) into long takes from thumbnail jumps between neighbours.

    ``n_takes``: number of takes (the ``n_takes - 1`` largest jumps are cuts); default 26 for the
    1494-frame NTIRE set, otherwise cuts are jumps above ``max(0.05, 5 * median jump)``.
    Results are cached per folder for the process.
    """
    first: dict[str, Path] = {}
    for r in records:
        first.setdefault(r.group, r.ldr)
    ids = sorted(first, key=natural_key)
    if n_takes is None and len(ids) == NTIRE_TRAIN_FRAMES:
        n_takes = NTIRE_TAKES
    key = (str(Path(records[0].ldr).parent.resolve()) if records else "", tuple(ids), n_takes)
    if key in _TAKES_CACHE:
        return _TAKES_CACHE[key]
    if len(ids) < 2:
        return [ids]
    th = [_thumb(first[i]) for i in ids]
    jumps = np.array([float(np.abs(a - b).mean()) for a, b in zip(th[:-1], th[1:])])
    if n_takes is not None:
        k = max(0, min(n_takes - 1, len(jumps)))
        cuts = set(np.argsort(-jumps, kind="stable")[:k].tolist())
    else:
        thr = max(0.05, 5.0 * float(np.median(jumps)))
        cuts = set(np.nonzero(jumps > thr)[0].tolist())
    takes, cur = [], [ids[0]]
    for j, i in enumerate(ids[1:]):
        if j in cuts:
            takes.append(cur)
            cur = []
        cur.append(i)
    takes.append(cur)
    _TAKES_CACHE[key] = takes
    return takes


def holdout_ids(
    takes: Sequence[Sequence[str]], per_take: int = HOLDOUT_PER_TAKE, seed: int = SPLIT_SEED
) -> list[str]:
    """``per_take`` random frames of every take (at most ``len(take) - 1``: a take keeps a training frame)."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for take in takes:
        k = min(per_take, max(len(take) - 1, 0))
        if k:
            pick = sorted(rng.choice(len(take), size=k, replace=False).tolist())
            out += [take[i] for i in pick]
    return out


def ntire_holdout(root: Path, per_take: int = HOLDOUT_PER_TAKE, seed: int = SPLIT_SEED,
                  n_takes: int | None = None) -> list[str]:
    """Held-out image ids of an NTIRE folder by HDRUNet's rule (see the module docstring)."""
    return holdout_ids(detect_takes(ntire_records(root), n_takes), per_take, seed)


def ntire_split(root: Path, which: str, val_ids: Sequence[str] | None = None) -> list[PairRecord]:
    """Pairs of ``root`` in the ``train`` or ``test`` part; ``val_ids`` default: :func:`ntire_holdout`."""
    recs = ntire_records(root)
    ids = list(val_ids) if val_ids is not None else ntire_holdout(root)
    return select_ids(recs, ids, str(root)) if which == "test" else exclude_ids(recs, ids)


def write_ntire_split(root: Path, output: Path, per_take: int = HOLDOUT_PER_TAKE, seed: int = SPLIT_SEED,
                      overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``ntire_train.txt`` / ``ntire_val.txt`` (image ids) of the HDRUNet split of ``root``."""
    recs = ntire_records(root)
    val = holdout_ids(detect_takes(recs), per_take, seed)
    train = sorted({r.group for r in recs} - set(val), key=natural_key)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = (output / "ntire_train.txt", output / "ntire_val.txt")
    for p, ids in zip(paths, (train, val)):
        if p.exists() and not overwrite:
            raise DataError(f"{p}: exists (use overwrite)")
        p.write_text("\n".join(ids) + "\n")
    return paths


def _positions(n: int, size: int, stride: int, min_rest: int) -> list[int]:
    if n <= size:
        return [0]
    pos = list(range(0, n - size + 1, stride))
    if n - (pos[-1] + size) >= min_rest:
        pos.append(n - size)
    return pos


def precrop_ntire(input_dir: Path, output_dir: Path, size: int = 480, stride: int = 240,
                  overwrite: bool = False, min_rest: int = 48) -> int:
    """HDRUNet's pre-cropping (``extract_subimgs_single.py``): ``size`` px sub-images every ``stride`` px,
    plus an edge crop when at least ``min_rest`` px remain; images smaller than ``size`` give one crop of
    their full extent on that axis. Writes ``<id>_sNNN_medium.png``, ``<id>_sNNN_gt.png`` (the original
    uint16 values) and ``<id>_sNNN_alignratio.npy`` (the image's ratio, the same for all its sub-images).
    Returns the number of sub-image pairs written.
    """
    from hdrlift.io import alignratio_path, atomic_output, read_image, read_ntire, write_image, write_png16

    if size < 8 or stride < 1:
        raise DataError(f"precrop: size must be >= 8 and stride >= 1, got {size}, {stride}")
    recs = ntire_records(Path(input_dir))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for rec in recs:
        ldr = read_image(rec.ldr)[..., :3]
        ratio_file = Path(alignratio_path(rec.target))
        ratio = np.float32(np.load(ratio_file, allow_pickle=False))
        gt16 = np.round(read_ntire(rec.target) * ratio).clip(0, 65535).astype(np.uint16)
        if gt16.shape[:2] != ldr.shape[:2]:
            raise DataError(f"{rec.ldr}: size {ldr.shape[1]}x{ldr.shape[0]} differs from {rec.target.name}")
        ldr8 = np.round(ldr * 255.0).astype(np.uint8)
        h, w = ldr8.shape[:2]
        k = 0
        for y in _positions(h, size, stride, min_rest):
            for x in _positions(w, size, stride, min_rest):
                k += 1
                sid = f"{rec.name}_s{k:03d}"
                sl = (slice(y, y + size), slice(x, x + size))
                write_image(out / f"{sid}_medium.png", np.ascontiguousarray(ldr8[sl]), overwrite=overwrite)
                write_png16(out / f"{sid}_gt.png", np.ascontiguousarray(gt16[sl]), overwrite=overwrite)
                with atomic_output(out / f"{sid}_alignratio.npy", overwrite=overwrite) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, np.float32(ratio))
                n += 1
    return n


class NTIREFolder(PairedFolder):
    """NTIRE 2021 pairs (full frames or pre-cropped) -> random crops, HDRUNet's split.

    Args:
        root: NTIRE folder.
        which: ``"train"`` (all but the held-out ids), ``"test"`` (the held-out ids) or ``"all"``.
        val_ids: held-out image ids (default: :func:`ntire_holdout` of ``split_root``).
        split_root: folder the default hold-out is detected on (default ``root``; use the full-frame
            folder when ``root`` is pre-cropped so train and validation agree).
        records: the pairs already selected (then ``which`` / ``val_ids`` / ``split_root`` are unused).
        **kw: :class:`hdrlift.data.paired_folder.PairedFolder` options (patch, seed, scale_min, ...).

    Shape:
        item -> {"ldr": (3, P, P) gamma-2.24-encoded LDR used as sRGB-encoded, "hdr": (3, P, P) linear}
    """

    def __init__(self, root: Path, which: str = "train", val_ids: Sequence[str] | None = None,
                 split_root: Path | None = None, records: Sequence[PairRecord] | None = None, **kw: Any) -> None:
        self.root = Path(root)
        if records is not None:
            recs = list(records)
        elif which == "all":
            recs = ntire_records(Path(root))
        else:
            ids = list(val_ids) if val_ids is not None else ntire_holdout(Path(split_root or root))
            recs = ntire_split(Path(root), which, ids)
        super().__init__(recs, **kw)
