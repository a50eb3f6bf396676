"""The packed data format of ``scripts/gpu_train.py``: HDR scenes, DoRF curves and suite pairs in a folder
small enough to travel with the checkout to a lent GPU (``pack`` writes it, ``train`` reads it there).

Arrays are LZMA-compressed ``.npz`` members (:func:`write_npz_lzma`, read by ``np.load``); linear HDR is
float16 split into high and low byte planes (:func:`encode_f16`, which compress to about half), optionally
rounded to fewer mantissa bits; ``manifest.json`` (:data:`PACK_FORMAT`) lists the scenes and pairs.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hdrlift.data.pair import Pair
from hdrlift.errors import DataError, one_line

#: the largest finite float16
FP16_MAX = 65504.0
PACK_FORMAT = "hdrlift-packed"
PACK_VERSION = 1


def encode_f16(img: np.ndarray, mantissa_bits: int = 10) -> tuple[dict[str, np.ndarray], int]:
    """Float16 byte planes of a linear HDR image, rounded to ``mantissa_bits`` (1-10) mantissa bits.

    Values above the float16 range are clamped to 65504 (their count is returned).

    Shape:
        (H, W, 3) linear float -> ({"hi": (3, H, W) uint8, "lo": (3, H, W) uint8}, clamped pixel count)
    """
    if not 1 <= mantissa_bits <= 10:
        raise ValueError(f"mantissa_bits must be in 1..10, got {mantissa_bits}")
    a = np.maximum(np.asarray(img, np.float32), 0.0)
    clamped = int((a > FP16_MAX).any(axis=-1).sum())
    u: np.ndarray = np.minimum(a, FP16_MAX).astype(np.float16).view(np.uint16).astype(np.uint32)
    drop = 10 - mantissa_bits
    if drop:
        u = ((u + (1 << (drop - 1))) >> drop) << drop  # round to nearest; a carry moves into the exponent
    u = np.minimum(u, 0x7BFF).astype(np.uint16)  # never inf
    planes = u.transpose(2, 0, 1)
    return {"hi": np.ascontiguousarray(planes >> 8).astype(np.uint8),
            "lo": np.ascontiguousarray(planes & 0xFF).astype(np.uint8)}, clamped


def fp16_scale(img: np.ndarray, peak: float = 32768.0) -> float:
    """Factor (a power of two, at most 1) that brings the peak of a linear image under ``peak``, inside the
    float16 range (suns of the panoramas reach 7e5 after exposure normalisation)."""
    m = float(np.max(img)) if img.size else 0.0
    return 1.0 if m <= peak else float(2.0 ** -math.ceil(math.log2(m / peak)))


def decode_f16(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_f16`.

    Shape:
        (3, H, W) uint8 x2 -> (H, W, 3) float16 linear
    """
    u = (hi.astype(np.uint16) << 8) | lo.astype(np.uint16)
    return np.ascontiguousarray(u.view(np.float16).transpose(1, 2, 0))


def write_npz_lzma(path: Path, arrays: dict[str, np.ndarray]) -> int:
    """An ``.npz`` whose members are LZMA-compressed (``np.load`` reads it); returns its size in bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as zf:
        for k, v in arrays.items():
            with zf.open(f"{k}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(v), allow_pickle=False)
    return path.stat().st_size


def read_manifest(packed: Path) -> dict[str, Any]:
    """``manifest.json`` of a packed folder, checked for the format (one-line DataError otherwise)."""
    p = Path(packed) / "manifest.json"
    try:
        m = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"{p}: not found (make it with: python scripts/gpu_train.py pack --out {packed})") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: unreadable ({one_line(exc)})") from None
    if m.get("format") != PACK_FORMAT or int(m.get("format_version", 0)) > PACK_VERSION:
        raise DataError(f"{p}: not a packed folder of this hdrlift (format {m.get('format')!r})")
    return m


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a packed ``.npz`` (no pickles; one-line DataError when unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable packed array ({one_line(exc)})") from None


def unpack_train(packed: Path, manifest: dict[str, Any], work: Path) -> Path:
    """Training scenes as float16 ``.npy`` files (read by ``load_hdr_images``) and their split file.

    Returns the split file (paths relative to ``work``)."""
    (work / "train").mkdir(parents=True, exist_ok=True)
    lines = []
    for s in manifest["train"]["scenes"]:
        z = load_npz(packed / s["file"])
        img = decode_f16(z["hi"], z["lo"])
        rel = Path(s["file"]).with_suffix(".npy")
        np.save(work / rel, img)
        lines.append(f"{rel.as_posix()}  # {s['source']}")
    split = work / "train.txt"
    split.write_text("\n".join(lines) + "\n")
    return split


def load_val_pairs(packed: Path, manifest: dict[str, Any], per_part: int = 0) -> list[Pair]:
    """The packed suite pairs (the first ``per_part`` of each part; 0 = all) as
    pairs (:class:`hdrlift.data.pair.Pair`, ``group`` = the part), as :func:`~hdrlift.tools.suite.build_suite`
    makes them."""
    out = []
    for s in manifest["val"]["scenes"]:
        z = load_npz(packed / s["file"])
        scene = decode_f16(z["hi"], z["lo"]).astype(np.float32)
        for p in s["pairs"]:
            ldr = z[p["ldr"]].transpose(1, 2, 0).astype(np.float32) / 255.0
            out.append(Pair(p["name"], np.ascontiguousarray(ldr), scene * np.asarray(p["gain"], np.float32),
                            group=p["part"]))
    if per_part > 0:
        kept: list[Pair] = []
        seen: dict[str, int] = {}
        for p in out:
            seen[p.group] = seen.get(p.group, 0) + 1
            if seen[p.group] <= per_part:
                kept.append(p)
        out = kept
    return out
