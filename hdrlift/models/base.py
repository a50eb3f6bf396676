"""Base contract shared by every network of hdrlift.

Public model contract (all methods):
    input  (B, 3, H, W) sRGB-encoded LDR in [0, 1], any H and W (the model pads internally to the
           multiple it needs and crops back);
    output (B, 3, H, W) linear HDR >= 0, scaled so that 1.0 is the input camera's clipping level.
A method working in another domain inside (NTIRE gamma 2.24, mean-0.5 normalisation, ...) converts
at its own boundary; nothing outside the model needs to know.

Runtime contract: everything the inference runtime (:mod:`hdrlift.inference`) does differently for
one model is declared by the model, never decided from its name. :class:`HDRModel` holds the defaults,
so a new architecture declares only what differs:

- size and tiling: :class:`SizeRequirements` in its :class:`ModelSpec`; a hyper-parameter-dependent
  ``receptive_field`` (int attribute or property) on the instance; optional ``forward_region(x, box)``
  (local models computing only a window of a tile); for a global part ``global_context(x)``,
  ``forward_with_context(tile, ctx, offset, full_size)`` and ``global_max_pixels``
  (:mod:`hdrlift.inference.strategies`);
- CPU precision and layout: :attr:`HDRModel.cpu_bf16`, :attr:`HDRModel.cpu_channels_last` (writing into a
  caller's buffer is the inference kernel's :attr:`hdrlift.kernels.Kernel.accepts_out`);
- ONNX export: :meth:`HDRModel.export_module` (the module to trace, default the model itself) and
  :attr:`HDRModel.export_requirements` (:class:`ExportRequirements`: minimum opset, static batch,
  custom symbolics), read by :func:`hdrlift.tools.export.export_onnx`. The exportable form is the
  model's own code (a wrapper module or a flag on a copy); nothing is patched from outside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from torch import nn

from hdrlift.nn.export import OnnxSymbolic

#: how a model runs under ``precision="bf16"`` on the CPU (see :attr:`HDRModel.cpu_bf16`)
CpuBf16 = Literal["network", "never"]


@dataclass(frozen=True)
class SizeRequirements:
    """What a model needs of its input size.

    Attributes:
        multiple: H and W are padded internally to a multiple of this.
        receptive_field: half-width in pixels of the context one output pixel depends on (for
            exact tiled inference the tile overlap must be at least this). ``0`` = unknown/global.
        global_context: empty for fully convolutional models; otherwise a sentence saying which
            part of the model looks at the whole image and how tiled inference preserves it.
        min_size: smallest H or W accepted.
        pointwise: given its global context (``global_context``/``forward_with_context``), each output pixel
            depends on the input pixel at the same place only, so any tiles or row strips are exact without
            overlap (the blend decodes the photo strip by strip with such a model; a per-pixel curve).
    """

    multiple: int = 1
    receptive_field: int = 0
    global_context: str = ""
    min_size: int = 2
    pointwise: bool = False


@dataclass(frozen=True)
class ExportRequirements:
    """What ONNX export of a model needs beyond tracing :meth:`HDRModel.export_module`.

    Attributes:
        min_opset: lowest ONNX opset the exported graph works with; a lower requested opset is raised
            to it (0 = no minimum beyond the exporter's default).
        static_batch: export with a fixed batch of 1 (only height and width dynamic).
        symbolics: custom ONNX translations of aten ops in the traced graph
            (:class:`~hdrlift.nn.export.OnnxSymbolic`), registered for the duration of the export.
    """

    min_opset: int = 0
    static_batch: bool = False
    symbolics: tuple[OnnxSymbolic, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """Registry entry of one architecture variant (e.g. ``hdrunet`` or ``hdrunet_tiny``)."""

    name: str
    cls: type[HDRModel]
    paper: str
    description: str
    domain: str
    size: SizeRequirements
    hparams: dict[str, Any] = field(default_factory=dict)


class HDRModel(nn.Module):
    """Base class: stores its constructor arguments (the saved config) and the public contract.

    Subclasses call ``super().__init__(**hparams)`` with their keyword arguments so that
    ``self.hparams`` is exactly what ``create_model(name, **hparams)`` needs to rebuild them.
    """

    #: architecture name as in the registry (without the ``_tiny`` suffix)
    arch: ClassVar[str] = ""
    #: one line describing the domain the model works in internally
    inside_domain: ClassVar[str] = ""
    #: ``precision="bf16"`` on the CPU: ``"network"`` = allowed (the inference kernel converts the whole
    #: network, or only its own partial path: :attr:`hdrlift.kernels.Kernel.bf16`); ``"never"`` = float32 only
    #: (``precision="auto"`` then picks fp32)
    cpu_bf16: ClassVar[CpuBf16] = "network"
    #: the runtime converts the weights to channels-last for CPU inference (on CUDA it always does)
    cpu_channels_last: ClassVar[bool] = False
    #: ``forward(ldr, out=buf)`` writes the linear HDR result into ``buf`` (a float32 (B, 3, H, W) view
    #: of any strides, e.g. of the Predictor's HWC result array) and returns it
    accepts_out: ClassVar[bool] = False
    #: what ONNX export needs (opset, static batch, custom symbolics); see :meth:`export_module`
    export_requirements: ClassVar[ExportRequirements] = ExportRequirements()

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams: dict[str, Any] = dict(hparams)
        #: the ``config.json`` of the checkpoint this model was loaded from (``meta`` holds e.g. the
        #: declared ``output_blend``); ``None`` for a model built by ``create_model``
        self.checkpoint_config: dict[str, Any] | None = None

    # Subclasses define ``forward(self, ldr) -> hdr``:
    #     ldr: (B, 3, H, W) sRGB-encoded in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping).

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def export_module(self) -> nn.Module:
        """The module the ONNX exporter traces: maps (B, 3, H, W) sRGB-encoded LDR in [0, 1] to linear HDR
        like ``forward`` at *every* size, with only exportable ops.

        Default: the model itself (fully convolutional models without Python size logic). A model whose
        forward computes sizes in Python or uses ops without an ONNX translation returns its exportable
        form: a wrapper module (e.g. :class:`~hdrlift.nn.export.DynamicPad`) or a copy set to trace the
        exportable variants of its ops. It must not change this model (the caller keeps using it).

        Shape:
            (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR >= 0 (B = 1 with
            ``export_requirements.static_batch``)
        """
        return self
