"""Strategies for images larger than a tile, and per-model adapters that keep global context.

- ``tile`` (default): overlapping tiles with context >= the receptive field and feathered blending
  (exact for local models). ``model`` is what the Predictor runs: an inference kernel
  (:mod:`hdrlift.kernels`), or any object with the model contract. One with ``forward_region(x, box)``
  (the hdrunet and twostage kernels) computes only the kept window of each tile, each layer on the part
  of the margin it still needs. Models with
  global context keep it (:func:`context_fns`): a model declares ``global_context(x)`` (computed once on
  the whole image; the model down-scales inside it as it needs), ``forward_with_context(x_tile, ctx,
  offset, full_size)`` (per tile) and optionally ``global_max_pixels`` (for the memory model). uhd_bilateral
  (grids, exact) and duhdr (the camera curve, estimated on at most 512 px; OOnet's squeeze-excitation is per
  tile, approximate, docs/inference.md) implement them; the runtime never looks at a model's name.
- ``deu``: downsample-enhance-upsample (bilateral paper section 4.2): run on the image down-scaled so its
  long side equals the tile size, up-sample the output bilinearly.
- ``ses``: split-enhance-stitch (bilateral paper section 4.2): independent non-overlapping tiles, stitched
  (seams are expected; offered for comparison).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from hdrlift.errors import HdrliftError
from hdrlift.inference.tiling import tiled_apply

STRATEGIES = ("tile", "deu", "ses", "none")

#: tile context (pixels) for models without a finite receptive field (duhdr: VGG16/U-Nets down to 1/32)
DEFAULT_CONTEXT = 64

GlobalFn = Callable[[torch.Tensor], Any]
TileFn = Callable[[torch.Tensor, Any, tuple[int, int], tuple[int, int]], torch.Tensor]


def size_requirements(model: Any) -> Any:
    """:class:`~hdrlift.models.SizeRequirements` of a model instance, receptive field from its hparams.

    The registry spec of ``model.arch`` gives the multiple; a model whose receptive field (or multiple)
    depends on its hyper-parameters declares it as an int ``receptive_field`` (``multiple``) attribute or
    property (read here), so a model built with non-default hyper-parameters still tiles exactly.
    """
    import dataclasses

    from hdrlift.models import SizeRequirements, get_spec

    arch = getattr(model, "arch", "")
    try:
        size = get_spec(arch).size
    except HdrliftError:
        return SizeRequirements()
    rf = size.receptive_field
    if isinstance(getattr(model, "receptive_field", None), int):  # the instance's own (hparams-dependent)
        rf = int(model.receptive_field)
    multiple = size.multiple
    if isinstance(getattr(model, "multiple", None), int):  # likewise (an ensemble: its members' lcm)
        multiple = int(model.multiple)
    return dataclasses.replace(size, receptive_field=int(rf), multiple=int(multiple))


def tile_context(model: Any) -> int:
    """Context margin (pixels) used around tiles of ``model``: its receptive field, else the default."""
    rf = size_requirements(model).receptive_field
    return int(rf) if rf > 0 else DEFAULT_CONTEXT


def global_max_pixels(model: Any) -> int | None:
    """Largest number of pixels the global part of ``model`` works on (``None``: the whole image)."""
    n = getattr(model, "global_max_pixels", None)
    return None if n is None else int(n)


def context_fns(model: Any) -> tuple[GlobalFn, TileFn] | None:
    """``(global_fn, tile_fn)`` for models with a global part, else ``None`` (fully local model).

    ``ctx = global_fn(x_full)`` runs once; ``tile_fn(x_tile, ctx, (top, left), (H, W))`` gives the linear
    HDR of a tile. Calls only the models' public methods.
    """
    if callable(getattr(model, "global_context", None)) and callable(getattr(model, "forward_with_context", None)):
        return model.global_context, model.forward_with_context
    return None


def run_tiled(
    model: Any,
    x: torch.Tensor,
    tile: int,
    size: Any | None = None,
    out: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """The ``tile`` strategy: overlapping feathered tiles, global context computed once.

    Shape:
        (B, 3, H, W) sRGB LDR -> (B, 3, H, W) linear HDR
    """
    size = size_requirements(model) if size is None else size
    context = int(size.receptive_field) if size.receptive_field > 0 else DEFAULT_CONTEXT
    multiple = max(int(size.multiple), 1)
    h, w = x.shape[-2:]
    fns = context_fns(model)
    region = fns is None and callable(getattr(model, "forward_region", None))
    if region:
        fn: Callable[..., torch.Tensor] = lambda t, off, box: model.forward_region(t, box)  # noqa: E731
    elif fns is None:
        fn = lambda t, off: model(t)  # noqa: E731
    else:
        global_fn, tile_fn = fns
        ctx = global_fn(x)

        def fn(t: torch.Tensor, off: tuple[int, int]) -> torch.Tensor:
            return tile_fn(t, ctx, off, (h, w))

    return tiled_apply(fn, x, tile, context, multiple=multiple, out=out, progress=progress, region=region)


def run_large(
    model: Any, x: torch.Tensor, tile: int, size: Any = None, strategy: str = "tile",
    out: torch.Tensor | None = None, progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``model`` on a large (B,3,H,W) LDR batch with ``strategy``; ``progress(done, total)`` is
    called after every tile of the ``tile`` strategy.

    Shape:
        (B, 3, H, W) sRGB LDR -> (B, 3, H, W) linear HDR
    """
    h, w = x.shape[-2:]
    if strategy == "none":
        return model(x)
    if strategy == "deu":
        s = tile / max(h, w)
        if s >= 1.0:
            return model(x)
        small = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False, antialias=True)
        y = model(small.clamp(0, 1))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False).clamp(min=0)
    if strategy == "ses":
        res = torch.empty(x.shape[0], 3, h, w, dtype=torch.float32, device=x.device) if out is None else out
        for i in range(0, h, tile):
            for j in range(0, w, tile):
                res[:, :, i : i + tile, j : j + tile] = model(x[:, :, i : i + tile, j : j + tile]).float()
        return res
    if strategy != "tile":
        raise HdrliftError(f"unknown large-image strategy '{strategy}'; use one of {', '.join(STRATEGIES)}")
    return run_tiled(model, x, tile, size, out=out, progress=progress)
