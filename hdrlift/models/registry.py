"""Explicit registry of architectures (no import side effects, no folder scan): :data:`MODELS`, a
:class:`hdrlift.registry.Registry` (the project's one registry idiom).

Each method module exposes ``SPECS: list[ModelSpec]``; this module lists the modules (:data:`_MODULES`):
adding an architecture to hdrlift is one new module in ``hdrlift/models/`` plus its line there. A model
defined elsewhere (an application's own, a test's toy) is added at run time with :func:`register` /
:func:`unregister` or the :func:`temporary_registration` context manager; the inference runtime then
treats it like a shipped one (it reads only the declared contract, :mod:`hdrlift.models.base`).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Iterator
from typing import Any

from torch.overrides import TorchFunctionMode

from hdrlift.errors import ModelError
from hdrlift.models.base import HDRModel, ModelSpec
from hdrlift.registry import Registry

_MODULES = (
    "hdrlift.models.hdrunet",
    "hdrlift.models.twostage",
    "hdrlift.models.uhd_bilateral",
    "hdrlift.models.duhdr",
    "hdrlift.models.curvenet",
    "hdrlift.models.ensemble",
)


def _specs() -> list[tuple[str, ModelSpec]]:
    """Every variant of the listed method modules (imported on first use)."""
    import importlib

    out: list[tuple[str, ModelSpec]] = []
    for mod_name in _MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:  # a method not yet present in this checkout
            if exc.name == mod_name:
                continue
            raise
        out += [(spec.name, spec) for spec in mod.SPECS]
    return out


MODELS: Registry[ModelSpec] = Registry("model", _specs, error=ModelError)


def list_models() -> list[ModelSpec]:
    """All registered architecture variants, sorted by name."""
    return sorted(MODELS.values(), key=lambda spec: spec.name)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; raises :class:`ModelError` listing valid names."""
    return MODELS.get(name)


def register(spec: ModelSpec, *, replace: bool = False) -> None:
    """Add an architecture variant to the registry (after the shipped ones are loaded).

    ``spec.cls`` must be an :class:`HDRModel` subclass whose ``arch`` names the variant family:
    ``spec.name`` is ``arch`` or ``arch + "_<suffix>"`` (the runtime finds the size requirements of an
    instance by its ``arch``). A name already registered is refused unless ``replace``. Raises
    :class:`ModelError` in one line.
    """
    if not isinstance(spec, ModelSpec):
        raise ModelError(f"register() takes a ModelSpec, got {type(spec).__name__}")
    if not (isinstance(spec.cls, type) and issubclass(spec.cls, HDRModel)):
        raise ModelError(f"model '{spec.name}': cls must be an HDRModel subclass, got {spec.cls!r}")
    arch = spec.cls.arch
    if not arch or not (spec.name == arch or spec.name.startswith(arch + "_")):
        raise ModelError(f"model '{spec.name}': the name must be {spec.cls.__name__}.arch ({arch!r}) or "
                         f"start with it and '_'")
    MODELS.add(spec.name, spec, replace=replace)


def unregister(name: str) -> ModelSpec:
    """Remove ``name`` from the registry and return its spec; raises :class:`ModelError` if unknown."""
    return MODELS.remove(name)


@contextlib.contextmanager
def temporary_registration(*specs: ModelSpec) -> Iterator[None]:
    """Register ``specs`` (new names only) for the duration of the block, unregister them after."""
    done: list[str] = []
    try:
        for spec in specs:
            register(spec)
            done.append(spec.name)
        yield
    finally:
        for name in reversed(done):
            unregister(name)


#: most tensor elements a model's constructor may allocate (parameters, buffers and temporaries): 4x the
#: largest shipped architecture (duhdr, 52 M); a config asking for more is refused before allocating it
MAX_ELEMENTS = 200_000_000
#: generic bounds on hyper-parameter values (before the per-architecture checks of the constructors)
MAX_INT = 1 << 16
MAX_LIST = 32
MAX_STR = 256
#: tighter bounds where a hyper-parameter sizes a computation outside torch (numpy at construction)
_LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    "DuHDR": {"crf_samples": (2, 4096), "crf_k": (1, 64)},
}


_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string", "list": "a list"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if value is None:
        return "none"
    return type(value).__name__


