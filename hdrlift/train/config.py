"""Typed training configuration loaded from YAML (``yaml.safe_load``), with ``--set a.b=c`` overrides.

An unknown key is a :class:`ConfigError` that lists the valid keys of that section. The ``loss:`` section
belongs to the recipe named by ``method``: each recipe declares it as a dataclass
(:attr:`hdrlift.train.recipes.base.Recipe.Loss`) and :func:`hdrlift.train.recipes.check_config` builds it
with :func:`build_section`, the same typed builder as the sections here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdrlift.errors import ConfigError


@dataclass
class ModelConfig:
    name: str = "hdrunet"
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    kind: str = "hdr_folder"  # hdr_folder | ntire | paired | sice | fivek | hdr_real
    root: str = "../shared/data/hdr"
    train_split: str | None = "configs/splits/hdr_train.txt"
    val_split: str | None = "configs/splits/hdr_val.txt"
    val_root: str | None = None
    patch: int = 128
    batch: int = 8
    scale_min: float = 0.5
    workers: int = 1
    camera: dict[str, Any] = field(default_factory=dict)
    perspective: float = 0.0  # hdr_folder: probability of a pinhole view of a 360 panorama instead of a crop
    val_camera: dict[str, Any] | None = None  # hdr_folder: camera of the validation pairs (None = data.camera)
    val_exposures: list[float] = field(default_factory=lambda: [-1.0, 0.0, 1.5])
    val_max_side: int = 384
    val_limit: int = 0  # 0 = all validation pairs
    on_bad: str = "skip"  # skip | error
    unpaired_root: str | None = None  # LDR photos for DuHDR's Algorithm 2
    camera_targets: bool = False  # hdr_folder: also yield the camera's clean encoded image and inverse curve


@dataclass
class OptimConfig:
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    grad_clip: float = 0.0
    d_lr: float | None = None  # discriminator learning rate (GAN recipes); None = lr
    decay_start: float = 1.0  # fraction of steps after which the lr decays linearly ...
    decay_min: float = 0.0  # ... to this fraction of itself at the last step (1.0 = no decay)


@dataclass
class TrainConfig:
    method: str = "hdrunet"  # training recipe: hdrunet | twostage | uhd_bilateral | duhdr
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: dict[str, Any] = field(default_factory=dict)  # the recipe's keys: Recipe.Loss of `method` (checked there)
    steps: int = 1000
    val_every: int = 250
    ckpt_every: int = 250
    log_every: int = 10
    preview_every: int = 0  # TensorBoard preview images every N steps; 0 = with each validation
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 0  # 0 = all cores
    out_dir: str = "runs/run"
    tensorboard: bool = True
    tag: str = ""
    init: str = ""  # checkpoint dir or shipped name whose weights start a fresh run (fine-tuning)
    init_skip: list[str] = field(default_factory=list)  # submodules (name prefixes) left at their fresh init


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}


def build_section(cls: type, data: dict[str, Any], where: str) -> Any:
    """Dataclass ``cls`` from the mapping ``data`` of config section ``where`` (``"data"``, ``"loss"``; ``""``
    for the top level): an unknown key, a value of the wrong type (:func:`_check_type`) or a constraint of
    the dataclass's ``__post_init__`` is a one-line :class:`ConfigError` naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    kwargs = {}
    for k, v in data.items():
        sub = _SECTIONS.get(k) if cls is TrainConfig else None
        kwargs[k] = build_section(sub, v or {}, f"{where}.{k}" if where else k) if sub else v
    hints = typing.get_type_hints(cls)
    for k, v in kwargs.items():
        if k not in _SECTIONS or cls is not TrainConfig:
            kwargs[k] = _check_type(f"{where}.{k}" if where else k, v, hints[k])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
          dict: "a mapping", type(None): "null"}


def _check_type(key: str, value: Any, hint: Any) -> Any:
    """``value`` against a field's annotation (int, float (ints allowed), str (numbers become their text),
    bool, list[X], tuple[X, ...] (from a list), dict, Literal[...], X | None); returns it, a mismatch is a
    one-line ConfigError (``--set steps=abc`` says so instead of failing later)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        opts = typing.get_args(hint)
        if value not in opts or isinstance(value, bool) != any(isinstance(o, bool) for o in opts):
            raise ConfigError(f"{key} must be one of {', '.join(map(str, opts))}, got {value!r:.60}")
        return value
    if origin in (typing.Union, types.UnionType):
        opts = typing.get_args(hint)
        for o in sorted(opts, key=lambda o: o is str):  # str last: it accepts numbers too
            try:
                return _check_type(key, value, o)
            except ConfigError:
                continue
        raise ConfigError(f"{key} must be {' or '.join(_WORDS.get(typing.get_origin(o) or o, str(o)) for o in opts)}, "
                          f"got {value!r:.60}")
    base = origin or hint
    if base is Any:
        return value
    if base is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if base is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r:.60}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return tuple(_check_type(f"{key}[{i}]", item, args[0]) if args else item for i, item in enumerate(value))
    if base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base in (str, bool, dict, list, type(None)):
        ok = isinstance(value, base)
    else:
        return value
    if not ok:
        raise ConfigError(f"{key} must be {_WORDS.get(base, str(base))}, got {value!r:.60}")
    if base is list:
        item_hint = typing.get_args(hint)
        if item_hint:
            return [_check_type(f"{key}[{i}]", item, item_hint[0]) for i, item in enumerate(value)]
    return value


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested dict (unknown keys are errors)."""
    cfg = build_section(TrainConfig, data, "")
    _check(cfg)
    return cfg


def _check(cfg: TrainConfig) -> None:
    if cfg.steps < 1:
        raise ConfigError(f"steps must be >= 1, got {cfg.steps}")
    if cfg.data.batch < 1 or cfg.data.patch < 8:
        raise ConfigError("data.batch must be >= 1 and data.patch >= 8")
    if cfg.data.on_bad not in ("skip", "error"):
        raise ConfigError(f"data.on_bad must be 'skip' or 'error', got {cfg.data.on_bad!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (value parsed with ``yaml.safe_load``) to a nested dict."""
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} is not key=value")
        key, raw = ov.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 as a string; a number is meant
            try:
                value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
            except ValueError:
                pass
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {p} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Load a YAML config file (or defaults when ``path`` is None) and apply overrides; an error in the
    file's content names the file. The recipe's ``loss:`` keys are checked by
    :func:`hdrlift.train.recipes.check_config` (and again when the recipe is built)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
    data = apply_overrides(data, overrides or [])
    if path is None:
        return config_from_dict(data)
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}{' (with --set)' if overrides else ''}: {exc}") from None


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
