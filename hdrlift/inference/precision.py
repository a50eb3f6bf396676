"""Reduced-precision inference on the CPU: the network in bfloat16, images in and out in float32.

CPUs with AVX512-BF16 / AMX (Intel Sapphire Rapids and later, AMD Zen 4 and later) run bfloat16
convolutions through oneDNN at about twice the float32 rate; elsewhere bfloat16 is emulated and slower
(:func:`cpu_has_bf16` tells). :class:`CastModel` converts a model's weights once and casts every
tensor that crosses its public methods, so tiling, global-context adapters and the result buffers keep
float32 while the layers run in bfloat16. Accuracy cost: see docs/inference.md (PSNR-mu between the
float32 and the bfloat16 output, measured per model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from hdrlift.models.base import HDRModel

#: Model methods whose tensor arguments are cast to the compute dtype and results back to float32.
CAST_METHODS = frozenset({
    "forward", "forward_region", "global_context", "forward_with_context",
    "predict_grids", "apply_grids", "estimate_crf",
})


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic for oneDNN (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device | str, model: HDRModel | None = None) -> str:
    """``auto`` -> ``bf16`` on a CPU with native bfloat16 (:func:`cpu_has_bf16`) for a model that allows
    it (:attr:`~hdrlift.models.base.HDRModel.cpu_bf16`: ``"network"`` (default) = the whole network,
    ``"own"`` = the model's own partial bfloat16 path via ``model.use_cpu_bf16()``, ``"never"``), else
    ``fp32``; other values are returned unchanged.

    On CUDA ``auto`` is ``fp32`` (half-precision autocast stays opt-in until its accuracy is measured
    on a GPU).
    """
    if precision != "auto":
        return precision
    if torch.device(device).type != "cpu" or model is None:
        return "fp32"
    return "bf16" if model.cpu_bf16 != "never" and cpu_has_bf16() else "fp32"


def _cast(obj: Any, dtype: torch.dtype) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() else obj
    if isinstance(obj, tuple):
        return tuple(_cast(o, dtype) for o in obj)
    if isinstance(obj, list):
        return [_cast(o, dtype) for o in obj]
    if isinstance(obj, dict):
        return {k: _cast(v, dtype) for k, v in obj.items()}
    return obj


class CastModel:
    """``model`` converted to ``dtype``, called with and returning float32 tensors.

    Attribute access falls through to the model; the methods in :data:`CAST_METHODS` (those the
    inference strategies call) are wrapped so their tensor arguments are cast to ``dtype`` and their
    tensor results to float32. ``hasattr`` answers as for the model.

    Shape:
        as the wrapped model's methods (float32 in, float32 out).
    """

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        self.model = model.to(dtype)
        self.dtype = dtype

    def _wrap(self, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return _cast(fn(*_cast(args, self.dtype), **_cast(kwargs, self.dtype)), torch.float32)

        return call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrap(self.model)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in ("model", "dtype"):  # not yet set (during unpickling / copy)
            raise AttributeError(name)
        attr = getattr(self.model, name)
        return self._wrap(attr) if name in CAST_METHODS and callable(attr) else attr
