"""Dataset kinds of the papers: how pairs are found on disk, split, and converted to the project domain.

A pair is a :class:`PairRecord` (LDR input file, target file, how to read the target, and the group the
split rules work on: scene, long take or image id). :func:`load_pair` returns the LDR input as
sRGB-encoded [0,1] and the target as linear HDR with 1.0 = the input's clipping level:

* ``ntire`` targets (16-bit PNG + alignratio, gamma 2.24): linear = (png / alignratio) ** 2.24, no
  scaling (NTIRE pairs are exposure-aligned with the medium frame).
* ``ldr`` targets (8/16-bit photos: SICE labels, FiveK expert retouches, LDR ``paired`` targets):
  sRGB-decoded; they never exceed 1.0.
* ``hdr`` targets (.exr/.hdr/float TIFF in an arbitrary scale: HDR-Real, HDR-Eye, HDR ``paired``
  targets): multiplied by :func:`fit_clip_scale`, the median over well-exposed input pixels
  (every channel in (0.05, 0.9)) of linearised-input / target, i.e. a robust (log-domain) fit of
  the target to the sRGB-decoded input, which puts the input's clipping level at 1.0.

Ordering is "natural" (``2`` before ``10``), so "sorted by name" splits are the same on every system.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdrlift.data.pair import Pair
from hdrlift.errors import DataError
from hdrlift.registry import Registry

log = logging.getLogger(__name__)

LDR_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
HDR_EXTS = (".exr", ".hdr", ".pic")
#: Fractions of the default splits (first part by natural name order = train, the rest = test).
SICE_TRAIN_FRACTION = 0.8
FIVEK_TRAIN_FRACTION = 0.9  # 4500 / 5000
HDR_REAL_TRAIN_FRACTION = 0.9
#: SI-HDR: the folder of merged reference HDR images (Hanji et al. 2022 release).
SI_HDR_REFERENCE = "reference"
#: AIM 2025 ITM: (LDR, HDR) folder-name pairs looked for, in this order, in the data folder or its split.
AIM2025_DIRS = (("LDR", "HDR"), ("ldr", "hdr"), ("LDR", "GT"), ("input", "gt"), ("input", "GT"), ("LQ", "GT"),
                ("input", "target"), ("LDR_in", "HDR_gt"))
#: Well-exposed input range of the target scale fit (sRGB-encoded values, every channel).
FIT_RANGE = (0.05, 0.9)


@dataclass(frozen=True)
class PairRecord:
    """One LDR/target pair on disk. ``target_kind``: ``ntire`` | ``ldr`` | ``hdr`` | ``auto`` (by file)."""

    name: str
    ldr: Path
    target: Path
    target_kind: str
    group: str


def natural_key(s: str) -> tuple:
    """Sort key that orders digit runs numerically (``img2`` < ``img10``)."""
    return tuple((0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", s) if t)


def _stem_index(folder: Path, exts: Sequence[str], what: str) -> dict[str, Path]:
    """stem -> file for files with ``exts`` in ``folder``; two files with one stem are a DataError."""
    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder not found")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in exts:
            continue
        if p.stem in out:
            raise DataError(f"{folder}: duplicate {what} '{p.stem}': {out[p.stem].name} and {p.name}")
        out[p.stem] = p
    if not out:
        raise DataError(f"{folder}: no {what} images ({', '.join(exts)})")
    return out


def match_folders(ldr_dir: Path, target_dir: Path, target_exts: Sequence[str], target_kind: str,
                  what: str = "target") -> list[PairRecord]:
    """Pairs of two folders matched by file stem; unmatched files on either side are a DataError."""
    ins = _stem_index(ldr_dir, LDR_EXTS, "input")
    tgs = _stem_index(target_dir, target_exts, what)
    only_in = sorted(set(ins) - set(tgs), key=natural_key)
    only_tg = sorted(set(tgs) - set(ins), key=natural_key)
    if only_in:
        raise DataError(f"{ins[only_in[0]]}: no matching {what} in {target_dir} "
                        f"({len(only_in)} unmatched input(s))")
    if only_tg:
        raise DataError(f"{tgs[only_tg[0]]}: no matching input in {ldr_dir} "
                        f"({len(only_tg)} unmatched {what}(s))")
    return [PairRecord(s, ins[s], tgs[s], target_kind, s) for s in sorted(ins, key=natural_key)]


# -- explicit lists --------------------------------------------------------------------------------

def read_pair_list(path: Path, base: Path | None = None) -> list[PairRecord]:
    """Pairs from a CSV (header with columns ``input,target``, optional ``name``) or JSON file (a list of
    ``{"input", "target"[, "name"]}`` objects or ``[input, target]`` lists, or ``{"pairs": [...]}``).
    Relative paths are relative to ``base`` (default: the list's folder); target kind by extension."""
    base = Path(base) if base is not None else path.parent
    rows: list[tuple[str | None, str, str]] = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"{path}: cannot read pair list ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{path}: invalid JSON ({exc})") from None
        items = data.get("pairs") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of pairs")
        for it in items:
            if isinstance(it, dict) and "input" in it and "target" in it:
                rows.append((it.get("name"), str(it["input"]), str(it["target"])))
            elif isinstance(it, (list, tuple)) and len(it) == 2:
                rows.append((None, str(it[0]), str(it[1])))
            else:
                raise DataError(f"{path}: each pair needs 'input' and 'target', got {it!r}")
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"input", "target"} <= set(reader.fieldnames):
            raise DataError(f"{path}: CSV needs a header with columns input,target")
        rows = [(r.get("name") or None, r["input"], r["target"]) for r in reader]
    if not rows:
        raise DataError(f"{path}: pair list is empty")
    out: list[PairRecord] = []
    seen: dict[str, Path] = {}
    for name, a, b in rows:
        pa, pb = base / a, base / b
        for p in (pa, pb):
            if not p.is_file():
                raise DataError(f"{path}: listed file {p} not found")
        nm = name or pa.stem
        if nm in seen:
            raise DataError(f"{path}: duplicate pair name '{nm}' ({seen[nm]} and {pa})")
        seen[nm] = pa
        out.append(PairRecord(nm, pa, pb, "auto", nm))
    return out


