"""Kernel objects, their registry and the choice of one for (model, device, precision, choice).

A :class:`Kernel` runs one model instance for inference and exposes the runtime side of the model
contract: ``kernel(ldr[, out=])`` (whole image), and where the kernel has them ``forward_region(ldr, box)``
(only a window of the output: the tiler's region mode) or ``global_context`` / ``forward_with_context``
(models with a global part). Every entry point takes and returns float32 tensors; a kernel whose network
runs in bfloat16 casts at its boundary. Attributes it does not define (``arch``, ``receptive_field``,
``hparams``, ``global_max_pixels``, ...) are read from the model, and the model's ``global_context`` /
``forward_with_context`` pass through (cast) when the kernel does not replace them.

A kernel is chosen once, for a known device and precision (:func:`for_model`); at each call it still
checks the runtime facts it cannot know in advance (training mode, autograd, autocast, tracing, forward
hooks on the model, the input's device and dtype: :meth:`Kernel.blocked`) and runs the model's own
forward instead when one of them rules it out, so it never changes what training, export or hook-based
tools (MAC counting) see.
"""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from hdrlift.errors import KernelError

log = logging.getLogger(__name__)

#: ``kernels=`` values: ``auto`` = the fastest kernel that runs here (native code where it was built, else
#: torch code), ``torch`` = no compiled code (the model's own torch kernel if it has one, else its
#: forward), ``native`` = the model's native kernel or an error, ``plain`` = the model's forward as is
#: (the reference every kernel is tested against)
CHOICES = ("auto", "torch", "native", "plain")
#: model methods a kernel passes through (inputs cast to its dtype, results to float32) unless it defines them
PASS_THROUGH = frozenset({"global_context", "forward_with_context"})

Box = tuple[int, int, int, int]


class Reason(str):
    """Why a kernel does not apply (:meth:`Kernel.supports`). ``warn``: :func:`for_model` warns once when
    ``auto`` / ``torch`` pass over the kernel for it (a native library that failed to build) instead of
    logging it at debug level (a device, precision or configuration the kernel does not cover)."""

    warn: bool

    def __new__(cls, text: str, warn: bool = False) -> Reason:
        obj = super().__new__(cls, text)
        obj.warn = bool(warn)
        return obj


_WARNED: set[tuple[str, str]] = set()