def _check_value(name: str, key: str, value: Any, default: Any, limits: tuple[float, float] | None) -> None:
    """One hyper-parameter against the kind of its default and the generic/per-model ranges."""
    want, got = _kind(default), _kind(value)
    where = f"model '{name}': hyper-parameter {key}"
    if want == "none":  # optional: None, or a plain value / list of plain values
        if got not in ("none", "bool", "int", "float", "str", "list"):
            raise ModelError(f"{where} has unsupported type {got}")
        if got == "list":
            for v in value:
                _check_value(name, key, v, 0.0 if _kind(v) in ("int", "float") else v, limits)
        elif got in ("int", "float", "str"):
            _check_value(name, key, value, 0.0 if got != "str" else "", limits)
        return
    ok = got == want or (want == "float" and got == "int")
    if not ok:
        raise ModelError(f"{where} must be {_WORDS.get(want, want)}, got {value!r:.60}")
    if want == "list":
        if len(value) > MAX_LIST:
            raise ModelError(f"{where} has {len(value)} entries (at most {MAX_LIST})")
        proto = default[0] if len(default) else None
        for v in value:
            _check_value(name, key, v, proto, limits)
    elif want in ("int", "float"):
        if not math.isfinite(float(value)):
            raise ModelError(f"{where} must be finite, got {value!r}")
        lo, hi = limits if limits is not None else ((-MAX_INT if default < 0 else 0), MAX_INT)
        if want == "int" and not lo <= value <= hi:
            raise ModelError(f"{where} = {value} is out of range [{lo:g}, {hi:g}]")
        if want == "float" and limits is not None and not lo <= value <= hi:
            raise ModelError(f"{where} = {value} is out of range [{lo:g}, {hi:g}]")
        if want == "float" and abs(value) > 1e6:
            raise ModelError(f"{where} = {value} is out of range (|value| <= 1e6)")
    elif want == "str" and len(value) > MAX_STR:
        raise ModelError(f"{where} is a string of {len(value)} characters (at most {MAX_STR})")


def validate_hparams(name: str, hparams: Any) -> dict[str, Any]:
    """The keyword arguments ``create_model(name, **hparams)`` would pass, checked before anything is built.

    Checks: ``hparams`` is a mapping of known argument names of the architecture's constructor; each value
    has the type of the constructor's default (int, float (ints allowed), str, bool, list of such) and
    lies in a generic range (ints in [0, 65536], lists of at most 32 entries, finite floats) or the
    tighter per-architecture range of :data:`_LIMITS`. Raises :class:`ModelError` in one line.
    """
    spec = get_spec(name)
    if not isinstance(hparams, dict) or not all(isinstance(k, str) for k in hparams):
        raise ModelError(f"model '{name}': hyper-parameters must be a mapping of names to values, got {hparams!r:.80}")
    params = inspect.signature(spec.cls.__init__).parameters
    defaults = {k: p.default for k, p in params.items()
                if k != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = dict(spec.hparams)
    kwargs.update(hparams)
    limits = _LIMITS.get(spec.cls.__name__, {})
    for key, value in kwargs.items():
        if key not in defaults:
            if takes_any:
                continue
            raise ModelError(f"model '{name}': unknown hyper-parameter '{key}' (known: {', '.join(defaults)})")
        default = defaults[key]
        if default is inspect.Parameter.empty:
            default = spec.hparams.get(key, value)
        _check_value(name, key, value, default, limits.get(key))
    return kwargs


class _AllocationGuard(TorchFunctionMode):
    """Counts the elements requested by torch factory calls and refuses, before allocating, the one that
    would take the total above ``limit``."""

    _SIZED = ("empty", "zeros", "ones", "rand", "randn", "full", "empty_strided", "randint")

    def __init__(self, name: str, limit: int) -> None:
        super().__init__()
        self.name, self.limit, self.total = name, limit, 0
        import torch

        self._funcs = {getattr(torch, f): f for f in self._SIZED}

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        fname = self._funcs.get(func)
        if fname is not None and kwargs.get("device") != "meta":
            size = _requested_size(fname, args, kwargs)
            if size is not None:
                self.total += size
                if self.total > self.limit:
                    raise ModelError(
                        f"model '{self.name}': these hyper-parameters need more than the ceiling of "
                        f"{self.limit / 1e6:.0f} M tensor elements; refusing to allocate them")
        return func(*args, **kwargs)


def _requested_size(fname: str, args: Any, kwargs: dict[str, Any]) -> int | None:
    if fname == "full":
        shape = args[0] if args else kwargs.get("size")
    elif fname == "randint":
        shape = args[-1] if args and isinstance(args[-1], (tuple, list)) else kwargs.get("size")
    elif fname == "empty_strided":
        shape = args[0] if args else kwargs.get("size")
    elif len(args) == 1 and isinstance(args[0], (tuple, list)):
        shape = args[0]
    elif args and all(isinstance(a, numbers.Integral) for a in args):
        shape = args
    else:
        shape = kwargs.get("size")
    if shape is None:
        return None
    try:
        return math.prod(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def create_model(name: str, **hparams: Any) -> HDRModel:
    """Build an untrained model: the spec's default hyper-parameters updated by ``hparams``.

    The hyper-parameters are validated first (:func:`validate_hparams`) and construction is refused as
    soon as it would allocate more than :data:`MAX_ELEMENTS` tensor elements, so a hostile config cannot
    make the process ask for terabytes. Raises :class:`ModelError` in one line.
    """
    kwargs = validate_hparams(name, hparams)
    spec = get_spec(name)
    try:
        with _AllocationGuard(name, MAX_ELEMENTS):
            model = spec.cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"bad hyper-parameters for model '{name}': {str(exc).splitlines()[0]}") from None
    return model
