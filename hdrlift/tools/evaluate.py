"""Evaluation: score prediction folders against references, or run methods side by side on pairs."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hdrlift.data.pair import Pair
from hdrlift.errors import DataError

HDR_EXTS = (".exr", ".hdr")


def read_reference(path: Path) -> np.ndarray:
    """Reference as linear HDR: NTIRE png16 + alignratio (gamma 2.24) or EXR/HDR (linear).

    Shape: returns (H, W, 3) float32, linear HDR >= 0.
    """
    import hdrlift.io as io

    if path.suffix.lower() == ".png":
        return np.clip(io.read_ntire(path), 0, None) ** 2.24
    return io.read_image(path)


def _index(folder: Path, kind: str) -> dict[str, Path]:
    """id -> file. kind 'ref': <id>_gt.png or *.exr/*.hdr; 'pred': <id>.png (+alignratio) or EXR/HDR."""
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        s = p.suffix.lower()
        if s in HDR_EXTS:
            out[p.stem] = p
        elif s == ".png" and kind == "ref" and p.stem.endswith("_gt"):
            out[p.stem[:-3]] = p
        elif s == ".png" and kind == "pred" and (folder / f"{p.stem}_alignratio.npy").exists():
            out[p.stem] = p
    return out


def iter_ntire_pairs(folder: Path, limit: int = 0) -> Iterator[Pair]:
    """The pairs of an NTIRE-layout folder (``hdrlift degrade``): ``name`` = the id, ``ldr`` the sRGB
    medium frame, ``hdr`` the linear reference."""
    import hdrlift.io as io

    folder = Path(folder)
    meds = sorted(folder.glob("*_medium.png"))
    if not meds:
        raise DataError(f"{folder}: no <id>_medium.png files (make pairs with 'hdrlift degrade')")
    for k, m in enumerate(meds):
        if limit and k >= limit:
            break
        pid = m.name[: -len("_medium.png")]
        gt = folder / f"{pid}_gt.png"
        if not gt.exists():
            raise DataError(f"{m}: matching {gt.name} not found")
        ldr = io.read_image(m)
        ref = read_reference(gt)
        if ldr.shape[:2] != ref.shape[:2]:
            raise DataError(f"{m}: size {ldr.shape[1]}x{ldr.shape[0]} differs from {gt.name}")
        yield Pair(pid, np.ascontiguousarray(ldr[..., :3], dtype=np.float32), ref, source=str(m))


def score_folders(
    pred: Path, ref: Path, ldr: Path | None, metrics: list[str], limit: int = 0, protocol: Any = None
) -> list[dict[str, Any]]:
    """Per-image metrics of predictions in ``pred`` against ``ref`` (matched by id).

    With a :class:`hdrlift.metrics.protocols.Protocol` its alignments and metric columns replace
    ``metrics`` (the predictions are taken as made from the protocol's prepared input)."""
    import hdrlift.io as io
    from hdrlift.metrics import evaluate_pair
    from hdrlift.metrics.protocols import score_pair

    refs, preds = _index(ref, "ref"), _index(pred, "pred")
    common = sorted(set(refs) & set(preds))
    if not common:
        raise DataError(f"{pred}: no prediction matches a reference in {ref}")
    missing = sorted(set(refs) - set(preds))
    if missing:
        raise DataError(f"{pred}: {len(missing)} reference(s) have no prediction (e.g. {missing[0]})")
    rows = []
    for k, pid in enumerate(common):
        if limit and k >= limit:
            break
        r = read_reference(refs[pid])
        p = read_reference(preds[pid]) if preds[pid].suffix.lower() == ".png" else io.read_image(preds[pid])
        if r.shape != p.shape:
            raise DataError(f"{preds[pid]}: shape {p.shape} differs from reference {r.shape}")
        lfile = (ldr or ref) / f"{pid}_medium.png"
        l_img = io.read_image(lfile)[..., :3] if lfile.exists() else None
        row: dict[str, Any] = {"method": str(pred), "name": pid}
        if protocol is not None:
            row.update(score_pair(protocol, r, p, protocol.prepare_input(l_img) if l_img is not None else None))
        else:
            row.update(evaluate_pair(r, p, ldr=l_img, metrics=metrics))
        rows.append(row)
    return rows


def _pairs(data: str | None, dataset: str | None, root: str | None, limit: int) -> list[Pair]:
    if data:
        return list(iter_ntire_pairs(Path(data), limit))
    from hdrlift.data.paired import iter_dataset_pairs

    if not root:
        raise DataError("--dataset needs --root")
    return list(iter_dataset_pairs(dataset or "paired", Path(root), limit))


def compare_methods(
    methods: list[str],
    data: str | None = None,
    dataset: str | None = None,
    root: str | None = None,
    metrics: list[str] | None = None,
    limit: int = 0,
    device: str = "auto",
    tile: int | None = None,
    precision: str = "fp32",
    protocol: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Run every method on the same pairs; per-image rows and a per-method summary (mean, time).

    With ``precision`` other than fp32 the networks run in it and are labelled ``name@precision``.
    With a :class:`hdrlift.metrics.protocols.Protocol` the methods see its prepared input and the
    rows hold its columns (``metrics`` is then ignored)."""
    from hdrlift.inference.predictor import Predictor, set_threads
    from hdrlift.metrics import evaluate_pair
    from hdrlift.metrics.protocols import score_pair

    metrics = protocol.columns() if protocol is not None else (metrics or ["psnr_mu", "psnr_l", "ssim_mu",
                                                                          "clipped_rmse"])
    pairs = _pairs(data, dataset, root, limit)
    if protocol is not None:
        pairs = [dataclasses.replace(p, ldr=protocol.prepare_input(p.ldr)) for p in pairs]
    set_threads()
    rows: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    for m in methods:
        pred = Predictor(m, device=device, tile=tile, precision=precision)
        label = m if pred.precision == "fp32" or pred.method.model is None else f"{m}@{pred.precision}"
        times = []
        mrows = []
        for p in pairs:
            t0 = time.perf_counter()
            out = pred(p.ldr)
            times.append(time.perf_counter() - t0)
            row: dict[str, Any] = {"method": label, "name": p.name}
            if protocol is not None:
                row.update(score_pair(protocol, p.hdr, out, p.ldr))
            else:
                row.update(evaluate_pair(p.hdr, out, ldr=p.ldr, metrics=metrics))
            mrows.append(row)
        rows += mrows
        s = mean_metrics(mrows, metrics, label)
        s["sec_per_image"] = float(np.median(times)) if times else None
        summary[label] = s
    return rows, summary


def mean_metrics(rows: list[dict[str, Any]], metrics: list[str], label: str) -> dict[str, Any]:
    """``{"method": label, "n": len(rows), metric: mean over the rows' finite values (None if none)}``."""
    out: dict[str, Any] = {"method": label, "n": len(rows)}
    for k in metrics:
        vals = [r[k] for r in rows if r.get(k) is not None and math.isfinite(r[k])]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def manifest_field(folder: Path, key: str) -> dict[str, str]:
    """Pair id -> the value of ``key`` in the ``manifest.csv`` that ``hdrlift degrade`` wrote in ``folder``.

    ``key`` is a manifest column (``ev``, ``source``, ...) or a key of its ``params`` JSON (``crf``,
    ``jpeg_quality``, ``noise_model``, ...); values are returned as text (``"none"`` for null)."""
    import csv
    import json

    man = Path(folder) / "manifest.csv"
    if not man.is_file():
        raise DataError(f"{man}: not found (the pair list with capture parameters that 'hdrlift degrade' writes)")
    out: dict[str, str] = {}
    with open(man, newline="") as fh:
        for rec in csv.DictReader(fh):
            if key in rec and key != "params":
                val: Any = rec[key]
            else:
                try:
                    params = json.loads(rec.get("params") or "{}")
                except ValueError as e:
                    raise DataError(f"{man}: row {rec.get('id')}: params is not JSON ({e})") from None
                if key not in params:
                    cols = [c for c in rec if c != "params"]
                    raise DataError(f"{man}: no field '{key}' (columns: {', '.join(cols)}; params: "
                                    f"{', '.join(params)})")
                val = params[key]
            out[str(rec["id"])] = "none" if val is None else str(val)
    return out


def group_summary(
    rows: list[dict[str, Any]], groups: dict[str, str], key: str, metrics: list[str]
) -> list[dict[str, Any]]:
    """Per (method, group value) means of ``metrics``; rows are matched to groups by their ``name``.

    Groups are ordered numerically when every value is a number, else alphabetically."""

    values = sorted({groups[r["name"]] for r in rows if r["name"] in groups})
    try:
        values.sort(key=float)
    except ValueError:
        pass
    out = []
    for m in dict.fromkeys(r["method"] for r in rows):
        for v in values:
            sel = [r for r in rows if r["method"] == m and groups.get(r["name"]) == v]
            s = mean_metrics(sel, metrics, m)
            s[key] = v
            out.append(s)
    return out


def format_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    """Plain-text table with aligned columns (floats with 3 decimals)."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(cols))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(row[i].ljust(widths[i]) for i in range(len(cols))) for row in cells]
    return "\n".join(lines)


def paired_comparison(rows: list[dict[str, Any]], a: str, b: str, columns: list[str],
                      resamples: int = 10000, seed: int = 0) -> dict[str, Any]:
    """Paired difference ``b - a`` per column over the images both methods were scored on.

    Returns ``{"a", "b", "columns": {col: PairedDifference dict + higher_is_better + unit},
    "lines": [...]}`` (the lines are what ``hdrlift evaluate --compare`` prints)."""
    from hdrlift.metrics.protocols import column_spec
    from hdrlift.metrics.stats import describe_difference, paired_bootstrap

    by = {m: {r["name"]: r for r in rows if r["method"] == m} for m in (a, b)}
    for m in (a, b):
        if not by[m]:
            raise DataError(f"--compare: no rows for method {m!r} (methods: "
                            f"{', '.join(dict.fromkeys(r['method'] for r in rows))})")
    names = [n for n in by[a] if n in by[b]]
    out: dict[str, Any] = {"a": a, "b": b, "columns": {}, "lines": []}
    for c in columns:
        _, hib, unit = column_spec(c)
        xa = [float(by[a][n][c]) if by[a][n].get(c) is not None else float("nan") for n in names]
        xb = [float(by[b][n][c]) if by[b][n].get(c) is not None else float("nan") for n in names]
        if sum(1 for u, v in zip(xa, xb) if math.isfinite(u) and math.isfinite(v)) < 2:
            continue
        pd = paired_bootstrap(xa, xb, resamples=resamples, seed=seed)
        out["columns"][c] = {**pd.to_dict(), "higher_is_better": hib, "unit": unit}
        out["lines"].append(describe_difference(c, a, b, pd, hib, unit))
    return out