def cast(obj: Any, dtype: torch.dtype) -> Any:
    """``obj`` with every floating tensor in it (also inside tuples, lists, dicts) converted to ``dtype``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() and obj.dtype != dtype else obj
    if isinstance(obj, tuple):
        return tuple(cast(o, dtype) for o in obj)
    if isinstance(obj, list):
        return [cast(o, dtype) for o in obj]
    if isinstance(obj, dict):
        return {k: cast(v, dtype) for k, v in obj.items()}
    return obj


def entry(plain: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator of a kernel's public method ``fn(self, ldr, *args[, out=], **kwargs)``.

    The wrapper casts the tensor arguments to the kernel's dtype and the result to float32, runs
    ``plain(model, ldr, *args, **kwargs)`` (the model's own forward for the same result) when
    :meth:`Kernel.blocked` gives a reason, and honours ``out=``: passed on to ``fn`` when the kernel
    ``accepts_out``, otherwise the result is copied into it.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(self: Kernel, ldr: torch.Tensor, *args: Any, out: torch.Tensor | None = None, **kw: Any) -> Any:
            x, rest, kw = cast(ldr, self.dtype), cast(args, self.dtype), cast(kw, self.dtype)
            why = self.blocked(x)
            if why is None:
                if out is not None and self.accepts_out:
                    kw["out"] = out
                y = fn(self, x, *rest, **kw)
            else:
                log.debug("%s: %s, running the model's own forward", self.name, why)
                y = plain(self.model, x, *rest, **kw)
            y = cast(y, torch.float32)
            if out is not None and isinstance(y, torch.Tensor) and y.data_ptr() != out.data_ptr():
                return out.copy_(y)
            return y

        return call  # (the entry point gains ``out=``: no narrower type says so)

    return deco


class Kernel:
    """The model's own forward (``plain``); base class of the faster kernels.

    Args:
        model: the network (an ``HDRModel`` in eval mode).
        device: where it runs.
        precision: ``fp32`` | ``bf16`` | ``fp16`` (resolved, see :mod:`hdrlift.inference.precision`). On the
            CPU ``bf16`` converts the model's weights to bfloat16 (in place, :attr:`bf16` = ``"whole"``); on
            CUDA reduced precision is the caller's autocast and the kernel stays float32.

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR (float32).
    """

    #: ``<arch>.<variant>`` (``plain`` for the model's forward)
    name: ClassVar[str] = "plain"
    #: ``plain`` (the model's forward), ``torch`` (torch code) or ``native`` (compiled code)
    kind: ClassVar[str] = "plain"
    #: ``kernel(ldr, out=buf)`` writes into a caller's float32 buffer of any strides (no extra copy)
    accepts_out: ClassVar[bool] = False
    #: CPU bfloat16: ``"whole"`` = the whole network in bfloat16; ``"lowres"`` = the kernel's own partial path
    bf16: ClassVar[str] = "whole"
    #: the kernel is correct under autocast (it calls only autocast-aware torch operators)
    autocast_ok: ClassVar[bool] = False
    #: :meth:`blocked` requires the model's weights in :attr:`dtype` (False: a kernel of sub-kernels that own
    #: their weights' dtype, such as the ensemble's)
    checks_weight_dtype: ClassVar[bool] = True

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32") -> None:
        self.model = model
        self.device = torch.device(device)
        self.precision = precision
        whole = self.device.type == "cpu" and precision == "bf16" and self.bf16 == "whole"
        self.dtype = torch.bfloat16 if whole else torch.float32
        if whole:
            model.to(self.dtype)

    @classmethod
    def supports(cls, model: nn.Module, device: torch.device, precision: str) -> str | None:
        """Why this kernel cannot run ``model`` on ``device`` at ``precision`` (``None``: it can); a
        :class:`Reason` with ``warn`` for a failure the user should hear about once."""
        return None

    # ------------------------------------------------------------------ description
    def options(self) -> dict[str, Any]:
        """The kernel's runtime settings (tile sizes, chunk sizes, ...), JSON-serialisable."""
        return {}

    def info(self) -> dict[str, Any]:
        """What runs, for reports (``hdrlift bench --json``, the memory-model cache key): name, kind,
        device, dtype, options and, for native kernels, the build."""
        return {"name": self.name, "kind": self.kind, "device": self.device.type,
                "dtype": str(self.dtype).replace("torch.", ""), "options": self.options()}

    def describe(self) -> str:
        """One line for ``hdrlift predict -v``: name, kind, device, dtype and settings."""
        opts = ", ".join(f"{k} {v}" for k, v in self.options().items())
        what = {"plain": "the model's forward", "torch": "torch", "native": "native"}[self.kind]
        return f"{self.name} ({what}, {self.device.type} {str(self.dtype).replace('torch.', '')}" + (
            f"; {opts})" if opts else ")")

    def __repr__(self) -> str:
        return f"<kernel {self.describe()}>"

    # ------------------------------------------------------------------ gating
    def blocked(self, x: torch.Tensor) -> str | None:
        """Why this kernel must not replace the model's forward on ``x`` now (``None``: it may).

        The plain kernel is never blocked. The others need: eval mode, no autograd, ``x`` on the kernel's
        device in its dtype, weights in that dtype, not tracing / scripting / exporting, no forward hooks
        on any submodule (hooks observe module calls, which kernels bypass), and no autocast unless
        :attr:`autocast_ok` (the kernels call GEMMs directly, which autocast would not cast).
        """
        if self.kind == "plain":
            return None
        m = self.model
        if m.training:
            return "the model is in training mode"
        if torch.is_grad_enabled():
            return "autograd is on"
        if x.device.type != self.device.type:
            return f"the input is on {x.device.type}, the kernel runs on {self.device.type}"
        if x.dtype != self.dtype:
            return f"the input is {x.dtype}, the kernel runs {self.dtype}"
        p = next(m.parameters(), None) if self.checks_weight_dtype else None
        if p is not None and p.dtype != self.dtype:
            return f"the weights are {p.dtype}, the kernel runs {self.dtype}"
        if not self.autocast_ok and torch.is_autocast_enabled(x.device.type):
            return "autocast is on"
        if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export():
            return "tracing or exporting"
        if any(mod._forward_hooks or mod._forward_pre_hooks for mod in m.modules()):
            return "forward hooks are registered on the model"
        return None

    # ------------------------------------------------------------------ entry points
    @entry(lambda m, x: m(x))
    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        """Linear HDR of whole images (``out=``: a result buffer, see :func:`entry`).

        Shape:
            (B, 3, H, W) sRGB-encoded LDR in [0, 1] -> (B, 3, H, W) linear HDR
        """
        return self.model(ldr)

    def run(self, ldr: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Same as calling the kernel: (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR float32."""
        return self(ldr, out=out)

    def __getattr__(self, name: str) -> Any:
        if name in ("model", "dtype", "device", "precision") or name.startswith("__"):
            raise AttributeError(name)  # not yet set (during unpickling / copy)
        attr = getattr(self.model, name)
        if name in PASS_THROUGH and callable(attr):
            def passed(*args: Any, **kwargs: Any) -> Any:
                return cast(attr(*cast(args, self.dtype), **cast(kwargs, self.dtype)), torch.float32)

            return passed
        return attr


#: model class -> its kernels, fastest first (exact class: a subclass may change the network)
_REGISTRY: dict[type, list[type[Kernel]]] = {}


def register(model_cls: type) -> Callable[[type[Kernel]], type[Kernel]]:
    """Class decorator: register a kernel for instances of exactly ``model_cls`` (after those already
    registered: register the fastest first)."""

    def deco(kernel_cls: type[Kernel]) -> type[Kernel]:
        _REGISTRY.setdefault(model_cls, []).append(kernel_cls)
        return kernel_cls

    return deco


def registered(model: nn.Module) -> list[type[Kernel]]:
    """The kernels registered for ``model``'s class, fastest first (the plain kernel is not listed)."""
    return list(_REGISTRY.get(type(model), []))


def for_model(model: nn.Module, device: torch.device | str = "cpu", precision: str = "fp32",
              choice: str = "auto") -> Kernel:
    """The kernel that runs ``model`` on ``device`` at ``precision`` for ``choice`` (see :data:`CHOICES`).

    ``auto``: the first registered kernel that supports the case (a native one only when its library is
    built; a failed build warns once, naming the kernel that runs instead), else the plain one. ``torch``: the
    same without native kernels. ``native``: the model's native kernel, or :class:`KernelError` saying
    why there is none. ``plain``: the model's forward.
    """
    if choice not in CHOICES:
        raise KernelError(f"kernels={choice!r} is not one of {', '.join(CHOICES)}")
    dev = torch.device(device)
    arch = getattr(model, "arch", "") or type(model).__name__
    if choice == "plain":
        return Kernel(model, dev, precision)
    cands = registered(model)
    if choice == "native":
        natives = [k for k in cands if k.kind == "native"]
        if not natives:
            have = sorted({getattr(m, "arch", m.__name__) for m, ks in _REGISTRY.items()
                           if any(k.kind == "native" for k in ks)})
            raise KernelError(f"kernels='native': {arch} has no native kernel (only {', '.join(have) or 'none'}"
                              " has one); use kernels auto or torch")
        reasons = []
        for k in natives:
            why = k.supports(model, dev, precision)
            if why is None:
                return k(model, dev, precision)
            reasons.append(f"{k.name}: {why}")
        raise KernelError(f"kernels='native': {'; '.join(reasons)}; use kernels auto or torch")
    skipped: list[tuple[str, str]] = []
    chosen: Kernel | None = None
    for k in cands:
        if choice == "torch" and k.kind == "native":
            continue
        why = k.supports(model, dev, precision)
        if why is None:
            chosen = k(model, dev, precision)
            break
        log.debug("kernels: %s does not apply (%s)", k.name, why)
        if getattr(why, "warn", False):
            skipped.append((k.name, str(why)))
    chosen = chosen if chosen is not None else Kernel(model, dev, precision)
    for name, why in skipped:
        if (name, why) not in _WARNED:
            _WARNED.add((name, why))
            log.warning("kernels: %s is unavailable (%s); running %s", name, why, chosen.name)
    return chosen


class CpuKernel(Kernel):
    """Base of the lean CPU kernels: they run float32, or bfloat16 weights (``precision="bf16"``)."""

    @classmethod
    def supports(cls, model: nn.Module, device: torch.device, precision: str) -> str | None:
        if device.type != "cpu":
            return "CPU only"
        if precision not in ("fp32", "bf16"):
            return f"no {precision} variant (fp32, bf16)"
        return None


class GammaPathKernel(CpuKernel, abc.ABC):
    """Base of the CPU kernels of models whose output is ``model.inner_to_hdr(gamma)``: a subclass gives the
    gamma-encoded result of a window, ``_gamma(ldr, box)`` (``box`` None: the whole image).

    Shape:
        kernel(ldr): (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR.
    """

    @abc.abstractmethod
    def _gamma(self, ldr: torch.Tensor, box: Box | None) -> torch.Tensor:
        """Gamma-encoded HDR of the window ``box`` of ``ldr`` (the whole image when None)."""

    model: Any  # a model with ``inner_to_hdr`` (HDRUNet, TwoStageHDR)

    @entry(lambda m, x: m(x))
    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        return self.model.inner_to_hdr(self._gamma(ldr, None))
