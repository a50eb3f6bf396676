"""Base contract shared by every network of hdrlift.

Public model contract (all methods):
    input  (B, 3, H, W) sRGB-encoded LDR in [0, 1], any H and W (the model pads internally to the
           multiple it needs and crops back);
    output (B, 3, H, W) linear HDR >= 0, scaled so that 1.0 is the input camera's clipping level.
A method working in another domain inside (NTIRE gamma 2.24, mean-0.5 normalisation, ...) converts
at its own boundary; nothing outside the model needs to know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import nn


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
    """

    multiple: int = 1
    receptive_field: int = 0
    global_context: str = ""
    min_size: int = 2


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

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams: dict[str, Any] = dict(hparams)

    # Subclasses define ``forward(self, ldr) -> hdr``:
    #     ldr: (B, 3, H, W) sRGB-encoded in [0, 1] -> (B, 3, H, W) linear HDR >= 0 (1.0 = clipping).

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
