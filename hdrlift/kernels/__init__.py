"""Inference kernels: explicit, selectable ways to run a model faster than its forward.

A model file holds the paper network with one forward (the module graph: what training, export and
hook-based tools see, and the reference). A kernel computes the same function for inference on one kind
of device, up to float rounding (each is tested against the forward): channels-last lean kernels with
in-place activations and region tiles (hdrunet, twostage), the fused tiled full-resolution part of
uhd_bilateral in torch or in native C code (:mod:`hdrlift.nn.native`), its BatchNorm-folded chunks for
GPUs. The runtime asks :func:`for_model` for a kernel for (model, device, precision, choice) and reports
which one it runs (``kernel.name``, ``kernel.describe()``).

``choice`` (:data:`CHOICES`): ``auto`` (default: native where built, else torch), ``torch`` (never compiled
code), ``native`` (the model's native kernel or a :class:`~hdrlift.errors.KernelError`), ``plain`` (the
model's forward). Registered kernels, fastest first:

=============  ==========================================================================
hdrunet        ``hdrunet.eval`` (torch, CPU)
twostage       ``twostage.eval`` (torch, CPU)
uhd_bilateral  ``uhd_bilateral.native`` (C, CPU), ``uhd_bilateral.tiles`` (torch, CPU),
               ``uhd_bilateral.folded`` (torch, any device; the GPU's)
ensemble       ``ensemble.members`` (torch, any device: each member's own kernel, their weighted mean)
=============  ==========================================================================

Layer: imports models, nn and ops; models never import kernels; inference imports kernels.
"""

from hdrlift.kernels import ensemble, hdrunet, twostage, uhd_bilateral  # noqa: F401  (registers the kernels)
from hdrlift.kernels.base import CHOICES, Kernel, for_model, register, registered

__all__ = ["CHOICES", "Kernel", "for_model", "register", "registered"]
