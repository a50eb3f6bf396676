"""The training loop shared by every method: data, DDP, schedule, validation, checkpoints, resume.

Method specifics (losses, extra networks such as discriminators, stage schedules) live in
:mod:`hdrlift.train.recipes`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Sampler

from hdrlift import rundir
from hdrlift.data.pair import Pair
from hdrlift.io.atomic import write_bytes_atomic
from hdrlift.train.config import TrainConfig, config_from_dict, config_to_dict
from hdrlift.train.distributed import DistInfo, barrier, cleanup, setup
from hdrlift.train.state import (
    check_recipe_state,
    load_train_state,
    read_run_config,
    save_train_state,
    truncate_log,
)

log = logging.getLogger(__name__)


class StepSampler(Sampler[int]):
    """Indices of the deterministic sample stream for this rank, from ``start_step`` on.

    Step ``s`` of rank ``r`` of ``world`` uses samples ``((s * world + r) * batch + b)``, so ranks never
    share a sample and a resumed run continues the same stream.
    """

    def __init__(self, start_step: int, steps: int, batch: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.steps, self.batch, self.rank, self.world = start_step, steps, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        for s in range(self.start, self.steps):
            base = (s * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return max(self.steps - self.start, 0) * self.batch


def build_datasets(cfg: TrainConfig, info: DistInfo) -> tuple[Any, list[Pair]]:
    """Training dataset and fixed validation pairs for ``cfg.data``."""
    from hdrlift.data import build_train_dataset, build_val_pairs

    return build_train_dataset(cfg), (build_val_pairs(cfg) if info.is_main else [])


@torch.inference_mode()
def validate(model: nn.Module, pairs: Sequence[Pair], device: torch.device) -> dict[str, float]:
    """Mean PSNR-mu, PSNR-L and clipped-region log2 RMSE of ``model`` over validation pairs (run through
    the inference kernel ``hdrlift predict`` would use in float32, :func:`hdrlift.kernels.for_model`)."""
    from hdrlift.kernels import for_model
    from hdrlift.metrics import clipped_log_rmse, psnr_l, psnr_mu

    was_training = model.training
    model.eval()
    net = for_model(model, device, "fp32", "auto")
    mu, pl, cl = [], [], []
    for p in pairs:
        out = net(p.tensors()[0].to(device))[0].float().clamp(min=0).permute(1, 2, 0).cpu().numpy()
        mu.append(psnr_mu(p.hdr, out))
        pl.append(psnr_l(p.hdr, out))
        c = clipped_log_rmse(p.hdr, out, p.ldr)
        if c is not None and not (isinstance(c, float) and math.isnan(c)):
            cl.append(float(c))
    model.train(was_training)
    return {
        "psnr_mu": float(np.mean(mu)) if mu else float("nan"),
        "psnr_l": float(np.mean(pl)) if pl else float("nan"),
        "clipped_rmse": float(np.mean(cl)) if cl else float("nan"),
    }


class _Logger:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.enabled = enabled
        self.file = open(run_dir / rundir.LOG, "a") if enabled else None  # noqa: SIM115
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except Exception:  # tensorboard is optional
                self.tb = None

    def scalars(self, step: int, kind: str, values: Mapping[str, float | list[float]]) -> None:
        """One JSON line of ``values``; the finite numbers also go to TensorBoard."""
        if not self.enabled:
            return
        assert self.file is not None
        self.file.write(json.dumps({"step": step, "kind": kind, "time": time.time(), **values}) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(f"{kind}/{k}", v, step)

    def images(self, step: int, model: nn.Module, pairs: Sequence[Pair], device: torch.device) -> None:
        if not self.enabled or self.tb is None or not pairs:
            return
        from hdrlift.io.preview import tonemap_preview

        with torch.inference_mode():
            model.eval()
            for i, p in enumerate(pairs[:3]):
                out = model(p.tensors()[0].to(device))[0].float().clamp(min=0).permute(1, 2, 0).cpu().numpy()
                row = np.concatenate([tonemap_preview(p.hdr), tonemap_preview(out)], axis=1)
                self.tb.add_image(f"val/{i}_ref_pred", row, step, dataformats="HWC")
            model.train()

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.tb is not None:
            self.tb.close()


def train(
    cfg: TrainConfig,
    resume: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    max_steps_this_run: int | None = None,
) -> Path:
    """Train per ``cfg`` (or continue the run in ``resume``); returns the run directory.

    ``max_steps_this_run`` stops early after that many steps (the run can be resumed later).
    """
    from hdrlift.train.recipes import build_recipe

    info = setup(device)
    if resume is not None:
        run_dir = Path(resume)
        cfg = config_from_dict(read_run_config(run_dir)) if cfg is None else cfg
    else:
        run_dir = Path(cfg.out_dir)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    torch.manual_seed(cfg.seed)
    recipe = build_recipe(cfg, info.device)
    start_step = 0
    best = -math.inf
    if resume is not None:  # every file read is checked before anything of the run is written

        def _apply(st: dict[str, Any]) -> None:
            check_recipe_state(recipe, st["recipe"], run_dir)
            recipe.load_state_dict(st["recipe"])

        _, state = load_train_state(run_dir, apply=_apply)
        start_step = int(state["step"])
        best = float(state.get("best", -math.inf))
        if info.is_main:
            truncate_log(run_dir, start_step)
    elif cfg.init:
        init_weights(recipe.model, cfg.init, skip=cfg.init_skip)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(run_dir / rundir.CONFIG, yaml.safe_dump(config_to_dict(cfg), sort_keys=False).encode())
    barrier(info)
    recipe.wrap_distributed(info)

    dataset, val_pairs = build_datasets(cfg, info)
    sampler = StepSampler(start_step, cfg.steps, cfg.data.batch, info.rank, info.world)
    loader = DataLoader(
        dataset,
        batch_size=cfg.data.batch,
        sampler=sampler,
        num_workers=cfg.data.workers,
        persistent_workers=False,
        drop_last=True,
    )
    logger = _Logger(run_dir, info.is_main, cfg.tensorboard)
    end_step = cfg.steps if max_steps_this_run is None else min(cfg.steps, start_step + max_steps_this_run)
    bar = None
    if progress and info.is_main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc=f"train {cfg.method}", unit="it", dynamic_ncols=True)
    step = start_step
    t0 = time.time()
    running: dict[str, float] = {}
    try:
        for batch in loader:
            if step >= end_step:
                break
            batch = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()}
            logs = recipe.train_step(batch, step)
            for k, v in logs.items():
                if not math.isfinite(v):
                    raise FloatingPointError(f"non-finite {k} = {v} at step {step}")
                running[k] = running.get(k, 0.0) + v
            step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in list(logs.items())[:3]})
            if step % cfg.log_every == 0 and info.is_main:
                n = cfg.log_every
                logger.scalars(step, "train", {**{k: v / n for k, v in running.items()},
                                               "it_per_s": (step - start_step) / max(time.time() - t0, 1e-9),
                                               "lr": recipe.current_lr()})
                running = {}
            do_val = step % cfg.val_every == 0 or step == end_step
            do_ck = step % cfg.ckpt_every == 0 or step == end_step
            do_preview = step % cfg.preview_every == 0 if cfg.preview_every > 0 else do_val
            metrics: dict[str, float] = {}
            if do_val and info.is_main and val_pairs:
                metrics = validate(recipe.predictor(), val_pairs, info.device)
                logger.scalars(step, "val", metrics)
                if bar is not None:
                    bar.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
            if do_preview and info.is_main and val_pairs:
                logger.images(step, recipe.predictor(), val_pairs, info.device)
            if do_ck and info.is_main:
                is_best = bool(metrics) and metrics.get("psnr_mu", -math.inf) > best
                if is_best:
                    best = metrics["psnr_mu"]
                meta = {"step": step, "method": cfg.method, "val": metrics, "tag": cfg.tag,
                        "best_psnr_mu": best if math.isfinite(best) else None}
                save_train_state(run_dir, step, recipe.predictor(),
                                 {"step": step, "best": best, "recipe": recipe.state_dict()},
                                 meta, best=is_best or rundir.read_pointer(run_dir, "best") is None,
                                 keep=cfg.keep_checkpoints)
            barrier(info)
        if info.enabled:
            sums = _rank_checksums(recipe.predictor(), info)
            if info.is_main:
                logger.scalars(step, "ddp_check", {"param_checksums": sums, "world": info.world})
    finally:
        if bar is not None:
            bar.close()
        logger.close()
        cleanup(info)
    return run_dir


def _rank_checksums(model: nn.Module, info: DistInfo) -> list[float]:
    """Sum of all parameters on every rank (gathered): DDP keeps them identical."""
    import torch.distributed as dist

    with torch.no_grad():
        local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    local = local.to(info.device)
    out = [torch.zeros_like(local) for _ in range(info.world)]
    dist.all_gather(out, local)
    return [float(t.item()) for t in out]


def init_weights(model: torch.nn.Module, source: str, skip: Sequence[str] = ()) -> None:
    """Copy the weights of checkpoint ``source`` into ``model``: a checkpoint directory, a run directory
    (its best checkpoint) or a shipped name (same architecture and hyper-parameters; a mismatch is a
    :class:`~hdrlift.errors.ConfigError`). Entries whose name starts with one of ``skip`` (submodule
    names such as ``dnet``) keep the model's fresh initialisation; a prefix that matches nothing is an
    error."""
    from hdrlift.checkpoint import load_model
    from hdrlift.errors import ConfigError, ModelError
    from hdrlift.nn.state import check_state_shapes

    src = load_model(source)  # a run directory means its best checkpoint (hdrlift.checkpoint.resolve_name)
    state = src.state_dict()
    prefixes = tuple(f"{p.rstrip('.')}." for p in skip)
    for p in prefixes:
        if not any(k.startswith(p) for k in state):
            raise ConfigError(f"init_skip: {p[:-1]!r} names no weights of {source}")
    if prefixes:
        own = model.state_dict()
        state = {k: (own[k] if k.startswith(prefixes) else v) for k, v in state.items()}
    try:
        check_state_shapes(source, {k: v.shape for k, v in state.items()}, model.state_dict(), "the configured model")
    except ModelError as exc:
        raise ConfigError(f"init: {exc}") from None
    model.load_state_dict(state, strict=True)


#: the speed that sets the schedule's horizon is measured over at least this many steps after the warm-up
CALIB_MIN_STEPS = 20
#: ... and at least this many seconds (or calib_s, if shorter)
CALIB_MIN_SECONDS = 10.0


def wallclock_horizon(now: float, t_start: float, t_first: float | None, step: int, s_first: int, calib_s: float,
                      deadline: float, min_steps: int = CALIB_MIN_STEPS) -> int | None:
    """The schedule horizon (steps) that the speed measured since the warm-up (``s_first`` steps done at
    ``t_first``; ``step`` done at ``now``) predicts for a run stopped at the wall-clock ``deadline`` (7 %
    kept for validations), or None while the measurement is too short: before ``calib_s`` seconds, before
    the warm-up steps end (``t_first``), or before ``min_steps`` steps and ``CALIB_MIN_SECONDS`` (at most
    ``calib_s``) after the warm-up. A slow
    start (many loader workers) once had the horizon set from 0 steps, so the learning rate decayed to
    its floor at step 4; once half the time is gone the horizon is set from whatever was measured.
    """
    if t_first is None or now - t_start < calib_s:
        return None
    done = step - s_first
    late = now - t_start >= 0.5 * max(deadline - t_start, 0.0)
    if not late and (done < min_steps or now - t_first < min(CALIB_MIN_SECONDS, calib_s)):
        return None
    rate = done / max(now - t_first, 1e-9)
    return max(step + 1, int(step + 0.93 * rate * max(deadline - now, 0.0)))
