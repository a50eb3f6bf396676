"""Paired datasets of the papers (NTIRE, SICE, FiveK, HDR-Real, HDR-Eye, generic input/target folders):
training crops, validation pairs and evaluation pairs.

Split selection for training configs (``cfg.data``):

* ``train_split`` / ``val_split`` may name a CSV/JSON pair list (columns ``input,target``; paths relative
  to ``root`` / ``val_root``) or a text file of ids (image ids, SICE scene names, NTIRE frame ids).
* only ``val_split`` (ids): training uses every pair of ``root`` except those ids.
* neither: the paper's rule of the kind (:func:`hdrlift.data.layouts.default_split`,
  :mod:`hdrlift.data.ntire`); ``paired`` trains on everything and validates only with a ``val_root``.
* the ``hdr_folder`` defaults of ``DataConfig`` (``configs/splits/hdr_*.txt``) are ignored for these kinds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdrlift.data.layouts import (
    DATASET_KINDS,
    PairRecord,
    default_split,
    exclude_ids,
    kind_records,
    load_pair,
    read_id_list,
    read_pair_list,
    select_ids,
)
from hdrlift.data.ntire import NTIREFolder, ntire_holdout, ntire_records, ntire_split
from hdrlift.data.pair import Pair
from hdrlift.data.paired_folder import PairedFolder
from hdrlift.errors import DataError, HdrliftError
from hdrlift.ops.transfer import linear_to_srgb, srgb_to_linear

log = logging.getLogger(__name__)


# -- split resolution -----------------------------------------------------------------------------------

def _given(d: Any, key: str) -> str | None:
    """``d.<key>`` unless unset or equal to the DataConfig default (an ``hdr_folder`` split file)."""
    v = getattr(d, key, None)
    if not v:
        return None
    for f in dataclasses.fields(d) if dataclasses.is_dataclass(d) else ():
        if f.name == key and f.default == v and d.kind != "hdr_folder":
            log.info("data.%s=%s is the hdr_folder default; ignored for kind %s", key, v, d.kind)
            return None
    return str(v)


def _is_pair_list(p: str) -> bool:
    return Path(p).suffix.lower() in (".csv", ".json")


def _all_records(kind: str, root: Path) -> list[PairRecord]:
    if kind == "ntire":
        return ntire_records(root)
    return kind_records(kind, root)


def _default_part(kind: str, root: Path, which: str, split_root: Path | None = None) -> list[PairRecord]:
    if kind == "ntire":
        return ntire_split(root, which, ntire_holdout(split_root or root))
    return default_split(kind, root, which)


def _check_kind(kind: str, train: bool) -> None:
    DATASET_KINDS.get(kind).check(train)


def train_records(cfg: Any) -> list[PairRecord]:
    """Training pairs of a config (see the module docstring)."""
    d = cfg.data
    _check_kind(d.kind, train=True)
    root = Path(d.root)
    tr, va = _given(d, "train_split"), _given(d, "val_split")
    if tr and _is_pair_list(tr):
        return read_pair_list(Path(tr), root)
    if tr:
        return select_ids(_all_records(d.kind, root), read_id_list(Path(tr)), tr)
    if va and not _is_pair_list(va):
        return exclude_ids(_all_records(d.kind, root), read_id_list(Path(va)))
    val_root = Path(d.val_root) if d.val_root else None
    return _default_part(d.kind, root, "train", split_root=val_root if d.kind == "ntire" else None)


def val_records(cfg: Any) -> list[PairRecord]:
    """Validation pairs of a config: ``val_split`` of ``val_root or root``, else the kind's test part."""
    d = cfg.data
    _check_kind(d.kind, train=True)
    root = Path(d.val_root or d.root)
    va = _given(d, "val_split")
    if va and _is_pair_list(va):
        return read_pair_list(Path(va), root)
    if va:
        return select_ids(_all_records(d.kind, root), read_id_list(Path(va)), va)
    if d.kind == "paired":
        return kind_records("paired", root) if d.val_root else []
    return _default_part(d.kind, root, "test")


# -- public builders ----------------------------------------------------------------------------------

