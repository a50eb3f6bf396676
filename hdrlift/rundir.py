"""The layout of a training run directory: the one module that knows where a run keeps what.

::

    run/config.yaml                    the resolved training config
    run/checkpoints/step-0000500/      model.safetensors + config.json (a loadable predictor)
                                       train_state.pt (all modules, optimizers, schedulers, step)
    run/last.json                      {"step": 500, "dir": "checkpoints/step-0000500"}  (atomic)
    run/best.json                      same (+ "meta"), for the best validation PSNR-mu
    run/log.jsonl                      one JSON line per log / validation event

Writers (:mod:`hdrlift.train.state`, ``scripts/gpu_train.py run-dir``) and readers (``-m RUN`` in
predict/evaluate, a config's ``init:``, ``--resume``, ``scripts/ship_weights.py``,
``scripts/average_checkpoints.py``) all go through these names and functions. Only ``json`` and paths:
no torch, nothing is loaded here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from hdrlift.errors import ConfigError
from hdrlift.io.atomic import write_bytes_atomic

CONFIG = "config.yaml"
LOG = "log.jsonl"
CHECKPOINTS = "checkpoints"
TRAIN_STATE = "train_state.pt"
#: the two pointers of a run, each ``<which>.json``
Pointer = Literal["last", "best"]
_PREFIX = "step-"
_TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    """Directory name of checkpoint ``step`` (``step-0000500``)."""
    return f"{_PREFIX}{step:07d}"


def checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """``run/checkpoints/step-NNNNNNN`` (whether or not it exists)."""
    return Path(run_dir) / CHECKPOINTS / checkpoint_name(step)


def temp_checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """Where checkpoint ``step`` is written before it is renamed into place."""
    return Path(run_dir) / CHECKPOINTS / f"{_TMP_PREFIX}{checkpoint_name(step)}"


def step_of(d: str | os.PathLike) -> int:
    """The step of a checkpoint directory named ``step-N``; -1 for any other name."""
    name = Path(d).name
    if not name.startswith(_PREFIX):
        return -1
    try:
        return int(name[len(_PREFIX):])
    except ValueError:
        return -1


def is_run_dir(p: str | os.PathLike) -> bool:
    """A directory with a run pointer (``last.json`` or ``best.json``): a training run, not a checkpoint."""
    d = Path(p)
    return (d / "last.json").is_file() or (d / "best.json").is_file()


def read_pointer(run_dir: str | os.PathLike, which: Pointer = "last") -> dict[str, Any] | None:
    """The content of ``<which>.json`` (``step``, ``dir``, for best also ``meta``), or None when it is
    missing or unreadable."""
    p = Path(run_dir) / f"{which}.json"
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("dir"), str) else None


def pointed_checkpoint(run_dir: str | os.PathLike, which: Pointer = "last",
                       needs: str = "config.json") -> Path | None:
    """The checkpoint directory ``<which>.json`` points at when it holds ``needs`` (``config.json``: a
    loadable predictor; ``train_state.pt``: a resumable state), else None."""
    ptr = read_pointer(run_dir, which)
    if ptr is None:
        return None
    d = Path(run_dir) / ptr["dir"]
    return d if (d / needs).is_file() else None


def run_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The predictor a run stands for: its best checkpoint, else its last (None when neither loads)."""
    return pointed_checkpoint(run_dir, "best") or pointed_checkpoint(run_dir, "last")


def kept_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The run's ``step-N`` directories, newest first (temporary ones excluded)."""
    ck = Path(run_dir) / CHECKPOINTS
    if not ck.is_dir():
        return []
    return sorted((d for d in ck.iterdir() if d.is_dir() and step_of(d) >= 0), key=step_of, reverse=True)


def select_checkpoint(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """A checkpoint of a run by a user's word: ``best``, ``last``, ``step-N`` (a directory of the run) or
    the path of a checkpoint directory; a one-line :class:`ConfigError` when there is none."""
    rd = Path(run_dir)
    if which in ("best", "last"):
        d = pointed_checkpoint(rd, which)  # type: ignore[arg-type]
    elif which.startswith(_PREFIX) and step_of(which) >= 0:
        d = rd / CHECKPOINTS / which
        d = d if (d / "config.json").is_file() else None
    elif Path(which).is_dir():
        d = Path(which)
    else:
        raise ConfigError(f"checkpoint {which!r}: expected best, last, step-N or a checkpoint directory")
    if d is None:
        raise ConfigError(f"{rd}: no {which} checkpoint")
    return d


def write_pointer(run_dir: str | os.PathLike, which: Pointer, step: int, checkpoint: str | os.PathLike,
                  meta: dict[str, Any] | None = None) -> None:
    """Point ``<which>.json`` at ``checkpoint`` (a directory inside the run) atomically."""
    rd = Path(run_dir)
    data: dict[str, Any] = {"step": step, "dir": Path(os.path.relpath(checkpoint, rd)).as_posix()}
    if meta is not None:
        data["meta"] = meta
    write_bytes_atomic(rd / f"{which}.json", json.dumps(data).encode(), overwrite=True)