def read_id_list(path: Path) -> list[str]:
    """Ids from a text file (one per line, ``#`` comments; file names are resolved by :func:`select_ids`)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read split file ({exc.strerror})") from None
    ids = []
    for ln in lines:
        ln = ln.split("#", 1)[0].strip()
        if ln:
            ids.append(ln)
    if not ids:
        raise DataError(f"{path}: split file lists no ids")
    return ids


def _resolve_id(i: str, known: set[str]) -> str | None:
    stem = Path(i).stem
    for cand in (i, stem, re.sub(r"_(medium|gt|short|long|alignratio)$", "", stem)):
        if cand in known:
            return cand
    return None


def select_ids(records: Sequence[PairRecord], ids: Iterable[str], source: str) -> list[PairRecord]:
    """Records whose group or name is one of ``ids`` (an id may also be a file name of the pair, e.g.
    ``0005_medium.png``); an id matching nothing is a DataError."""
    known = {r.group for r in records} | {r.name for r in records}
    want: set[str] = set()
    missing = []
    for i in ids:
        c = _resolve_id(i, known)
        if c is None:
            missing.append(i)
        else:
            want.add(c)
    if missing:
        raise DataError(f"{source}: id '{missing[0]}' not found in the dataset "
                        f"({len(missing)} unknown id(s))")
    return [r for r in records if r.group in want or r.name in want]


def exclude_ids(records: Sequence[PairRecord], ids: Iterable[str]) -> list[PairRecord]:
    """Records whose group and name are not among ``ids`` (resolved as in :func:`select_ids`)."""
    known = {r.group for r in records} | {r.name for r in records}
    drop = {c for c in (_resolve_id(i, known) for i in ids) if c is not None}
    return [r for r in records if r.group not in drop and r.name not in drop]


def split_groups(records: Sequence[PairRecord], train_fraction: float, which: str) -> list[PairRecord]:
    """First ``round(train_fraction * n)`` groups in natural order = train, the rest = test (>= 1 each
    when there are at least 2 groups)."""
    groups = sorted({r.group for r in records}, key=natural_key)
    n = len(groups)
    n_train = int(round(train_fraction * n))
    if n >= 2:
        n_train = min(max(n_train, 1), n - 1)
    keep = set(groups[:n_train] if which == "train" else groups[n_train:])
    return [r for r in records if r.group in keep]


# -- dataset layouts --------------------------------------------------------------------------------

def paired_records(root: Path) -> list[PairRecord]:
    """``paired``: ``root/input/*`` (LDR) and ``root/target/*`` (LDR or HDR), matched by stem."""
    return match_folders(root / "input", root / "target", LDR_EXTS + HDR_EXTS, "auto")


def sice_parts(root: Path) -> list[Path]:
    """SICE parts: ``root`` itself when it has ``Label/``, else its sub-folders that have one."""
    if not root.is_dir():
        raise DataError(f"{root}: SICE folder not found")
    if (root / "Label").is_dir():
        return [root]
    parts = sorted((d for d in root.iterdir() if d.is_dir() and (d / "Label").is_dir()),
                   key=lambda d: natural_key(d.name))
    if not parts:
        raise DataError(f"{root}: no SICE layout (expected Dataset_Part1/<scene>/<k>.JPG and "
                        "Dataset_Part1/Label/<scene>.JPG)")
    return parts


def sice_records(root: Path) -> list[PairRecord]:
    """``sice``: every exposure ``<part>/<scene>/<k>.JPG`` paired with ``<part>/Label/<scene>.JPG``."""
    parts = sice_parts(root)
    out: list[PairRecord] = []
    for part in parts:
        labels = _stem_index(part / "Label", LDR_EXTS, "label")
        scenes = [d for d in part.iterdir() if d.is_dir() and d.name != "Label"]
        names = {d.name for d in scenes}
        orphan = sorted(set(labels) - names, key=natural_key)
        if orphan:
            raise DataError(f"{labels[orphan[0]]}: label without a scene folder in {part}")
        for d in sorted(scenes, key=lambda d: natural_key(d.name)):
            if d.name not in labels:
                raise DataError(f"{d}: scene has no label {part / 'Label' / (d.name + '.JPG')}")
            group = d.name if len(parts) == 1 else f"{part.name}/{d.name}"
            exps = _stem_index(d, LDR_EXTS, "exposure")
            for k in sorted(exps, key=natural_key):
                name = f"{group}/{k}".replace("/", "_")
                out.append(PairRecord(name, exps[k], labels[d.name], "ldr", group))
    return out


def fivek_records(root: Path) -> list[PairRecord]:
    """``fivek``: ``root/input/<name>.jpg|png|tif`` and ``root/expertA/<name>.jpg|tif`` (sRGB)."""
    tdir = root / "expertA"
    if not tdir.is_dir() and (root / "expert_a").is_dir():
        tdir = root / "expert_a"
    return match_folders(root / "input", tdir, LDR_EXTS, "ldr", what="Expert A retouch")


def _ldr_hdr_dirs(root: Path) -> tuple[Path, Path] | None:
    for a, b in (("LDR_in", "HDR_gt"), ("LDR", "HDR"), ("ldr", "hdr"), ("input", "target")):
        if (root / a).is_dir() and (root / b).is_dir():
            return root / a, root / b
    return None


def hdr_pair_records(root: Path, what: str) -> list[PairRecord]:
    """``LDR_in/*.jpg`` + ``HDR_gt/*.hdr|exr`` (also ``LDR``/``HDR``, ``ldr``/``hdr``), matched by stem."""
    dirs = _ldr_hdr_dirs(root)
    if dirs is None:
        raise DataError(f"{root}: no {what} layout (expected LDR_in/*.jpg and HDR_gt/*.hdr)")
    return match_folders(dirs[0], dirs[1], HDR_EXTS + (".tif", ".tiff"), "hdr", what="HDR reference")


def si_hdr_records(root: Path) -> list[PairRecord]:
    """``si_hdr``: SI-HDR (Hanji et al. 2022) as distributed: ``root/reference/<id>.exr|hdr`` (merged RAW
    stacks) and one sub-folder per input condition holding the 8-bit inputs ``<sub>/<id>.jpg|png``.

    Every sub-folder of LDR images whose names match references is an input set; pairs are named
    ``<sub>/<id>`` and grouped by ``<id>``. ``root`` may also be one input folder next to ``reference/``
    (only that input set). Inputs without a reference are a DataError.
    """
    if not (root / SI_HDR_REFERENCE).is_dir() and (root.parent / SI_HDR_REFERENCE).is_dir():
        base, input_dirs = root.parent, [root]
    else:
        base = root
        if not (root / SI_HDR_REFERENCE).is_dir():
            raise DataError(f"{root}: no SI-HDR layout (expected {SI_HDR_REFERENCE}/*.exr and input folders)")
        input_dirs = sorted((d for d in root.iterdir() if d.is_dir() and d.name != SI_HDR_REFERENCE),
                            key=lambda d: natural_key(d.name))
    refs = _stem_index(base / SI_HDR_REFERENCE, HDR_EXTS + (".tif", ".tiff"), "SI-HDR reference")
    out: list[PairRecord] = []
    for d in input_dirs:
        files = {p.stem: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in LDR_EXTS}
        if not files:
            continue
        orphans = sorted(set(files) - set(refs), key=natural_key)
        if orphans:
            raise DataError(f"{d}: {len(orphans)} input(s) without a reference in {base / SI_HDR_REFERENCE} "
                            f"(e.g. {files[orphans[0]].name})")
        out += [PairRecord(f"{d.name}/{k}", files[k], refs[k], "hdr", k) for k in sorted(files, key=natural_key)]
    if not out:
        raise DataError(f"{root}: no SI-HDR input folder (a sub-folder of LDR images named like the references)")
    return out


def aim2025_records(root: Path) -> list[PairRecord]:
    """``aim2025``: an AIM 2025 ITM data folder: 8-bit inputs and HDR references in two folders matched by
    stem, looked for as :data:`AIM2025_DIRS` (``LDR``/``HDR``, ``input``/``gt``, ...)."""
    for a, b in AIM2025_DIRS:
        if (root / a).is_dir() and (root / b).is_dir():
            return match_folders(root / a, root / b, HDR_EXTS + (".tif", ".tiff"), "hdr", what="HDR reference")
    names = ", ".join(f"{a}/ + {b}/" for a, b in AIM2025_DIRS[:4])
    raise DataError(f"{root}: no AIM 2025 layout (expected one of {names}, ...)")


def _aim2025_split_dir(root: Path, which: str) -> Path | None:
    for name in ((which,) if which == "train" else (which, "val", "valid", "validation")):
        if (root / name).is_dir():
            return root / name
    return None


@dataclass(frozen=True)
class DatasetKind:
    """A dataset layout (``data.kind`` of a config, ``--dataset`` of evaluate).

    Attributes:
        name: the kind's name.
        records: every pair under a root (before any split); None for ``ntire``, whose frames and
            takes are read by :mod:`hdrlift.data.ntire`.
        test_only: for a test set only, what to train on instead ("" = trainable).
    """

    name: str
    records: Callable[[Path], list[PairRecord]] | None
    test_only: str = ""

    def check(self, train: bool) -> DatasetKind:
        """``self``; a one-line DataError when a test set is used for training."""
        if train and self.test_only:
            raise DataError(f"{self.name} is a test set only; {self.test_only}")
        return self


DATASET_KINDS: Registry[DatasetKind] = Registry("dataset kind", [(k.name, k) for k in (
    DatasetKind("ntire", None),
    DatasetKind("paired", paired_records),
    DatasetKind("sice", sice_records),
    DatasetKind("fivek", fivek_records),
    DatasetKind("hdr_real", lambda root: hdr_pair_records(root, "HDR-Real")),
    DatasetKind("hdr_eye", lambda root: hdr_pair_records(root, "HDR-Eye"),
                test_only="train on hdr_real or an HDR folder (HDR-Eye)"),
    DatasetKind("si_hdr", si_hdr_records, test_only="train on an HDR folder or aim2025 (SI-HDR)"),
    DatasetKind("aim2025", aim2025_records),
)], error=DataError)
#: Every dataset kind ``iter_dataset_pairs`` knows, and those a training config may use.
KINDS = tuple(DATASET_KINDS.names())
TRAIN_KINDS = tuple(k.name for k in DATASET_KINDS.values() if not k.test_only)


def kind_records(kind: str, root: Path) -> list[PairRecord]:
    """Every pair of a dataset of ``kind`` under ``root`` (before any split; not for ``ntire``)."""
    reader = DATASET_KINDS.get(kind).records
    if reader is None:
        raise DataError(f"dataset kind '{kind}': its records are read by hdrlift.data.ntire")
    return reader(root)


def default_split(kind: str, root: Path, which: str) -> list[PairRecord]:
    """The paper's split of a (non-NTIRE) dataset: ``which`` = ``train`` or ``test``.

    sice: 80/20 by scene; fivek: 90/10 (4500/500) by name; hdr_real: ``train/`` and ``test/``
    sub-folders when present, else 90/10 by name; hdr_eye, si_hdr: everything is test; aim2025:
    ``train/`` and ``test/`` (or ``val/``) sub-folders when present, else the whole folder (point ``root``
    at one split); paired: everything.
    """
    DATASET_KINDS.get(kind).check(train=which == "train")
    if kind == "hdr_real" and (root / "train").is_dir() and (root / "test").is_dir():
        return hdr_pair_records(root / which, "HDR-Real")
    if kind == "aim2025":
        sub = _aim2025_split_dir(root, which)
        if sub is not None:
            return aim2025_records(sub)
    recs = kind_records(kind, root)
    frac = {"sice": SICE_TRAIN_FRACTION, "fivek": FIVEK_TRAIN_FRACTION, "hdr_real": HDR_REAL_TRAIN_FRACTION}
    if kind in frac:
        return split_groups(recs, frac[kind], which)
    return recs


# -- loading ------------------------------------------------------------------------------------------

def srgb_decode_np(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding (numpy float32)."""
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def fit_clip_scale(ldr_srgb: np.ndarray, hdr: np.ndarray, lo: float = FIT_RANGE[0], hi: float = FIT_RANGE[1],
                   max_samples: int = 1 << 20) -> float:
    """Scale ``s`` with ``s * hdr ~= srgb_decode(ldr)`` on well-exposed pixels (every channel in (lo, hi)):
    the median of the per-value log ratios. Falls back to all unclipped pixels (max channel < 0.99),
    then to ``1 / P99(hdr)``, when fewer than 64 values qualify.

    Shape:
        (H, W, 3) sRGB-encoded, (H, W, 3) linear -> float
    """
    step = max(1, int(np.sqrt(ldr_srgb.shape[0] * ldr_srgb.shape[1] / max_samples)))
    x = ldr_srgb[::step, ::step, :3]
    y = hdr[::step, ::step, :3]
    for mask in ((x.min(-1) > lo) & (x.max(-1) < hi), (x.min(-1) > 0.01) & (x.max(-1) < 0.99)):
        a, b = srgb_decode_np(x[mask]), y[mask]
        ok = b > 1e-12
        if int(ok.sum()) >= 64:
            return float(np.exp(np.median(np.log(a[ok]) - np.log(b[ok]))))
    p = float(np.percentile(y, 99)) if y.size else 0.0
    log.warning("target scale fit: too few well-exposed pixels; using 1 / P99 of the target")
    return 1.0 / p if p > 0 else 1.0


def _read_target(rec: PairRecord, ldr: np.ndarray) -> np.ndarray:
    from hdrlift.io import read_image_info, read_ntire

    kind = rec.target_kind
    if kind == "ntire":
        return np.clip(read_ntire(rec.target), 0.0, None) ** 2.24
    img, info = read_image_info(rec.target)
    img = np.ascontiguousarray(img[..., :3], dtype=np.float32)
    if kind == "ldr" and info.is_hdr:
        raise DataError(f"{rec.target}: expected an LDR target, found linear HDR data")
    if kind == "hdr" or (kind == "auto" and info.is_hdr):
        if img.shape[:2] != ldr.shape[:2]:
            return img
        if not np.isfinite(img).all():
            raise DataError(f"{rec.target}: contains NaN or Inf")
        img = np.maximum(img, 0.0)
        return (img * fit_clip_scale(ldr, img)).astype(np.float32)
    return srgb_decode_np(img)


def load_pair(rec: PairRecord) -> Pair:
    """Read one pair: ``ldr`` (H,W,3) float32 sRGB-encoded [0,1], ``hdr`` the target (H,W,3) float32 linear
    (1.0 = clip); ``group`` and ``source`` from the record."""
    from hdrlift.io import read_image_info

    ldr, info = read_image_info(rec.ldr)
    if info.is_hdr:
        raise DataError(f"{rec.ldr}: the input must be an 8/16-bit LDR image, found linear HDR data")
    ldr = np.ascontiguousarray(ldr[..., :3], dtype=np.float32)
    tgt = _read_target(rec, ldr)
    if tgt.shape[:2] != ldr.shape[:2]:
        raise DataError(f"{rec.ldr} ({ldr.shape[1]}x{ldr.shape[0]}) and {rec.target} "
                        f"({tgt.shape[1]}x{tgt.shape[0]}) differ in size")
    return Pair(rec.name, ldr, np.ascontiguousarray(tgt, dtype=np.float32), group=rec.group, source=str(rec.ldr))