def build_paired_train(cfg: Any) -> Dataset:
    """Training dataset of ``cfg.data.kind`` in {ntire, paired, sice, fivek, hdr_real}.

    Shape:
        item -> {"ldr": (3, P, P) sRGB-encoded [0,1], "hdr": (3, P, P) linear HDR (1.0 = clipping level)}
    """
    d = cfg.data
    recs = train_records(cfg)
    kw = dict(patch=d.patch, seed=cfg.seed, scale_min=d.scale_min, on_bad=d.on_bad)
    if d.kind == "ntire":
        return NTIREFolder(Path(d.root), records=recs, **kw)
    return PairedFolder(recs, **kw)


def fit_max_side(ldr: np.ndarray, hdr: np.ndarray, max_side: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors of a pair, down-scaled (area-antialiased, in linear light) so the long side <= ``max_side``.

    Shape:
        (H, W, 3) sRGB-encoded, (H, W, 3) linear -> (3, H', W') sRGB-encoded, (3, H', W') linear
    """
    x = torch.from_numpy(np.ascontiguousarray(ldr[..., :3])).permute(2, 0, 1)
    t = torch.from_numpy(np.ascontiguousarray(hdr[..., :3])).permute(2, 0, 1)
    h, w = x.shape[-2:]
    if max_side and max(h, w) > max_side:
        size = (max(1, round(h * max_side / max(h, w))), max(1, round(w * max_side / max(h, w))))
        stack = torch.cat([srgb_to_linear(x), t])[None]
        stack = F.interpolate(stack, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        stack = stack.clamp(min=0.0)
        x, t = linear_to_srgb(stack[:3]).clamp(0.0, 1.0), stack[3:]
    return x.float().contiguous(), t.float().contiguous()


def _spread(recs: list[PairRecord], limit: int) -> list[PairRecord]:
    if not limit or len(recs) <= limit:
        return recs
    idx = np.unique(np.linspace(0, len(recs) - 1, limit).round().astype(int))
    return [recs[i] for i in idx]


def build_paired_val(cfg: Any) -> list[Pair]:
    """Fixed validation pairs (``cfg.data.val_limit`` of them, evenly spread), down-scaled to
    ``cfg.data.val_max_side``."""
    d = cfg.data
    out = []
    for rec in _spread(val_records(cfg), int(getattr(d, "val_limit", 0) or 0)):
        try:
            pair = load_pair(rec)
        except HdrliftError as exc:
            if d.on_bad == "error":
                raise DataError(str(exc)) from None
            log.warning("skipping bad validation pair %s: %s", rec.name, exc)
            continue
        x, t = fit_max_side(pair.ldr, pair.hdr, d.val_max_side)
        out.append(dataclasses.replace(pair, ldr=_hwc(x), hdr=_hwc(t)))
    return out


def _hwc(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.permute(1, 2, 0).numpy(), dtype=np.float32)


def dataset_records(kind: str, root: Path) -> list[PairRecord]:
    """The test split of ``kind`` at ``root``; ``root`` may also be a CSV/JSON pair list (any kind) or a
    text file of ids selecting from the dataset in its folder."""
    _check_kind(kind, train=False)
    root = Path(root)
    if root.is_file():
        if _is_pair_list(str(root)):
            return read_pair_list(root)
        return select_ids(_all_records(kind, root.parent), read_id_list(root), str(root))
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    return _default_part(kind, root, "test")


def iter_dataset_pairs(kind: str, root: Path, limit: int = 0) -> Iterator[Pair]:
    """The pairs (:func:`~hdrlift.data.layouts.load_pair`) of the test split.

    ``limit``: only the first N pairs (0 = all). Used by ``hdrlift evaluate --dataset KIND --root DIR``.
    """
    recs = dataset_records(kind, root)
    if not recs:
        raise DataError(f"{root}: the {kind} test split is empty (too few images or scenes; pass a "
                        "pair list or an id file as --root to choose the pairs)")
    for k, rec in enumerate(recs):
        if limit and k >= limit:
            break
        yield load_pair(rec)
