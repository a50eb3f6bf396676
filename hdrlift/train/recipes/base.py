"""Recipe base: which networks train, their optimisers and schedules, and one training step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from hdrlift.models import HDRModel, create_model
from hdrlift.train.config import TrainConfig, build_section
from hdrlift.train.distributed import DistInfo

#: the PSNR-mu-domain term of :func:`hdrlift.losses.basic.mu_loss`
MuKind = Literal["l1", "psnr"]


@dataclass
class MuTermLoss:
    """The ``loss:`` keys of this project's terms on the linear output (PSNR-mu domain, highlights), shared
    by the single-output recipes. Both are options of this project; 0 = the paper.

    Attributes:
        mu_weight: weight of :func:`~hdrlift.losses.basic.mu_loss` on the linear output (0 = the paper).
        mu_kind: ``l1`` (batch-wide mu-law L1) or ``psnr`` (mean per-sample PSNR-mu, negated).
        clip_weight: weight of :func:`~hdrlift.losses.basic.clipped_log_loss` (the log2 level of the
            input's clipped pixels) on the linear output (0 = the paper).
        clip_delta: its Huber threshold in stops.
    """

    mu_weight: float = 0.0
    mu_kind: MuKind = "l1"
    clip_weight: float = 0.0
    clip_delta: float = 2.0

    def __post_init__(self) -> None:
        from hdrlift.errors import ConfigError

        if self.clip_weight < 0 or self.mu_weight < 0:
            raise ConfigError("loss.mu_weight and loss.clip_weight must be >= 0")
        if self.clip_delta <= 0:
            raise ConfigError(f"loss.clip_delta must be > 0, got {self.clip_delta}")

    def terms(self, pred_lin: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted sum of the enabled terms on ``pred_lin`` and their logs (``mu_<kind>``, ``clip_log``).

        Domain: ``pred_lin`` linear HDR; ``batch["hdr"]`` its target, ``batch["ldr"]`` the sRGB input.

        Shape:
            (B, 3, H, W) -> ()
        """
        total = pred_lin.new_zeros(())
        logs: dict[str, float] = {}
        if self.mu_weight > 0:
            from hdrlift.losses.basic import mu_loss

            mu = mu_loss(pred_lin, batch["hdr"], self.mu_kind)
            total = total + self.mu_weight * mu
            logs[f"mu_{self.mu_kind}"] = float(mu.detach())
        if self.clip_weight > 0:
            from hdrlift.losses.basic import clipped_log_loss

            cl = clipped_log_loss(pred_lin.float(), batch["hdr"].float(), batch["ldr"].float(),
                                  delta=self.clip_delta)
            total = total + self.clip_weight * cl
            logs["clip_log"] = float(cl.detach())
        return total, logs


@dataclass
class NoLoss:
    """A recipe without ``loss:`` options."""


class Recipe:
    """One method's training logic. Subclasses define :meth:`generator_loss` (and optionally more).

    ``self.nets`` holds every trained network by name (``"model"`` is the predictor that is saved and
    validated); ``self.opts`` the optimisers; ``self.scheds`` their schedulers. After
    :meth:`wrap_distributed`, ``self.g_step`` computes the generator loss through DDP. ``Loss`` is the
    dataclass of the recipe's ``loss:`` section (its fields are the valid keys, with their defaults);
    ``self.loss`` holds the parsed section.
    """

    Loss: ClassVar[type] = NoLoss

    @classmethod
    def parse_loss(cls, data: dict[str, Any] | None) -> Any:
        """The ``loss:`` mapping of a config as :attr:`Loss`; an unknown key or a bad value is a one-line
        :class:`~hdrlift.errors.ConfigError` listing the valid keys."""
        return build_section(cls.Loss, data or {}, "loss")

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.loss = self.parse_loss(cfg.loss)  # before anything is built: a typo fails at once
        self.model: HDRModel = create_model(cfg.model.name, **cfg.model.hparams).to(device)
        self.model.train()
        self.nets: dict[str, nn.Module] = {"model": self.model}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.scheds: dict[str, Any] = {}
        self.build()
        if not self.opts:
            self.opts["model"] = self.make_adam(self.model.parameters())
        for k, o in self.opts.items():
            self.scheds.setdefault(k, torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor))
        self.g_step: nn.Module = _Fn(self.generator_loss, model=self.model)

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at ``step``: ``gamma`` per passed milestone, times a linear decay
        from ``decay_start * steps`` to ``decay_min`` at the last step (a function of the config only, so a
        resumed run, even with more ``steps``, follows the schedule of its config)."""
        import bisect

        o = self.cfg.optim
        f = o.gamma ** bisect.bisect_right(sorted(o.milestones), step)
        start = o.decay_start * self.cfg.steps
        if o.decay_start < 1.0 and step > start:
            t = min((step - start) / max(self.cfg.steps - start, 1.0), 1.0)
            f *= 1.0 - (1.0 - o.decay_min) * t
        return f

    # -- construction -------------------------------------------------------------------------------
    def build(self) -> None:
        """Create extra networks / optimisers (subclasses)."""

    def make_adam(self, params: Any, lr: float | None = None) -> torch.optim.Optimizer:
        o = self.cfg.optim
        return torch.optim.Adam(params, lr=o.lr if lr is None else lr, betas=(o.betas[0], o.betas[1]),
                                weight_decay=o.weight_decay)

    def wrap_distributed(self, info: DistInfo) -> None:
        """Wrap the generator-loss computation (and extra ones) in DDP when running distributed."""
        if not info.enabled:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [info.device.index] if info.device.type == "cuda" else None
        self.g_step = DDP(self.g_step, device_ids=ids, find_unused_parameters=self.find_unused)
        self.wrap_extra(info, ids)

    find_unused = False

    def wrap_extra(self, info: DistInfo, ids: Any) -> None:
        """Subclasses with extra trained networks wrap them here."""

    # -- training -----------------------------------------------------------------------------------
    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise TypeError(f"{type(self).__name__} defines no generator loss")

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        opt = self.opts["model"]
        opt.zero_grad(set_to_none=True)
        loss, logs = self.g_step(batch, step)
        loss.backward()
        self.clip(self.model.parameters())
        opt.step()
        self.scheds["model"].step()
        return logs

    def clip(self, params: Any) -> None:
        if self.cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(list(params), self.cfg.optim.grad_clip)

    def predictor(self) -> HDRModel:
        return self.model

    def current_lr(self) -> float:
        return float(next(iter(self.opts.values())).param_groups[0]["lr"])

    # -- state --------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scheds": {k: v.state_dict() for k, v in self.scheds.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["nets"].items():
            self.nets[k].load_state_dict(v)
        for k, v in state["opts"].items():
            self.opts[k].load_state_dict(v)
        for k, v in state["scheds"].items():
            if isinstance(self.scheds[k], torch.optim.lr_scheduler.LambdaLR) and "lr_lambdas" not in v:
                v = {**v, "lr_lambdas": [None] * len(self.opts[k].param_groups)}  # from a MultiStepLR state
            self.scheds[k].load_state_dict(v)


class _Fn(nn.Module):
    """A module whose forward calls ``fn``; registering the networks lets DDP sync their gradients."""

    def __init__(self, fn: Any, **nets: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.nets = nn.ModuleDict(nets)

    def forward(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return self.fn(batch, step)
