"""Training recipes per method (explicit list)."""

from __future__ import annotations

import torch

from hdrlift.errors import ConfigError
from hdrlift.train.config import TrainConfig
from hdrlift.train.recipes.base import Recipe


def build_recipe(cfg: TrainConfig, device: torch.device) -> Recipe:
    """The recipe named by ``cfg.method``."""
    from hdrlift.train.recipes.duhdr import DuHDRRecipe
    from hdrlift.train.recipes.simple import BilateralRecipe, HDRUNetRecipe
    from hdrlift.train.recipes.twostage import TwoStageRecipe

    table: dict[str, type[Recipe]] = {"hdrunet": HDRUNetRecipe, "uhd_bilateral": BilateralRecipe,
                                      "twostage": TwoStageRecipe, "duhdr": DuHDRRecipe}
    if cfg.method not in table:
        raise ConfigError(f"unknown training method '{cfg.method}'; available: {', '.join(sorted(table))}")
    return table[cfg.method](cfg, device)


__all__ = ["Recipe", "build_recipe"]
