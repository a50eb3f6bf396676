"""Training checkpoints that survive SIGKILL: a new directory per save, then an atomic pointer update.

The layout of a run directory is :mod:`hdrlift.rundir`'s. A save writes the new directory completely
(fsync) before ``last.json`` is replaced with ``os.replace``; a process killed in between leaves
``last.json`` pointing to the previous good state. ``train_state.pt`` holds only tensors and plain
containers and is read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from hdrlift import rundir
from hdrlift.checkpoint import save_model
from hdrlift.errors import ConfigError, HdrliftError, one_line
from hdrlift.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)


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
    final = rundir.checkpoint_dir(run_dir, step)
    tmp = rundir.temp_checkpoint_dir(run_dir, step)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(predictor, tmp, meta=meta)  # type: ignore[arg-type]
    with open(tmp / rundir.TRAIN_STATE, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    rundir.write_pointer(run_dir, "last", step, final)
    if best:
        rundir.write_pointer(run_dir, "best", step, final, meta=meta)
    _prune(run_dir, keep)
    return final


def _prune(run_dir: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` checkpoints (never one a pointer names) and temporary ones."""
    pointed = {run_dir / p["dir"] for w in ("last", "best") if (p := rundir.read_pointer(run_dir, w))}
    for d in rundir.kept_checkpoints(run_dir)[keep:]:
        if d not in pointed:
            shutil.rmtree(d, ignore_errors=True)
    for d in (run_dir / rundir.CHECKPOINTS).iterdir():
        if d.name.startswith(".tmp-"):
            shutil.rmtree(d, ignore_errors=True)


def last_checkpoint(run_dir: str | Path, which: rundir.Pointer = "last") -> Path | None:
    """Directory of the last (or best) resumable checkpoint of a run, or None."""
    return rundir.pointed_checkpoint(run_dir, which, needs=rundir.TRAIN_STATE)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The saved ``config.yaml`` of a run as a mapping (one-line :class:`ConfigError` when missing,
    unreadable, not YAML or not a mapping); nothing is written."""
    p = Path(run_dir) / rundir.CONFIG
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: not a training run directory (config.yaml missing)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: unreadable ({one_line(exc)})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({one_line(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _candidates(run_dir: Path) -> list[Path]:
    """Checkpoint directories to try, best first: the one ``last.json`` points at, then the other kept
    ``step-*`` directories from the newest down."""
    out: list[Path] = []
    pointed = last_checkpoint(run_dir)
    if pointed is not None:
        out.append(pointed)
    out += [d for d in rundir.kept_checkpoints(run_dir) if d not in out]
    return out


def _read_state(d: Path) -> dict[str, Any]:
    """``train_state.pt`` of checkpoint ``d``, checked: a mapping with an integer ``step`` equal to the
    directory's, a finite-or-minus-infinity ``best`` and a ``recipe`` mapping."""
    f = d / rundir.TRAIN_STATE
    if not f.is_file():
        raise ConfigError(f"{f}: missing")
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ...
        raise ConfigError(f"{f}: unreadable training state ({one_line(exc)})") from None
    if not isinstance(state, dict) or not isinstance(state.get("recipe"), dict):
        raise ConfigError(f"{f}: not an hdrlift training state (no 'recipe' mapping)")
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ConfigError(f"{f}: step must be a non-negative integer, got {step!r:.40}")
    if rundir.step_of(d) >= 0 and step != rundir.step_of(d):
        raise ConfigError(f"{f}: holds step {step} but sits in {d.name} (a foreign file)")
    best = state.get("best", -math.inf)
    if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best) or best == math.inf:
        raise ConfigError(f"{f}: best must be a number, got {best!r:.40}")
    return state


def check_recipe_state(recipe: Any, rstate: dict[str, Any], where: Path) -> None:
    """Saved ``recipe`` state against a built recipe: the same networks, optimizers and schedulers, and
    every network tensor of the same shape (so loading cannot half-succeed)."""
    for part in ("nets", "opts", "scheds"):
        saved = rstate.get(part)
        own = getattr(recipe, part, None)
        if own is None:
            continue
        if not isinstance(saved, dict) or set(saved) != set(own):
            got = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise ConfigError(f"{where}: {part} {got} do not match this run's {sorted(own)}")
    for name, net in getattr(recipe, "nets", {}).items():
        sd = rstate["nets"][name]
        mine = net.state_dict()
        if not isinstance(sd, dict) or set(sd) != set(mine):
            raise ConfigError(f"{where}: network {name!r} has other tensors than the configured model")
        for k, t in mine.items():
            v = sd[k]
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(t.shape):
                raise ConfigError(f"{where}: {name}.{k} has shape {list(getattr(v, 'shape', []))}, "
                                  f"the configured model needs {list(t.shape)}")


def load_train_state(run_dir: str | Path, apply: Callable[[dict[str, Any]], None] | None = None,
                     ) -> tuple[Path, dict[str, Any]]:
    """Load and check ``train_state.pt`` of the last good checkpoint (``weights_only=True``).

    A checkpoint that fails (unreadable, foreign, wrong step, or ``apply(state)`` raising - e.g. a recipe
    whose networks do not fit) is skipped with one warning and the previous kept checkpoint is tried.
    Raises :class:`ConfigError` when none is usable. Nothing is written.
    """
    rd = Path(run_dir)
    tried: list[str] = []
    for d in _candidates(rd):
        try:
            state = _read_state(d)
            if apply is not None:
                apply(state)
        except (HdrliftError, RuntimeError, KeyError, TypeError, ValueError) as exc:
            msg = one_line(exc)
            tried.append(msg)
            log.warning("resume: %s is unusable (%s); trying the previous kept checkpoint", d.name, msg)
            continue
        if tried:
            log.warning("resume: falling back to %s (step %d)", d.name, state["step"])
        return d, state
    if not tried:
        raise ConfigError(f"{run_dir}: no checkpoint to resume from (last.json missing or incomplete)")
    raise ConfigError(f"{run_dir}: no usable checkpoint to resume from ({tried[0]})")


def truncate_log(run_dir: str | Path, step: int) -> int:
    """Drop the lines of ``log.jsonl`` after ``step`` (logged by a run killed after its last checkpoint,
    so a resumed run does not repeat them) and any unreadable line; atomic. Returns the lines dropped."""
    p = Path(run_dir) / rundir.LOG
    if not p.is_file():
        return 0
    kept, dropped = [], 0
    for line in p.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
            ok = isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= step
        except ValueError:
            ok = False
        if ok:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        write_bytes_atomic(p, "".join(f"{ln}\n" for ln in kept).encode(), overwrite=True)
    return dropped
