"""Training checkpoints that survive SIGKILL: a new directory per save, then an atomic pointer update.

Layout of a run directory::

    run/config.yaml                    the resolved training config
    run/checkpoints/step-000500/       model.safetensors + config.json (a loadable predictor)
                                       train_state.pt (all modules, optimizers, schedulers, step)
    run/last.json                      {"step": 500, "dir": "checkpoints/step-000500"}  (atomic)
    run/best.json                      same, for the best validation PSNR-mu
    run/log.jsonl                      one JSON line per log / validation event

A save writes the new directory completely (fsync) before ``last.json`` is replaced with
``os.replace``; a process killed in between leaves ``last.json`` pointing to the previous good state.
``train_state.pt`` holds only tensors and plain containers and is read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from hdrlift.checkpoint import save_model
from hdrlift.errors import ConfigError


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_train_state(
    run_dir: Path,
    step: int,
    predictor: torch.nn.Module,
    state: dict[str, Any],
    meta: dict[str, Any],
    best: bool = False,
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` and point ``last.json`` (and ``best.json`` if ``best``) at it."""
    ck = run_dir / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    final = ck / f"step-{step:07d}"
    tmp = ck / f".tmp-step-{step:07d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(predictor, tmp, meta=meta)  # type: ignore[arg-type]
    with open(tmp / "train_state.pt", "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    rel = str(final.relative_to(run_dir))
    _write_json_atomic(run_dir / "last.json", {"step": step, "dir": rel})
    if best:
        _write_json_atomic(run_dir / "best.json", {"step": step, "dir": rel, **{"meta": meta}})
    _prune(run_dir, keep)
    return final


def _pointed(run_dir: Path) -> set[str]:
    out = set()
    for name in ("last.json", "best.json"):
        p = run_dir / name
        if p.is_file():
            try:
                out.add(json.loads(p.read_text())["dir"])
            except (ValueError, KeyError):
                pass
    return out


def _prune(run_dir: Path, keep: int) -> None:
    ck = run_dir / "checkpoints"
    keepset = _pointed(run_dir)
    dirs = sorted(d for d in ck.iterdir() if d.is_dir() and d.name.startswith("step-"))
    for d in dirs[: max(len(dirs) - keep, 0)]:
        if str(d.relative_to(run_dir)) not in keepset:
            shutil.rmtree(d, ignore_errors=True)
    for d in ck.iterdir():
        if d.name.startswith(".tmp-"):
            shutil.rmtree(d, ignore_errors=True)


def last_checkpoint(run_dir: str | Path, which: str = "last") -> Path | None:
    """Directory of the last (or best) good checkpoint of a run, or None."""
    rd = Path(run_dir)
    p = rd / f"{which}.json"
    if not p.is_file():
        return None
    try:
        d = rd / json.loads(p.read_text())["dir"]
    except (ValueError, KeyError):
        return None
    return d if (d / "train_state.pt").is_file() else None


def load_train_state(run_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """Load ``train_state.pt`` of the last good checkpoint (``weights_only=True``)."""
    d = last_checkpoint(run_dir)
    if d is None:
        raise ConfigError(f"{run_dir}: no checkpoint to resume from (last.json missing or incomplete)")
    state = torch.load(d / "train_state.pt", map_location="cpu", weights_only=True)
    return d, state
