"""Reduced-precision inference on the CPU: the network in bfloat16, images in and out in float32.

CPUs with AVX512-BF16 / AMX (Intel Sapphire Rapids and later, AMD Zen 4 and later) run bfloat16
convolutions through oneDNN at about twice the float32 rate; elsewhere bfloat16 is emulated and slower
(:func:`cpu_has_bf16` tells). The kernel that runs a network (:mod:`hdrlift.kernels`) does the conversion:
it converts the model's weights once and casts every tensor that crosses its entry points, so tiling,
global-context adapters and the result buffers keep float32 while the layers run in bfloat16 (or, for
uhd_bilateral's fused kernels, only its low-resolution VGG trunk). Accuracy cost: see docs/inference.md
(PSNR-mu between the float32 and the bfloat16 output, measured per model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hdrlift.models.base import HDRModel


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic for oneDNN (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device | str, model: HDRModel | None = None) -> str:
    """``auto`` -> ``bf16`` on a CPU with native bfloat16 (:func:`cpu_has_bf16`) for a model that allows
    it (:attr:`~hdrlift.models.base.HDRModel.cpu_bf16` other than ``"never"``), else ``fp32``; other values
    are returned unchanged. What bf16 covers is the kernel's choice (:attr:`hdrlift.kernels.Kernel.bf16`).

    On CUDA ``auto`` is ``fp32`` (half-precision autocast stays opt-in until its accuracy is measured
    on a GPU).
    """
    if precision != "auto":
        return precision
    if torch.device(device).type != "cpu" or model is None:
        return "fp32"
    return "bf16" if model.cpu_bf16 != "never" and cpu_has_bf16() else "fp32"
