"""Datasets: real HDR folders + on-the-fly camera model, NTIRE pairs, paired folders, unpaired LDR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdrlift.data.hdr_folder import AugmentConfig, HDRFolder
from hdrlift.data.pair import Pair
from hdrlift.data.splits import list_hdr_files, read_split
from hdrlift.data.synth import make_validation_pairs

__all__ = [
    "AugmentConfig",
    "HDRFolder",
    "Pair",
    "build_train_dataset",
    "build_val_pairs",
    "list_hdr_files",
    "make_validation_pairs",
    "read_split",
]


def _files(root: str, split: str | None) -> list[Path]:
    if split:
        return read_split(split, root)
    return list_hdr_files(root)


def build_train_dataset(cfg: Any) -> Any:
    """Training dataset of a :class:`hdrlift.train.config.TrainConfig` (``cfg.data.kind``)."""
    d = cfg.data
    if d.kind == "hdr_folder":
        aug = AugmentConfig(patch=d.patch, scale_min=d.scale_min, perspective=d.perspective)
        return HDRFolder(_files(d.root, d.train_split), aug=aug, camera=d.camera or None, seed=cfg.seed,
                         on_bad=d.on_bad, camera_targets=d.camera_targets)
    if d.camera_targets:
        from hdrlift.errors import ConfigError

        raise ConfigError(f"data.camera_targets needs data.kind: hdr_folder (the camera model); got {d.kind!r}")
    from hdrlift.data.paired import build_paired_train

    return build_paired_train(cfg)


def build_val_pairs(cfg: Any) -> list[Pair]:
    """Fixed validation pairs of a training config (empty list when no validation split)."""
    d = cfg.data
    if d.kind == "hdr_folder":
        if not d.val_split:
            return []
        files = _files(d.val_root or d.root, d.val_split)
        pairs = make_validation_pairs(files, exposures=d.val_exposures, max_side=d.val_max_side,
                                      camera=(d.val_camera if d.val_camera is not None else d.camera) or None)
    else:
        from hdrlift.data.paired import build_paired_val

        pairs = build_paired_val(cfg)
    if d.val_limit:
        pairs = pairs[: d.val_limit]
    return pairs
