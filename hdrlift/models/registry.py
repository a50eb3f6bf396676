"""Explicit registry of architectures (no import side effects, no folder scan).

Each method module exposes ``SPECS: list[ModelSpec]``; this module lists the modules.
"""

from __future__ import annotations

from typing import Any

from hdrlift.errors import ModelError
from hdrlift.models.base import HDRModel, ModelSpec

_MODULES = (
    "hdrlift.models.hdrunet",
    "hdrlift.models.twostage",
    "hdrlift.models.uhd_bilateral",
    "hdrlift.models.duhdr",
)

_REGISTRY: dict[str, ModelSpec] | None = None


def _load() -> dict[str, ModelSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        import importlib

        reg: dict[str, ModelSpec] = {}
        for mod_name in _MODULES:
            try:
                mod = importlib.import_module(mod_name)
            except ModuleNotFoundError as exc:  # a method not yet present in this checkout
                if exc.name == mod_name:
                    continue
                raise
            for spec in mod.SPECS:
                reg[spec.name] = spec
        _REGISTRY = reg
    return _REGISTRY


def list_models() -> list[ModelSpec]:
    """All registered architecture variants, sorted by name."""
    return [spec for _, spec in sorted(_load().items())]


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; raises :class:`ModelError` listing valid names."""
    reg = _load()
    if name not in reg:
        raise ModelError(f"unknown model '{name}'; available: {', '.join(sorted(reg))}")
    return reg[name]


def create_model(name: str, **hparams: Any) -> HDRModel:
    """Build an untrained model: the spec's default hyper-parameters updated by ``hparams``."""
    spec = get_spec(name)
    kwargs = dict(spec.hparams)
    kwargs.update(hparams)
    try:
        model = spec.cls(**kwargs)
    except TypeError as exc:
        raise ModelError(f"bad hyper-parameters for model '{name}': {exc}") from None
    return model
