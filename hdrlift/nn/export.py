"""Generic building blocks of the models' ONNX-exportable forms (no model-specific code here).

The TorchScript exporter traces Python: a size computed in Python at the example size is frozen into
the graph. These helpers keep a model's behaviour at *any* input size and translate the aten ops the
default ONNX symbolics lack:

- :func:`dynamic_pad` / :class:`DynamicPad`: reflect padding to a size multiple with pad sizes
  computed by shape-dependent graph ops (the wrapped model's own Python padding becomes a no-op);
- :class:`OnnxSymbolic` and :data:`AA_BILINEAR` / :data:`EXPM1`: custom ONNX translations a model
  declares in its :class:`~hdrlift.models.base.ExportRequirements`, registered by the exporter
  (:func:`registered_symbolics`) for the duration of one export only.

The Jacobi eigenspace projector used instead of ``eigh`` lives with the Tucker code
(:func:`hdrlift.nn.tucker.jacobi_projector`), the whole-image slicing with the bilateral code
(:func:`hdrlift.nn.bilateral.slice_apply_whole`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError

__all__ = ["dynamic_pad", "DynamicPad", "OnnxSymbolic", "AA_BILINEAR", "EXPM1", "registered_symbolics"]


def dynamic_pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right to a multiple of ``multiple``, pad sizes from the (traced) shape.

    In eager mode equal to :func:`hdrlift.ops.padding.pad_to_multiple` for images at least as large as
    the padding (reflect); in a trace the pad sizes stay graph ops, so the exported graph pads any size.

    Shape:
        (B, C, H, W) -> (B, C, H + (-H mod multiple), W + (-W mod multiple)), values unchanged
    """
    h, w = x.shape[-2], x.shape[-1]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    return F.pad(x, [0, pw, 0, ph], mode="reflect")


class DynamicPad(nn.Module):
    """``model`` run on the input reflect-padded to ``multiple`` (:func:`dynamic_pad`), cropped back.

    The exportable form of a model whose own padding is Python size logic (it is then a no-op).

    Shape:
        (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR (whatever ``model`` maps)
    """

    def __init__(self, model: nn.Module, multiple: int) -> None:
        super().__init__()
        self.model = model
        self.multiple = int(multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        return self.model(dynamic_pad(x, self.multiple))[..., :h, :w]


@dataclass(frozen=True)
class OnnxSymbolic:
    """A custom ONNX translation of one aten op for the TorchScript exporter.

    Attributes:
        op: qualified op name, e.g. ``"aten::expm1"``.
        fn: the symbolic function ``fn(g, *inputs) -> ONNX value`` (torch.onnx custom-symbolic API).
        opset: opset version the translation is registered for (used from that opset on).
    """

    op: str
    fn: Callable[..., Any]
    opset: int


def _aa_bilinear_symbolic(g: Any, x: Any, output_size: Any, align_corners: Any, *rest: Any) -> Any:
    """``aten::_upsample_bilinear2d_aa`` -> ONNX ``Resize`` (opset 18, antialias=1, half_pixel)."""
    from torch.onnx import symbolic_helper as sh

    size = sh._maybe_get_const(output_size, "is")
    if not isinstance(size, (list, tuple)):
        raise ModelError("antialiased resize to a traced size is not exportable")
    dims = sh._get_tensor_sizes(x) or [None]
    if len(dims) == 4 and isinstance(dims[0], int) and isinstance(dims[1], int):
        # static batch and channels: constant sizes keep the output shape known to shape inference
        sizes = g.op("Constant", value_t=torch.tensor([dims[0], dims[1], *[int(s) for s in size]]))
    else:
        shape = g.op("Shape", x)
        nc = g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([0])),
                  g.op("Constant", value_t=torch.tensor([2])))
        sizes = g.op("Concat", nc, g.op("Constant", value_t=torch.tensor([int(s) for s in size])), axis_i=0)
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    return g.op("Resize", x, empty, empty, sizes, mode_s="linear", antialias_i=1,
                coordinate_transformation_mode_s="half_pixel")


def _expm1_symbolic(g: Any, x: Any) -> Any:
    """``aten::expm1`` -> ``Exp(x) - 1`` (absolute error ~1e-7, no ONNX Expm1 op)."""
    return g.op("Sub", g.op("Exp", x), g.op("Constant", value_t=torch.tensor(1.0)))


#: antialiased bilinear down-scaling (``F.interpolate(..., antialias=True)``) -> ``Resize`` (opset >= 18)
AA_BILINEAR = OnnxSymbolic("aten::_upsample_bilinear2d_aa", _aa_bilinear_symbolic, 18)
#: ``torch.expm1`` -> ``Exp(x) - 1``
EXPM1 = OnnxSymbolic("aten::expm1", _expm1_symbolic, 9)


@contextlib.contextmanager
def registered_symbolics(symbolics: Iterable[OnnxSymbolic]) -> Iterator[None]:
    """Register ``symbolics`` with the TorchScript exporter inside the block, unregister them after.

    Unregistering restores torch's built-in translation of the op, if any (it also drops a custom one
    registered for the same op and opset outside hdrlift).
    """
    done: list[OnnxSymbolic] = []
    try:
        for s in symbolics:
            torch.onnx.register_custom_op_symbolic(s.op, s.fn, s.opset)
            done.append(s)
        yield
    finally:
        for s in reversed(done):
            torch.onnx.unregister_custom_op_symbolic(s.op, s.opset)
