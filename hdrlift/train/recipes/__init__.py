"""Training recipes per method (explicit list) and the check of a config against its recipe."""

from __future__ import annotations

from typing import Any

import torch

from hdrlift.errors import ConfigError
from hdrlift.registry import Registry
from hdrlift.train.config import TrainConfig
from hdrlift.train.recipes.base import Recipe
from hdrlift.train.recipes.duhdr import DuHDRRecipe
from hdrlift.train.recipes.simple import BilateralRecipe, HDRUNetRecipe
from hdrlift.train.recipes.twostage import TwoStageRecipe

#: the training methods (``method:`` of a config)
RECIPES: Registry[type[Recipe]] = Registry("training method", [
    ("hdrunet", HDRUNetRecipe), ("twostage", TwoStageRecipe), ("uhd_bilateral", BilateralRecipe),
    ("duhdr", DuHDRRecipe)])


def list_recipes() -> list[str]:
    """The training methods (``method:`` of a config), in the listed order."""
    return RECIPES.names()


def get_recipe(method: str) -> type[Recipe]:
    """The recipe class of ``method``; :class:`ConfigError` listing the valid methods otherwise."""
    return RECIPES.get(method)


def check_config(cfg: TrainConfig, where: str = "") -> Any:
    """Check ``cfg`` against its recipe without building anything: the method exists and the ``loss:``
    section has only the recipe's keys, with values of their types. Returns the parsed loss section;
    errors are one-line :class:`ConfigError`\\ s, prefixed by ``where`` (the config file) when given."""
    try:
        return get_recipe(cfg.method).parse_loss(cfg.loss)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def build_recipe(cfg: TrainConfig, device: torch.device) -> Recipe:
    """The recipe named by ``cfg.method``, built for ``device``."""
    return get_recipe(cfg.method)(cfg, device)


__all__ = ["RECIPES", "Recipe", "build_recipe", "check_config", "get_recipe", "list_recipes"]
