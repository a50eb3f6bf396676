"""Python API: ``hdrlift.reconstruct(image, method=...)`` and ``hdrlift.create_model(name, pretrained=True)``.

``reconstruct`` takes what the ecosystem passes around and gives back the same kind:

========================================  ==========================================
input (sRGB-encoded LDR)                  output (linear HDR, 1.0 = clipping level)
========================================  ==========================================
path (str / PathLike)                     numpy float32 (H, W, 3)
numpy (H, W, 3) / (H, W) / (H, W, 4)      numpy float32 (H, W, 3)
numpy (B, H, W, 3)                        numpy float32 (B, H, W, 3)
torch (3, H, W)                           torch float32 (3, H, W), on the input's device
torch (B, 3, H, W)                        torch float32 (B, 3, H, W), on the input's device
list / tuple of any of the above          list of results (sizes may differ)
========================================  ==========================================

Integer inputs are 8/16-bit codes (uint8 / uint16; torch uint8), float inputs are in [0, 1] (values
outside are clipped). Every image goes through the same :class:`~hdrlift.inference.predictor.Predictor`
call as ``hdrlift predict``, so a photo gives the same HDR as the command line.

Errors are :class:`~hdrlift.errors.HdrliftError` subclasses whose messages name the parameter at fault
(``image``, ``method``, ``device``, ``precision``, ...), never a command-line flag.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar, overload

import numpy as np
import torch

from hdrlift.errors import HdrliftError, ModelError
from hdrlift.inference.predictor import Predictor

PathLike = str | os.PathLike[str]
T = TypeVar("T", np.ndarray, torch.Tensor)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
STRATEGIES = ("tile", "deu", "ses", "none")
KERNELS = ("auto", "torch", "native", "plain")  # = hdrlift.kernels.CHOICES (tests/test_kernels.py checks)


@lru_cache(maxsize=4)
def _predictor(method: str, device: str, tile: int | None, strategy: str, precision: str,
               max_memory: int | str | None = None, blend: str = "auto", camera: str = "auto",
               kernels: str = "auto") -> Predictor:
    return Predictor(method, device=device, tile=tile, strategy=strategy, precision=precision,
                     max_memory=max_memory, blend=blend, camera=camera, kernels=kernels)


def _check_args(device: str, tile: int | None, strategy: str, precision: str, kernels: str = "auto") -> None:
    if kernels not in KERNELS:
        raise HdrliftError(f"kernels={kernels!r} is not one of {', '.join(KERNELS)}")
    if precision not in PRECISIONS:
        raise HdrliftError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if strategy not in STRATEGIES:
        raise HdrliftError(f"strategy={strategy!r} is not one of {', '.join(STRATEGIES)}")
    if tile is not None and (not isinstance(tile, int) or isinstance(tile, bool) or tile < 0):
        raise HdrliftError(f"tile={tile!r} must be None (automatic), 0 (no tiling) or a positive int")
    if not isinstance(device, str):
        raise HdrliftError(f"device={device!r} must be a string ('auto', 'cpu', 'cuda', 'cuda:N')")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HdrliftError(f"device={device!r} but no CUDA device is available (use device='cpu' or 'auto')")
    if precision == "fp16" and (device == "cpu" or (device == "auto" and not torch.cuda.is_available())):
        raise HdrliftError("precision='fp16' needs a CUDA device; on the CPU use precision='bf16' or 'fp32'")


def _numpy_image(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4):
        raise HdrliftError(f"{what}: expected (H, W, 3) with channels last, got shape {tuple(a.shape)}"
                           + (" (channels first? pass a torch tensor for CHW)" if a.shape[0] in (1, 3) else ""))
    if a.ndim not in (2, 3):
        raise HdrliftError(f"{what}: expected (H, W), (H, W, 3) or (B, H, W, 3), got shape {tuple(a.shape)}")
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.floating) or a.dtype in (np.uint8, np.uint16)):
        raise HdrliftError(f"{what}: dtype {a.dtype} is not supported (uint8, uint16 or float in [0, 1])")
    if min(a.shape[:2]) < 2:
        raise HdrliftError(f"{what}: image is {a.shape[1]}x{a.shape[0]} pixels; at least 2x2 is needed")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise HdrliftError(f"{what}: contains NaN or Inf")
    return a


def _run_numpy(pred: Predictor, a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim == 4:
        if a.shape[0] == 0:
            raise HdrliftError(f"{what}: empty batch (B = 0)")
        return np.stack([pred(_numpy_image(a[i], f"{what}[{i}]")) for i in range(a.shape[0])])
    return pred(_numpy_image(a, what))


def _run_torch(pred: Predictor, t: torch.Tensor, what: str) -> torch.Tensor:
    if t.ndim not in (3, 4) or t.shape[-3] != 3:
        raise HdrliftError(f"{what}: expected a (3, H, W) or (B, 3, H, W) tensor, got shape {tuple(t.shape)}"
                           + (" (channels last? pass a numpy array for HWC)" if t.ndim == 3 and t.shape[2] == 3
                              else ""))
    if t.dtype not in (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise HdrliftError(f"{what}: dtype {t.dtype} is not supported (uint8 or float in [0, 1])")
    if t.ndim == 4 and t.shape[0] == 0:
        raise HdrliftError(f"{what}: empty batch (B = 0)")
    batch = t if t.ndim == 4 else t[None]
    if pred.device.type != "cpu":
        x = batch.to(pred.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if not bool(torch.isfinite(x).all()):
            raise HdrliftError(f"{what}: contains NaN or Inf")
        y = pred.predict_tensor(x).to(t.device)
    else:  # the command line's path, image by image: the same numbers as `hdrlift predict`
        host = batch.detach().cpu()
        if host.dtype in (torch.float16, torch.bfloat16):
            host = host.float()
        hwc = host.permute(0, 2, 3, 1).numpy()
        y = torch.from_numpy(_run_numpy(pred, hwc, what)).permute(0, 3, 1, 2).contiguous().to(t.device)
    return y if t.ndim == 4 else y[0]


@overload  # a str is also a Sequence[str]: it is a path here, as at run time (overloads match in order)
def reconstruct(image: PathLike, method: str = ..., *, device: str = ..., tile: int | None = ...,  # type: ignore[overload-overlap]
                strategy: str = ..., max_pixels: int | None = ..., precision: str = ...,
                max_memory: int | str | None = ..., blend: str = ..., camera: str = ...,
                kernels: str = ...) -> np.ndarray: ...
@overload
def reconstruct(image: T, method: str = ..., *, device: str = ..., tile: int | None = ...,
                strategy: str = ..., max_pixels: int | None = ..., precision: str = ...,
                max_memory: int | str | None = ..., blend: str = ..., camera: str = ...,
                kernels: str = ...) -> T: ...
@overload
def reconstruct(image: Sequence[PathLike | np.ndarray | torch.Tensor], method: str = ..., *, device: str = ...,
                tile: int | None = ..., strategy: str = ..., max_pixels: int | None = ..., precision: str = ...,
                max_memory: int | str | None = ..., blend: str = ..., camera: str = ...,
                kernels: str = ...) -> list[Any]: ...
def reconstruct(
    image: PathLike | np.ndarray | torch.Tensor | Sequence[PathLike | np.ndarray | torch.Tensor],
    method: str = "default",
    *,
    device: str = "auto",
    tile: int | None = None,
    strategy: str = "tile",
    max_pixels: int | None = None,
    precision: str = "auto",
    max_memory: int | str | None = None,
    blend: str = "auto",
    camera: str = "auto",
    kernels: str = "auto",
) -> np.ndarray | torch.Tensor | list[Any]:
    """Reconstruct linear HDR from sRGB-encoded LDR photos.

    Args:
        image: a file path, a numpy array (H, W, 3) or batch (B, H, W, 3), a torch tensor (3, H, W) or batch
            (B, 3, H, W), or a list of these (see the module docstring for dtypes).
        method: ``"default"`` (the shipped default network), a shipped weight (``"hdrunet.polyhaven"``), an
            architecture with shipped weights (``"hdrunet"``), a classical operator (``"kovaleski"``) or a
            checkpoint directory.
        device: ``"auto"`` (a torch tensor's own device, else CUDA when available, else CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"``.
        tile: network tile size (None = the largest that fits ``max_memory``; 0 = whole image at once).
        strategy: large-image strategy: ``"tile"`` | ``"deu"`` | ``"ses"`` | ``"none"``.
        max_pixels: refuse larger images (path inputs; checked before decoding).
        precision: ``"auto"`` (bfloat16 on CPUs with native bfloat16, else float32) | ``"fp32"`` | ``"bf16"``
            | ``"fp16"`` (CUDA only).
        max_memory: peak process memory for choosing tiles, bytes or ``"2GB"`` (default 1.5 GB).
        blend: ``"auto"`` (the blend with the decoded photo that the weight declares), ``"none"`` or
            ``"TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]"`` (see :class:`~hdrlift.inference.predictor.Predictor`);
            networks only.
        camera: how the photo of the blend is decoded: ``"auto"`` (what the weight declares), ``"srgb"``,
            ``"estimate"`` (the shipped per-photo curve estimator) or a model name / checkpoint.
        kernels: inference kernels: ``"auto"`` (native code where it could be built, else torch code),
            ``"torch"``, ``"native"`` (an error where the network has none or it cannot be built) or
            ``"plain"`` (the network's own forward); see :mod:`hdrlift.kernels`. Outputs agree up to float
            rounding.

    Returns:
        The same kind as ``image``: linear HDR >= 0, float32, 1.0 = the input's clipping level
        (numpy HWC for paths and arrays, torch CHW/BCHW on the input's device for tensors, a list for a list).

    Shape:
        (H, W, 3) -> (H, W, 3); (B, H, W, 3) -> (B, H, W, 3); (3, H, W) -> (3, H, W);
        (B, 3, H, W) -> (B, 3, H, W). Input sRGB-encoded LDR, output linear HDR.

    Example:
        >>> import numpy as np, torch, hdrlift
        >>> ldr = np.full((32, 48, 3), 0.5, np.float32)        # sRGB-encoded mid grey
        >>> hdr = hdrlift.reconstruct(ldr, method="linear")   # the sRGB curve undone
        >>> hdr.shape, hdr.dtype, round(float(hdr[0, 0, 0]), 4)
        ((32, 48, 3), dtype('float32'), 0.214)
        >>> batch = torch.full((2, 3, 32, 48), 0.5)
        >>> out = hdrlift.reconstruct(batch, method="linear")
        >>> type(out).__name__, tuple(out.shape), round(float(out[1, 0, 0, 0]), 4)
        ('Tensor', (2, 3, 32, 48), 0.214)
        >>> [h.shape for h in hdrlift.reconstruct([ldr, ldr[:16]], method="linear")]
        [(32, 48, 3), (16, 48, 3)]
    """
    if not isinstance(method, (str, os.PathLike)):
        raise HdrliftError(f"method={method!r} must be a name or a checkpoint directory path")
    _check_args(device, tile, strategy, precision, kernels)
    if isinstance(image, (list, tuple)):
        if not image:
            raise HdrliftError("image: empty list")
        return [reconstruct(im, method, device=device, tile=tile, strategy=strategy, max_pixels=max_pixels,
                            precision=precision, max_memory=max_memory, blend=blend, camera=camera,
                            kernels=kernels)
                for im in image]
    if device == "auto" and isinstance(image, torch.Tensor) and image.device.type != "cpu":
        device = str(image.device)
    try:
        pred = _predictor(os.fspath(method), device, tile, strategy, precision, max_memory, blend, camera, kernels)
    except ModelError as exc:
        raise ModelError(f"method={os.fspath(method)!r}: {exc}") from None
    if isinstance(image, (str, os.PathLike)):
        from hdrlift.io import check_size
        from hdrlift.io.api import read_photo

        img = read_photo(image, max_pixels=max_pixels)  # HDR files refused, never clipped
        check_size(img, image)
        return pred(img)
    if isinstance(image, torch.Tensor):
        return _run_torch(pred, image, "image")
    if isinstance(image, np.ndarray):
        return _run_numpy(pred, image, "image")
    raise HdrliftError(f"image: expected a path, a numpy array, a torch tensor or a list of them, "
                       f"got {type(image).__name__}")


def create_model(name: str | os.PathLike[str], pretrained: bool = True, *, device: str = "cpu",
                 **hparams: Any) -> torch.nn.Module:
    """A network, with its shipped weights by default.

    Args:
        name: an architecture (``"hdrunet"``, ``"twostage"``, ``"uhd_bilateral"``, ``"duhdr"``, ``*_tiny``),
            a shipped weight (``"hdrunet.polyhaven"``) or a checkpoint directory.
        pretrained: load trained weights (an architecture gets its shipped weight; ModelError when none
            is shipped). ``False``: random initialisation with the architecture's default
            hyper-parameters, updated by ``hparams``.
        device: where the model is put.

    Returns:
        ``torch.nn.Module`` in eval mode mapping (B, 3, H, W) sRGB-encoded LDR in [0, 1] to
        (B, 3, H, W) linear HDR (1.0 = clipping level).

    Shape:
        model(x): (B, 3, H, W) sRGB LDR -> (B, 3, H, W) linear HDR.

    Example:
        >>> import hdrlift
        >>> net = hdrlift.create_model("hdrunet_tiny", pretrained=False)
        >>> net.training, net.num_parameters() > 0
        (False, True)
    """
    from hdrlift.checkpoint import load_model, pretrained_names, read_config, resolve_name
    from hdrlift.models import create_model as _create

    s = os.fspath(name)
    try:
        r = resolve_name(s)
    except ModelError as exc:
        raise ModelError(f"name={s!r}: {exc}") from None
    if r.kind == "operator":
        raise ModelError(f"name={s!r} is a classical operator, not a network (use hdrlift.reconstruct)")
    if r.kind == "checkpoint":
        assert r.path is not None
        if hparams:
            raise ModelError(f"name={s!r}: hparams apply to a new network (pretrained=False with an architecture)")
        model = load_model(r.path, map_location=device) if pretrained else _create(read_config(r.path)["arch"])
    elif pretrained:
        if hparams:
            raise ModelError(f"name={s!r}: hparams cannot change a pretrained network (pass pretrained=False)")
        if r.path is None:
            raise ModelError(f"name={s!r}: no trained weights are shipped for this architecture (shipped: "
                             f"{', '.join(pretrained_names()) or 'none'}); pass pretrained=False for a "
                             "randomly initialised network")
        model = load_model(r.path, map_location=device)
    else:
        model = _create(s, **hparams)
    return model.to(device).eval()
