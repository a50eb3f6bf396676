"""DuHDR recipe: Algorithm 1 (paired) stages in sequence, optionally interleaved with Algorithm 2
(unpaired LDR photos) steps, from one command.

``loss.stages`` is a list of ``[stage, fraction_of_steps, lr]`` run in order (fractions are normalised).
The default follows Algorithm 1: individual training of Dnet, INnet/Nnet and ITnet, their joint (dual)
training, OOnet with the upstream networks fixed, then fine-tuning of the whole primary path; the
learning rates follow the released code (1e-4 individual, 1e-5 joint / refinement). When
``data.unpaired_root`` is set, every ``loss.unpaired_every``-th step of a stage that has an unpaired
counterpart (Algorithm 2: Eq. 6, 14, 20, 25) runs that unpaired loss on LDR crops instead.
Only the sub-networks a stage trains (``STAGE_MODULES``) are stepped; the others are in eval mode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from hdrlift.errors import ConfigError
from hdrlift.losses.duhdr import STAGE_MODULES, DuHDRLoss, DuHDRLossConfig
from hdrlift.train.recipes.base import Recipe

if TYPE_CHECKING:
    from hdrlift.models.duhdr import DuHDR

DEFAULT_STAGES: list[list[Any]] = [
    ["dnet_individual", 0.1, 1e-4],
    ["crf_individual", 0.1, 1e-4],
    ["itnet_individual", 0.15, 1e-4],
    ["dnet_joint", 0.05, 1e-5],
    ["crf_joint", 0.1, 1e-5],
    ["itnet_joint", 0.1, 1e-5],
    ["oonet", 0.2, 1e-4],
    ["finetune", 0.2, 1e-5],
]

_UNPAIRED = {"dnet_individual": "dnet_unpaired", "dnet_joint": "dnet_unpaired", "crf_individual": "crf_unpaired",
             "crf_joint": "crf_unpaired", "itnet_individual": "itnet_unpaired", "itnet_joint": "itnet_unpaired",
             "oonet": "oonet_unpaired", "finetune": "oonet_unpaired"}


@dataclass
class DuHDRRecipeLoss(DuHDRLossConfig):
    """``loss:`` of the duhdr recipe: the loss weights and options of
    :class:`~hdrlift.losses.duhdr.DuHDRLossConfig` plus the stage schedule.

    Attributes:
        stages: ``[stage, fraction_of_steps]`` or ``[stage, fraction_of_steps, lr]`` run in order
            (fractions normalised; default :data:`DEFAULT_STAGES`, Algorithm 1).
        unpaired_every: with ``data.unpaired_root``, every n-th step runs the stage's unpaired loss.
    """

    truncation: Literal["clip", "guided"] = "clip"
    oo_loss: Literal["l2", "released", "mu"] = "l2"
    stages: list[list[Any]] = field(default_factory=lambda: [list(s) for s in DEFAULT_STAGES])
    unpaired_every: int = 4

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("loss.stages must name at least one stage")
        for i, st in enumerate(self.stages):
            ok = (isinstance(st, list) and len(st) in (2, 3) and isinstance(st[0], str)
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in st[1:]))
            if not ok:
                raise ConfigError(f"loss.stages[{i}] must be [stage, fraction] or [stage, fraction, lr], "
                                  f"got {st!r:.60}")
            if st[0] not in STAGE_MODULES:
                raise ConfigError(f"loss.stages: unknown DuHDR stage {st[0]!r}; valid: {', '.join(STAGE_MODULES)}")
            if st[1] < 0:
                raise ConfigError(f"loss.stages[{i}]: the fraction must be >= 0, got {st[1]}")
        if sum(float(s[1]) for s in self.stages) <= 0:
            raise ConfigError("loss.stages: the fractions sum to 0")

    def loss_config(self) -> DuHDRLossConfig:
        """The part that configures :class:`~hdrlift.losses.duhdr.DuHDRLoss`."""
        return DuHDRLossConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DuHDRLossConfig)})


class DuHDRRecipe(Recipe):
    find_unused = True
    Loss = DuHDRRecipeLoss
    loss: DuHDRRecipeLoss
    model: DuHDR

    def build(self) -> None:
        lc = self.loss
        stages = lc.stages
        self.unpaired_every = lc.unpaired_every
        needs = [k for k in ("dn_mu", "crf_curve") if getattr(lc, k) > 0]
        if needs and not self.cfg.data.camera_targets:
            raise ConfigError(f"loss.{needs[0]} needs the camera's true curve: set data.camera_targets: true")
        self.crit = DuHDRLoss(lc.loss_config()).to(self.device)
        self.stage_modules = STAGE_MODULES
        total = sum(float(s[1]) for s in stages)
        self.schedule: list[tuple[str, int, float]] = []
        acc = 0.0
        for name, frac, *lr in stages:
            acc += float(frac) / total
            self.schedule.append((str(name), int(round(acc * self.cfg.steps)),
                                  float(lr[0]) if lr else self.cfg.optim.lr))
        self.opts["model"] = self.make_adam(self.model.parameters())
        self.unpaired = None
        if self.cfg.data.unpaired_root:
            from hdrlift.data.ldr_folder import LDRFolder

            self.unpaired = LDRFolder(self.cfg.data.unpaired_root, patch=self.cfg.data.patch, seed=self.cfg.seed)

    def stage_at(self, step: int) -> tuple[str, float]:
        for name, end, lr in self.schedule:
            if step < end:
                return name, lr
        return self.schedule[-1][0], self.schedule[-1][2]

    def _unpaired_batch(self, step: int, n: int) -> torch.Tensor:
        assert self.unpaired is not None
        items = [self.unpaired[step * n + i]["ldr"] for i in range(n)]
        return torch.stack(items).to(self.device)

    def current_stage(self, step: int) -> str:
        name, _ = self.stage_at(step)
        if self.unpaired is not None and self.unpaired_every > 0 and step % self.unpaired_every == 0:
            return _UNPAIRED.get(name, name)
        return name

    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        stage = self.current_stage(step)
        ldr = batch["ldr"]
        if stage.endswith("_unpaired"):
            ldr = self._unpaired_batch(step, ldr.shape[0])
        kw = {}
        if stage.startswith(("dnet_", "crf_")) and not stage.endswith("_unpaired"):
            # a synthetic camera's own targets (data.camera_targets): I_n~ and the true inverse curve
            if "ldr_n" in batch:
                kw["target_n"] = batch["ldr_n"]
            if "icrf" in batch:
                kw["icrf"] = batch["icrf"]
        total, terms = self.crit.stage(stage, self.model, ldr=ldr, hdr=batch["hdr"], **kw)
        logs = {"loss": float(total.detach())}
        logs.update({k: float(v) for k, v in terms.items()})
        return total, logs

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        stage = self.current_stage(step)
        _, lr = self.stage_at(step)
        trained = set(self.stage_modules[stage])
        for name, mod in self.model.named_children():
            mod.train(name in trained)
        opt = self.opts["model"]
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss, logs = self.g_step(batch, step)
        loss.backward()
        for name, mod in self.model.named_children():
            if name not in trained:
                for p in mod.parameters():
                    p.grad = None
        self.clip(self.model.parameters())
        opt.step()
        self.scheds["model"].step()
        self.model.train()
        logs["stage_index"] = float([s[0] for s in self.schedule].index(self.stage_at(step)[0]))
        return logs
