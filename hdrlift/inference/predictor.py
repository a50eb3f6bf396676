"""Predictor: one LDR image (numpy HWC) -> linear HDR (numpy HWC), tiled when large.

Threads are set from the machine, inference runs under ``torch.inference_mode``; on CUDA optional
channels_last and fp16/bf16 autocast (``precision``); on the CPU ``precision="bf16"`` runs the network
in bfloat16 (:mod:`hdrlift.inference.precision`). A network runs through the inference kernel chosen for
(model, device, precision) by :func:`hdrlift.kernels.for_model` (``kernels``; ``self.kernel`` says which).
The tile size is chosen per image from a memory budget (``max_memory``) unless given (see
:mod:`hdrlift.inference.memory`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hdrlift.errors import HdrliftError
from hdrlift.inference.methods import Method, resolve_method

log = logging.getLogger(__name__)

#: Tile size (pixels of the core) of the ``deu``/``ses`` strategies when none is given.
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
        tile: core tile size in pixels for networks; ``None`` = chosen per image from ``max_memory``
            (whole image when it fits); 0 = never tile.
        precision: ``fp32`` | ``fp16`` | ``bf16`` | ``auto``: autocast on CUDA; on the CPU ``bf16`` converts
            the network to bfloat16 (fast on CPUs with AVX512-BF16/AMX) and ``fp16`` is an error; ``auto``
            = ``bf16`` on CPUs with native bfloat16 for models that allow it, else ``fp32``
            (:func:`~hdrlift.inference.precision.resolve_precision`; the chosen value is ``self.precision``).
        strategy: ``tile`` | ``deu`` | ``ses`` | ``none`` (see :mod:`hdrlift.inference.strategies`).
        blend: ``auto`` (the blend with the decoded photo that the weight declares in
            ``meta.output_blend``, if any), ``none`` (the network's output as is), or
            ``"TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]"`` (see :mod:`hdrlift.ops.blend`); ignored for operators.
            The chosen ``(tau, mid, sigma)`` or None is ``self.blend``; its detail weight (4th field,
            ``meta.output_blend.detail``; a number or ``auto``) is ``self.detail``, its highlight expansion
            (5th field, ``meta.output_blend.highlight``; >= 0, default 0) ``self.highlight``.
        camera: how the photo the network's output is blended with is decoded: ``auto`` (what the
            weight declares in ``meta.output_blend.camera``, else sRGB), ``srgb``, ``estimate`` (the
            shipped per-photo curve estimator, :func:`~hdrlift.inference.methods.default_camera_estimator`)
            or any model name or checkpoint whose output serves as the decoded photo. The loaded decoder or None is
            ``self.camera``.
        max_memory: resident memory hdrlift may add to what the process held when the predictor was made
            (the whole process for the command line, :func:`~hdrlift.inference.memory.set_process_scope`),
            in bytes (or ``"2GB"``), default :data:`~hdrlift.inference.memory.DEFAULT_MAX_MEMORY` (1.5 GB);
            what hdrlift already holds (torch, weights, decoded image) is subtracted when a tile size is
            chosen. On CUDA:
            device memory for the network's tensors, default 80% of the device memory free when the
            predictor is made (:func:`~hdrlift.inference.memory.default_max_memory`).
        kernels: ``auto`` | ``torch`` | ``native`` | ``plain``: which inference kernel runs a network
            (:data:`hdrlift.kernels.CHOICES`): ``auto`` = native code where it was built (a failed build warns
            once and falls back), else torch code; ``torch`` = no compiled code; ``native`` = the model's native
            kernel or a :class:`~hdrlift.errors.KernelError`; ``plain`` = the model's own forward. The chosen
            kernel is ``self.kernel`` (``.name``, ``.describe()``); ``None`` for operators.
    """

    def __init__(
        self,
        method: str | Method = "default",
        device: str = "auto",
        tile: int | None = None,
        precision: str = "fp32",
        strategy: str = "tile",
        max_memory: int | str | None = None,
        blend: str = "auto",
        camera: str = "auto",
        kernels: str = "auto",
    ) -> None:
        from hdrlift.inference.memory import default_max_memory, memory_baseline, parse_memory
        from hdrlift.kernels import CHOICES, Kernel, for_model

        if kernels not in CHOICES:
            from hdrlift.errors import KernelError

            raise KernelError(f"kernels={kernels!r} is not one of {', '.join(CHOICES)}")

        #: resident bytes before this predictor (not hdrlift's to count; 0 for the command line)
        self.memory_baseline = memory_baseline()
        self.device = pick_device(device)
        self.method = method if isinstance(method, Method) else resolve_method(method, self.device)
        self.tile = None if tile is None else int(tile)
        self.strategy = strategy
        self.max_memory = default_max_memory(self.device) if max_memory is None else parse_memory(max_memory)
        self._warned_budget = False
        #: called as ``on_tile(done, total)`` after each tile of a tiled run (progress bars)
        self.on_tile: Any = None
        #: core tile size of the last network run (0 = whole image), as chosen with the image in memory
        self.last_tile: int | None = None
        if precision not in ("fp32", "fp16", "bf16", "auto"):
            raise HdrliftError(f"unknown precision '{precision}'; use fp32, fp16, bf16 or auto")
        from hdrlift.inference.precision import resolve_precision

        precision = resolve_precision(precision, self.device, self.method.model)
        self.precision = precision
        self.blend = resolve_blend(blend, self.method.model)
        self.camera = resolve_camera(camera, self.method.model, self.blend, self.device)
        #: the blend's detail weight (a number, or ``auto``: per photo from ``self.detector``)
        self.detail = resolve_detail(blend, self.method.model) if self.blend is not None else 1.0
        self.detector = resolve_detector(self.detail, self.camera, self.device)
        #: the blend's highlight expansion (:func:`hdrlift.ops.blend.expand_highlights`; 0 = none)
        self.highlight = resolve_highlight(blend, self.method.model) if self.blend is not None else 0.0
        self.last_blend: dict[str, float | None] | None = None
        model = self.method.model
        if model is not None and (self.device.type == "cuda" or model.cpu_channels_last):
            # channels-last weights make oneDNN run NHWC end to end; without them every CPU conv of a
            # model without its own lean path reorders NCHW <-> blocked (duhdr: 2.3x slower in bf16)
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack memory_format
        if model is not None and self.device.type != "cuda" and precision == "fp16":
            raise HdrliftError("--precision fp16 needs a CUDA device; on the CPU use bf16")
        #: the inference kernel that runs the network (``None`` for an operator)
        self.kernels = kernels
        self.kernel: Kernel | None = None if model is None else for_model(model, self.device, precision, kernels)
        #: what the strategies and the memory model call: the kernel (or None for an operator)
        self.net: Any = self.kernel
        if model is not None and self.device.type != "cuda" and precision == "bf16":
            from hdrlift.inference.precision import cpu_has_bf16

            if not cpu_has_bf16():
                log.warning("bf16: this CPU has no AVX512-BF16/AMX, bfloat16 is emulated and slower than fp32")
        if self.kernel is not None:
            log.info("%s: kernel %s", self.method.name, self.kernel.describe())

    def describe(self) -> str:
        """One line: method, device, precision and the kernel that runs it (``hdrlift predict -v``)."""
        what = "operator" if self.kernel is None else f"kernel {self.kernel.describe()}"
        return f"{self.name}: device {self.device.type}, precision {self.precision}, {what}"

    @property
    def name(self) -> str:
        return self.method.name

    def tile_for(self, h: int, w: int, batch: int = 1, resident: int = 0) -> int:
        """Core tile size used for an ``h`` x ``w`` image (0 = whole image at once).

        ``resident``: bytes of the image's full-resolution buffers that already exist (the decoded float
        input when called from a run): they are in the process's RSS, so they are not counted twice."""
        model = self.net
        if model is None:
            return 0
        if self.tile is not None:
            return self.tile
        if self.strategy in ("deu", "ses"):
            return DEFAULT_TILE
        if self.strategy == "none":
            return 0
        from hdrlift.inference.memory import (
            MIN_TILE,
            SAFETY,
            SAFETY_BF16,
            UPPER_BOUND,
            full_res_bytes,
            model_memory,
            tensor_budget,
            tile_for_budget,
        )
        from hdrlift.inference.strategies import size_requirements, tile_context

        budget = tensor_budget(self.max_memory, self.device, self.memory_baseline) + resident
        if UPPER_BOUND.bytes_for(batch * h, w) + full_res_bytes(h, w, batch) <= budget:
            return 0  # fits whatever the model: skip the (one-off, ~1-3 s) measurement
        mem = model_memory(model, self.device)
        budget = tensor_budget(self.max_memory, self.device, self.memory_baseline) + resident  # after the probe
        if budget <= 0:
            if not self._warned_budget:
                log.warning("max-memory %.0f MB is below what the process already holds; using the "
                            "smallest tile (%d px)", self.max_memory / 1e6, MIN_TILE)
                self._warned_budget = True
            return MIN_TILE
        size = size_requirements(model)
        bf16_cpu = self.device.type == "cpu" and getattr(model, "dtype", None) == torch.bfloat16
        return tile_for_budget(mem, h, w, budget, tile_context(model), size.multiple, batch,
                               safety=SAFETY_BF16 if bf16_cpu else SAFETY)

    def _run(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        m = self.method
        if m.kind == "operator":
            return m.fn(x)
        model = self.net
        assert model is not None
        use_amp = self.device.type == "cuda" and self.precision in ("fp16", "bf16")
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        b, _, h, w = x.shape
        resident = x.numel() * x.element_size() if x.device.type == "cpu" and self.device.type == "cpu" else 0
        tile = self.tile_for(h, w, b, resident=resident)
        self.last_tile = tile
        with torch.autocast(device_type="cuda", dtype=dtype, enabled=use_amp):
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            if tile <= 0 or max(h, w) <= tile or self.strategy == "none":
                if out is not None and model.accepts_out:
                    return model(x, out=out)  # reads the HWC view, writes the result in place
                return model(x.contiguous() if self.device.type == "cpu" else x).float()
            from hdrlift.inference.strategies import run_large

            progress: Callable[[int, int], None] | None = None
            if self.device.type == "cpu":
                from hdrlift.inference.memory import TRIM_AT, release_if_above

                limit = TRIM_AT * self.max_memory

                def trim_heap(done: int, total: int) -> None:
                    release_if_above(limit)

                progress = trim_heap
            if self.on_tile is not None:
                trim, report = progress, self.on_tile

                def trim_and_report(done: int, total: int) -> None:
                    if trim is not None:
                        trim(done, total)
                    report(done, total)

                progress = trim_and_report

            return run_large(model, x, tile, _size_req(model), self.strategy, out=out, progress=progress).float()

    @torch.inference_mode()
    def predict_tensor(self, ldr: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) sRGB LDR in [0,1] -> (B,3,H,W) linear HDR >= 0.

        Shape:
            (B, 3, H, W) -> (B, 3, H, W)
        """
        x = ldr.to(self.device, torch.float32).clamp(0.0, 1.0)
        return self._blend(x, self._run(x).clamp_(min=0.0))

    def _blend(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The declared blend of the network's result ``y`` with the decoded input ``x`` (NCHW)."""
        if self.blend is None:
            return y
        from hdrlift.inference.strategies import context_fns
        from hdrlift.ops.blend import RowDecoder, blend_with_decoded

        decoded: torch.Tensor | RowDecoder | None = None
        ctx = None
        if self.camera is not None:
            fns = context_fns(self.camera)  # a decoder with a global part: computed once, reported below
            if fns is None:
                decoded = self.camera(x)
            else:
                ctx = fns[0](x)
                full, tile_fn, context = (x.shape[-2], x.shape[-1]), fns[1], ctx
                if _size_req(self.camera).pointwise:  # a per-pixel curve: decoded strip by strip in the blend
                    def decoded(rows: torch.Tensor, top: int) -> torch.Tensor:
                        return tile_fn(rows, context, (top, 0), full)
                else:
                    decoded = tile_fn(x, ctx, (0, 0), full)
        detail = self.detector.detail_weight(x) if self.detector is not None else float(self.detail)
        #: what the last blend used (first image), for ``-v``: the decoder's per-image global value when it is
        #: one number per image (CurveNet: the exponent over sRGB decoding; None for sRGB) and the detail weight
        exponent = float(ctx.reshape(-1)[0]) if isinstance(ctx, torch.Tensor) and ctx.numel() == x.shape[0] else None
        self.last_blend = {"exponent": exponent,
                           "detail": float(torch.as_tensor(detail).reshape(-1)[0]), "highlight": self.highlight}
        return blend_with_decoded(x, y, *self.blend, decoded=decoded, detail=detail, highlight=self.highlight)

    @torch.inference_mode()
    def _call_device(self, ldr: np.ndarray) -> np.ndarray:
        """GPU path of :meth:`__call__`: decode to float on the device, copy one contiguous HWC result back."""
        x = _float01_on(ldr, self.device)
        return _hwc_to_host(self._blend(x, self._run(x)))

    @torch.inference_mode()
    def __call__(self, ldr: np.ndarray) -> np.ndarray:
        """HWC float32 sRGB-encoded LDR in [0,1] (or uint8/uint16) -> HWC float32 linear HDR.

        On CPU no full-resolution copy is made beyond the float input and the HWC result: the network
        reads a (1,3,H,W) view of the HWC array and tiles write straight into the result.

        Shape:
            (H, W, 3) -> (H, W, 3)
        """
        if self.device.type != "cpu":
            return self._call_device(ldr)
        arr = to_float01(ldr)
        h, w = arr.shape[:2]
        x = torch.from_numpy(arr)[..., :3].permute(2, 0, 1)[None]
        res = np.empty((h, w, 3), dtype=np.float32)
        out = torch.from_numpy(res).permute(2, 0, 1)[None]
        y = self._run(x, out=out)
        if y.data_ptr() != out.data_ptr():
            out.copy_(y)
        del y
        np.maximum(res, 0.0, out=res)
        if self.blend is not None:
            out.copy_(self._blend(x, out))
        del x
        from hdrlift.inference.memory import release_memory

        release_memory()  # what this image's tiles left in the C heap (see memory.release_memory)
        return res


def resolve_blend(blend: str, model: Any) -> tuple[float, float, float] | None:
    """``(tau, mid, sigma)`` of the blend to apply for ``blend`` (``auto`` | ``none`` |
    ``"TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]]"``), or None (:func:`resolve_detail`, :func:`resolve_highlight`).

    ``auto`` reads ``meta.output_blend`` of the model's checkpoint (validated here: a bad value is a
    ModelError naming it)."""
    from hdrlift.errors import ModelError

    if model is None or blend == "none":
        return None
    if blend == "auto":
        spec = (model.checkpoint_config or {}).get("meta", {}).get("output_blend")
        if spec is None:
            return None
        try:
            tau, mid, sigma = float(spec["tau"]), float(spec["mid"]), float(spec.get("sigma", 0.0))
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ModelError(f"checkpoint meta.output_blend must be {{'tau': t, 'mid': m, 'sigma': s}}, "
                             f"got {spec!r}") from None
    else:
        fields = _parse_text(blend)
        tau, mid = float(fields[0]), float(fields[1])
        sigma = float(fields[2]) if len(fields) > 2 else 0.0
    if not (0.0 <= tau < 1.0 and 0.0 <= mid <= 1.0 and sigma >= 0.0):
        raise HdrliftError(f"blend TAU must lie in [0, 1), MID in [0, 1] and SIGMA >= 0, got {tau}, {mid}, {sigma}")
    return (tau, mid, sigma)


def _blend_field(blend: str, model: Any, index: int, key: str, default: float) -> tuple[Any, str, type[Exception]]:
    """``(value, where, error class)`` of one optional blend field: field ``index`` of ``"TAU,MID,..."``, or
    ``meta.output_blend[key]`` of the model's checkpoint for ``auto``; ``default`` when not given."""
    from hdrlift.errors import ModelError

    if model is None or blend == "none":
        return default, "", HdrliftError
    if blend == "auto":
        spec = (model.checkpoint_config or {}).get("meta", {}).get("output_blend") or {}
        val = spec.get(key, default) if isinstance(spec, dict) else default
        return val, f"checkpoint meta.output_blend.{key}", ModelError
    fields = _parse_text(blend)
    return (fields[index] if len(fields) > index else default), f"blend {key.upper()}", HdrliftError


def _parse_text(blend: str) -> tuple[float | str, ...]:
    """:func:`hdrlift.ops.blend.parse_blend` of a ``--blend`` string (HdrliftError naming the bad field)."""
    from hdrlift.ops.blend import parse_blend

    try:
        return parse_blend(blend)
    except ValueError as e:
        raise HdrliftError(f"{e} (--blend takes auto, none or TAU,MID[,SIGMA[,DETAIL[,HIGHLIGHT]]])") from None


def _number_in(val: Any, lo: float, hi: float) -> float | None:
    """``float(val)`` when it lies in ``[lo, hi]``, else None."""
    try:
        v = float(val)
    except (TypeError, ValueError):
        return None
    return v if lo <= v <= hi else None


def resolve_detail(blend: str, model: Any) -> float | str:
    """The blend's ``detail`` (:func:`hdrlift.ops.blend.blend_with_decoded`): a number in [0, 1], or ``"auto"``
    (per photo, from a camera estimator's degradation branch); from the 4th field of ``"TAU,MID,SIGMA,DETAIL"``
    or ``meta.output_blend.detail`` (``auto`` blend); 1.0 when not given."""
    val, where, err = _blend_field(blend, model, 3, "detail", 1.0)
    if val == "auto":
        return "auto"
    d = _number_in(val, 0.0, 1.0)
    if d is None:
        raise err(f"{where} must be a number in [0, 1] or auto, got {val!r}")
    return d


def resolve_highlight(blend: str, model: Any) -> float:
    """The blend's highlight expansion ``k`` in [0, 4] (:func:`hdrlift.ops.blend.expand_highlights`): the 5th field
    of ``"TAU,MID,SIGMA,DETAIL,HIGHLIGHT"`` or ``meta.output_blend.highlight`` (``auto`` blend); 0 when not given."""
    val, where, err = _blend_field(blend, model, 4, "highlight", 0.0)
    from hdrlift.ops.blend import HIGHLIGHT_MAX

    k = _number_in(val, 0.0, HIGHLIGHT_MAX)
    if k is None:
        raise err(f"{where} must be a number in [0, {HIGHLIGHT_MAX:g}], got {val!r}")
    return k


def resolve_detector(detail: float | str, camera: Any, device: torch.device) -> Any:
    """The model whose ``detail_weight`` gives ``detail="auto"`` per photo (the camera decoder when it has a
    degradation branch, else the shipped estimator), or None for a fixed detail."""
    if detail != "auto":
        return None
    if camera is not None and getattr(camera, "has_detail", False):
        return camera
    from hdrlift.inference.methods import default_camera_estimator, resolve_method

    det = resolve_method(default_camera_estimator(), device).model
    if det is None or not getattr(det, "has_detail", False):
        raise HdrliftError("blend detail 'auto' needs a camera estimator with a degradation branch; the shipped "
                           "one has none: give DETAIL as a number")
    return det.eval()


def resolve_camera(camera: str, model: Any, blend: tuple[float, float, float] | None,
                   device: torch.device) -> Any:
    """The decoder of the photo for the blend (a model in eval mode on ``device``), or None for sRGB.

    ``auto`` reads ``meta.output_blend.camera`` of the model's checkpoint. An explicit decoder with no
    blend to apply (``blend="none"``, an operator) is an error: it would change nothing."""
    from hdrlift.errors import ModelError

    if camera == "auto":
        spec = (getattr(model, "checkpoint_config", None) or {}).get("meta", {}).get("output_blend") or {}
        camera = spec.get("camera", "srgb") if blend is not None and isinstance(spec, dict) else "srgb"
        if not isinstance(camera, str):
            raise ModelError(f"checkpoint meta.output_blend.camera must be a string, got {camera!r}")
    if camera == "srgb":
        return None
    if blend is None:
        raise HdrliftError(f"camera {camera!r} decodes the photo the network is blended with, but no blend "
                           "applies here (--blend none or an operator); drop --camera or give --blend")
    from hdrlift.inference.methods import default_camera_estimator, resolve_method

    name = default_camera_estimator() if camera == "estimate" else camera
    dec = resolve_method(name, device).model
    if dec is None:
        raise HdrliftError(f"camera {camera!r} is not a model (use srgb, estimate, a weight or a checkpoint)")
    return dec.eval()


def _float01_on(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """:func:`to_float01` done on ``device``: 8-bit images travel as bytes (a quarter of the float32
    traffic) and are converted there; gray and alpha are handled on the host first.

    Shape: (H, W[, C]) -> (1, 3, H, W) float32 on ``device``
    """
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        a = to_float01(a)[..., :3]
    t = torch.from_numpy(np.ascontiguousarray(a))
    if device.type == "cuda":  # page-locked staging: pageable copies ran at ~0.6-1.6 GB/s on a VM
        t = t.pin_memory()
    t = t.to(device, non_blocking=True)
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t
    return t.permute(2, 0, 1)[None].contiguous()


def _hwc_to_host(y: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) device result -> (H, W, 3) float32 host array, clamped at 0; from CUDA through
    page-locked memory (PyTorch caches such blocks, so repeated images reuse them)."""
    y = y[0].permute(1, 2, 0).clamp_(min=0.0).contiguous().float()
    if y.device.type != "cuda":
        return y.cpu().numpy()
    res = torch.empty(y.shape, dtype=y.dtype, pin_memory=True)
    return res.copy_(y).numpy()


def to_float01(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float image -> float32 in [0, 1]; gray -> RGB."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = np.divide(a, np.float32(255.0), dtype=np.float32)
    elif a.dtype == np.uint16:
        a = np.divide(a, np.float32(65535.0), dtype=np.float32)
    else:
        a = a.astype(np.float32)  # a copy: clipped in place below
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise HdrliftError(f"expected an HxWx3 image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a, 0.0, 1.0, out=a)


def _size_req(model: Any) -> Any:
    from hdrlift.inference.strategies import size_requirements

    return size_requirements(model)
