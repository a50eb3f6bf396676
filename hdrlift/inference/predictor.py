"""Predictor: one LDR image (numpy HWC) -> linear HDR (numpy HWC), tiled when large.

Threads are set from the machine, inference runs under ``torch.inference_mode``; on CUDA optional
channels_last and fp16/bf16 autocast (``precision``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from hdrlift.errors import HdrliftError
from hdrlift.inference.methods import Method, resolve_method

#: Default tile size (pixels of the core) for networks on CPU; whole image below this.
DEFAULT_TILE = 512


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HdrliftError("--device cuda requested but no CUDA device is available")
    return torch.device(device)


def set_threads(n: int | None = None) -> None:
    """Use all available cores for intra-op parallelism unless ``n`` is given."""
    if n is None:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:
            n = os.cpu_count() or 1
    torch.set_num_threads(max(int(n), 1))


class Predictor:
    """Runs a method (operator or network) on whole images of any size.

    Args:
        method: name (see :func:`hdrlift.inference.methods.resolve_method`) or a resolved Method.
        device: ``auto`` | ``cpu`` | ``cuda``.
        tile: core tile size in pixels for networks (``None`` = :data:`DEFAULT_TILE`; 0 = never tile).
        precision: ``fp32`` | ``fp16`` | ``bf16`` (autocast, CUDA only).
    """

    def __init__(
        self,
        method: str | Method = "default",
        device: str = "auto",
        tile: int | None = None,
        precision: str = "fp32",
        strategy: str = "tile",
    ) -> None:
        self.device = pick_device(device)
        self.method = method if isinstance(method, Method) else resolve_method(method, self.device)
        self.tile = DEFAULT_TILE if tile is None else int(tile)
        self.precision = precision
        self.strategy = strategy
        if self.method.model is not None and self.device.type == "cuda":
            self.method.model.to(memory_format=torch.channels_last)

    @property
    def name(self) -> str:
        return self.method.name

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        m = self.method
        if m.kind == "operator":
            return m.fn(x)
        model = m.model
        assert model is not None
        use_amp = self.device.type == "cuda" and self.precision in ("fp16", "bf16")
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        with torch.autocast(device_type="cuda", dtype=dtype, enabled=use_amp):
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            spec_size = _size_req(model)
            h, w = x.shape[-2:]
            if self.tile <= 0 or max(h, w) <= self.tile or self.strategy == "none":
                return model(x).float()
            from hdrlift.inference.strategies import run_large

            return run_large(model, x, self.tile, spec_size, self.strategy).float()

    @torch.inference_mode()
    def predict_tensor(self, ldr: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) sRGB LDR in [0,1] -> (B,3,H,W) linear HDR >= 0.

        Shape:
            (B, 3, H, W) -> (B, 3, H, W)
        """
        x = ldr.to(self.device, torch.float32).clamp(0.0, 1.0)
        return self._run(x).clamp(min=0.0)

    def __call__(self, ldr: np.ndarray) -> np.ndarray:
        """HWC float32 sRGB-encoded LDR in [0,1] (or uint8/uint16) -> HWC float32 linear HDR.

        Shape:
            (H, W, 3) -> (H, W, 3)
        """
        arr = to_float01(ldr)
        x = torch.from_numpy(np.ascontiguousarray(arr[..., :3].transpose(2, 0, 1)))[None]
        y = self.predict_tensor(x)[0].permute(1, 2, 0).cpu().numpy()
        return np.ascontiguousarray(y, dtype=np.float32)


def to_float01(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float image -> float32 in [0, 1]; gray -> RGB."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = a.astype(np.float32)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise HdrliftError(f"expected an HxWx3 image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a, 0.0, 1.0)


def _size_req(model: Any) -> Any:
    from hdrlift.models import get_spec

    try:
        return get_spec(model.arch).size
    except HdrliftError:
        from hdrlift.models import SizeRequirements

        return SizeRequirements()
