"""Tile size from a memory budget (``--max-memory 2GB``).

The budget bounds the *peak resident memory of the process* (what ``/usr/bin/time -v`` reports as
"Maximum resident set size"): the interpreter, torch, the weights and the decoded image are already
resident when a tile size is chosen, so the tensor budget of the network is ``max_memory`` minus the
current RSS (:func:`tensor_budget`). On CUDA the budget is the device memory for the network's tensors.

The working memory of a network on an ``h`` x ``w`` input is modelled as ``fixed + per_pixel * h * w``
bytes. Both numbers are *measured* on two small probe inputs by tracking every tensor storage the
forward pass allocates (a ``TorchDispatchMode`` that counts each new storage until it is freed) and
taking the peak of the live bytes. This counts what PyTorch allocates (activations, temporaries), not
library-internal scratch (oneDNN) or the C heap's fragmentation; :data:`SAFETY` covers those, and
:func:`release_memory` after every tile keeps glibc from carrying freed blocks from tile to tile.

The budget covers the full-resolution buffers of tiled inference (input, output) plus one tile's working memory;
:func:`tile_for_budget` picks the largest tile that fits, or ``0`` (no tiling) when the whole image fits
at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import re
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hdrlift.errors import ConfigError

#: default budget of ``hdrlift predict``: peak resident memory of the process (bytes)
DEFAULT_MAX_MEMORY = 1_500_000_000
#: multiplier on the measured working memory (allocator fragmentation, library scratch)
SAFETY = 1.25
#: the same for a bfloat16 network on the CPU: oneDNN's bfloat16 weight reorders and scratch are outside
#: the probe (measured at 4K: twostage fp32 1.11x the probed bytes; duhdr bf16 peaked at 1.50-1.54 GiB with 1.6)
SAFETY_BF16 = 1.8
#: fraction of ``max_memory`` above which the C heap is trimmed after a tile; 0 = after every tile
#: (4K, bf16: twostage peak 1141 MiB with 0 vs 1459 MiB with 0.8, duhdr 1333 vs 1468 MiB; the time
#: difference was within this machine's run-to-run noise)
TRIM_AT = 0.0
#: resident memory assumed when the platform cannot report it (interpreter + torch + a model)
FALLBACK_RSS = 500_000_000
#: smallest core tile ever chosen (smaller tiles waste most of their time on the context margin)
MIN_TILE = 128

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_memory(text: str | int | float) -> int:
    """``"2GB"``, ``"1.5G"``, ``"512MiB"``, ``"800m"`` or a number of bytes -> bytes.

    Decimal units (kB, MB, GB) are powers of 10, binary ones (KiB, MiB, GiB) powers of 2; a bare
    letter (``2G``) is decimal.
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
        if m is None or m.group(2).lower() not in _UNITS:
            raise ConfigError(f"cannot read memory size '{text}' (examples: 2GB, 1.5G, 512MiB, 800MB)")
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"memory size must be positive, got '{text}'")
    return int(value)


class LiveBytes(TorchDispatchMode):
    """Dispatch mode that tracks the bytes of tensor storages created inside it, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in _tensors(out):
            if t.device.type == "meta":
                continue
            st = t.untyped_storage()
            key = id(st)
            if key in self._seen:
                continue
            n = st.nbytes()
            self._seen.add(key)
            self.live += n
            weakref.finalize(st, self._release, key, n)
        self.peak = max(self.peak, self.live)
        return out


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    return []


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak of the bytes of tensors allocated (and still alive) while running ``fn()``.

    Includes the result if it is returned. Run under ``torch.inference_mode`` for inference numbers.
    """
    mode = LiveBytes()
    with mode:
        res = fn()
    peak = mode.peak
    del res
    return int(peak)


@dataclass(frozen=True)
class MemoryModel:
    """Working memory of one call on an ``h`` x ``w`` input: ``fixed + per_pixel * h * w`` bytes.

    ``global_fixed + global_per_pixel * min(H * W, global_max_pixels)`` is the peak of a model's global
    part on the whole ``H`` x ``W`` image (run once before the tiles, so it counts as a maximum, not a sum).
    """

    fixed: float
    per_pixel: float
    global_fixed: float = 0.0
    global_per_pixel: float = 0.0
    global_max_pixels: int | None = None

    def bytes_for(self, h: int, w: int) -> float:
        return self.fixed + self.per_pixel * h * w

    def global_bytes(self, h: int, w: int) -> float:
        px = h * w if self.global_max_pixels is None else min(h * w, self.global_max_pixels)
        return self.global_fixed + self.global_per_pixel * px


#: generous bound on any shipped architecture (measured max 2.2 kB/px, 270 MB global part), used to
#: skip the measurement for images that fit anyway
UPPER_BOUND = MemoryModel(fixed=400e6, per_pixel=4096.0)

_CACHE: weakref.WeakKeyDictionary[Any, MemoryModel] = weakref.WeakKeyDictionary()


def probe_memory(fn: Callable[[torch.Tensor], Any], sizes: tuple[int, int] = (64, 128), channels: int = 3,
                 device: torch.device | str = "cpu") -> MemoryModel:
    """Fit :class:`MemoryModel` to the peak bytes of ``fn`` on two square probe inputs.

    The per-pixel slope comes from the two probes; ``fixed`` (weights copies, low-resolution global
    branches) is what remains at size 0, never negative.
    """
    gen = torch.Generator().manual_seed(0)
    peaks = []
    for s in sizes:
        x = torch.rand(1, channels, s, s, generator=gen).to(device)
        with torch.inference_mode():
            peaks.append(peak_bytes(functools.partial(fn, x)))
    a, b = sizes
    slope = max((peaks[1] - peaks[0]) / float(b * b - a * a), 0.0)
    slope = max(slope, peaks[1] / float(b * b) * 0.25)  # guard against a flat (chunked) probe
    fixed = max(peaks[1] - slope * b * b, 0.0)
    return MemoryModel(fixed=fixed, per_pixel=slope)


def _disk_key(model: Any, device: torch.device | str) -> str | None:
    """Key of a model's measured memory in the disk cache: architecture, hyper-parameters, the kernel that
    runs it (name, dtype, options: :meth:`hdrlift.kernels.Kernel.info`), device and versions (the numbers
    depend on shapes only, not on weights); ``None`` for models without recorded hyper-parameters."""
    import hashlib
    import json

    from hdrlift._version import __version__

    inner = getattr(model, "model", model)
    hparams = getattr(inner, "hparams", None)
    if not isinstance(hparams, dict):
        return None
    info = model.info() if callable(getattr(model, "info", None)) else None
    kernel = None if not isinstance(info, dict) else {k: info.get(k) for k in ("name", "dtype", "options")}
    desc = {"cls": type(model).__qualname__, "inner": type(inner).__qualname__, "hparams": hparams,
            "dtype": str(getattr(model, "dtype", None)), "device": torch.device(device).type, "kernel": kernel,
            "torch": torch.__version__, "hdrlift": __version__, "threads": torch.get_num_threads()}
    try:
        text = json.dumps(desc, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _disk_load(key: str) -> MemoryModel | None:
    import json

    from hdrlift.nn.native import private_cache_subdir

    d = private_cache_subdir("memory")
    if d is None:
        return None
    try:
        data = json.loads((d / f"{key}.json").read_text())
        vals = [float(data[k]) for k in ("fixed", "per_pixel", "global_fixed", "global_per_pixel")]
        gmax = data["global_max_pixels"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(math.isfinite(v) and 0 <= v < 1e13 for v in vals):
        return None
    if gmax is not None and (isinstance(gmax, bool) or not isinstance(gmax, int) or gmax <= 0):
        return None
    return MemoryModel(vals[0], vals[1], vals[2], vals[3], global_max_pixels=gmax)


def _disk_save(key: str, est: MemoryModel) -> None:
    import dataclasses
    import json

    from hdrlift.errors import HdrliftError
    from hdrlift.io.atomic import write_bytes_atomic
    from hdrlift.nn.native import private_cache_subdir

    d = private_cache_subdir("memory")
    if d is None:
        return
    try:
        write_bytes_atomic(d / f"{key}.json", json.dumps(dataclasses.asdict(est)).encode(), overwrite=True)
    except (HdrliftError, OSError):
        pass


def model_memory(model: Any, device: torch.device | str = "cpu") -> MemoryModel:
    """Cached :class:`MemoryModel` of one tile call of ``model`` (its per-tile function when it has a
    global part, see :func:`hdrlift.inference.strategies.context_fns`).

    The measurement (1-3 s; uhd_bilateral 1.3 s) is kept in memory per model and on disk in the private
    cache folder ``$HDRLIFT_CACHE/memory`` keyed by :func:`_disk_key`, so later processes skip it."""
    if model in _CACHE:
        return _CACHE[model]
    key = _disk_key(model, device)
    if key is not None:
        cached = _disk_load(key)
        if cached is not None:
            _CACHE[model] = cached
            return cached
    from hdrlift.inference.strategies import context_fns, size_requirements

    mult = max(int(size_requirements(model).multiple), 1)
    sizes = (max(64, mult * 2), max(128, mult * 4))
    fns = context_fns(model)
    if fns is None:
        est = probe_memory(model, sizes, device=device)
    else:
        from hdrlift.inference.strategies import global_max_pixels

        global_fn, tile_fn = fns
        gen = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            ctx = global_fn(torch.rand(1, 3, sizes[1], sizes[1], generator=gen).to(device))
        est = probe_memory(lambda t: tile_fn(t, ctx, (0, 0), (int(t.shape[-2]), int(t.shape[-1]))), sizes,
                           device=device)
        glob = probe_memory(global_fn, sizes, device=device)
        est = MemoryModel(est.fixed, est.per_pixel, glob.fixed, glob.per_pixel, global_max_pixels(model))
    _CACHE[model] = est
    if key is not None:
        _disk_save(key, est)
    return est


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release_memory() -> None:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim``; no-op elsewhere).

    glibc keeps the freed blocks of one tile's tensors in its arenas (one per thread) and hands them out
    in pieces to the next tile, so the peak RSS of tiled inference creeps up tile after tile and image
    after image (twostage fp32 1080p: 1270 MB after the first image, 1553 MB after the second; one trim
    frees 460 MB). :class:`~hdrlift.inference.predictor.Predictor` trims after every image and after every
    tile above :data:`TRIM_AT` of its budget (:func:`release_if_above`; default: every tile). The next
    allocations fault their pages in again; the cost was within the run-to-run noise of 4K benchmarks.
    """
    fn = _malloc_trim()
    if fn is not None:
        fn(0)


def release_if_above(limit: float) -> bool:
    """:func:`release_memory` if the resident memory exceeds ``limit`` bytes; whether it did."""
    rss = current_rss()
    if rss is None or rss <= limit:
        return False
    release_memory()
    return True


def current_rss() -> int | None:
    """Resident memory of this process in bytes (Linux ``/proc/self/statm``), ``None`` elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


#: share of the free device memory a CUDA predictor uses by default
GPU_MEMORY_SHARE = 0.8


def default_max_memory(device: torch.device | str = "cpu") -> int:
    """Default ``max_memory``: :data:`DEFAULT_MAX_MEMORY` for the process on the CPU; on CUDA
    :data:`GPU_MEMORY_SHARE` of the device memory free now (a 4K image then runs untiled on most GPUs,
    and a small GPU, or one shared with other work, still gets tiles that fit)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return DEFAULT_MAX_MEMORY
    free, _ = torch.cuda.mem_get_info(dev)
    return int(GPU_MEMORY_SHARE * free)


_PROCESS_SCOPE = False


def set_process_scope(on: bool = True) -> None:
    """Make ``max_memory`` bound the whole process (the command line, where hdrlift is the process)
    instead of what hdrlift adds to the memory the process held before (library use, the default)."""
    global _PROCESS_SCOPE
    _PROCESS_SCOPE = bool(on)


def memory_baseline() -> int:
    """Resident bytes that are not hdrlift's to count: 0 in process scope (:func:`set_process_scope`),
    else the process's resident memory now (call it when a Predictor is made, before its model is loaded),
    so an application that already holds several GB keeps the tile sizes a bare process would get."""
    if _PROCESS_SCOPE:
        return 0
    return current_rss() or 0


def tensor_budget(max_memory: int, device: torch.device | str = "cpu", baseline: int = 0) -> int:
    """Bytes left for the network's tensors when hdrlift may add ``max_memory`` to ``baseline`` resident
    bytes (CPU; ``baseline`` 0 = the whole process), or ``max_memory`` itself on a GPU (device memory).
    May be <= 0 when hdrlift already holds more."""
    if torch.device(device).type != "cpu":
        return int(max_memory)
    rss = current_rss()
    return int(max_memory - ((FALLBACK_RSS if rss is None else rss) - baseline))


#: bytes per pixel while an 8-bit (16-bit) photo is decoded to float32 RGB: the decoder's image
#: (Pillow keeps RGB as 4 bytes per pixel; the 16-bit codec 6), the integer array taken from it, and the
#: float32 result (12), all alive at once at the end of decoding
DECODE_BYTES_PER_PIXEL = {8: 4 + 3 + 12, 16: 6 + 6 + 12}
#: an image is decoded ahead (while the previous one is processed) only when its float32 copy is at most
#: this share of ``max_memory``; larger ones are decoded when their turn comes
READ_AHEAD_SHARE = 0.1


def image_memory_need(w: int, h: int, bit_depth: int = 8) -> tuple[int, int]:
    """(decoding peak, steady full-resolution buffers) in bytes for a ``w`` x ``h`` photo: what must fit
    whatever the tile size (decoder + integer + float copies; float input + float output)."""
    px = int(w) * int(h)
    return DECODE_BYTES_PER_PIXEL[16 if bit_depth > 8 else 8] * px, full_res_bytes(h, w)


def check_image_memory(path: Any, w: int, h: int, max_memory: int, overhead: int, bit_depth: int = 8) -> None:
    """Refuse, before decoding, an image whose decoding or full-resolution buffers alone exceed what
    ``max_memory`` leaves after ``overhead`` (what hdrlift already holds: torch, the weights).

    Raises :class:`~hdrlift.errors.ImageSizeError` in one line naming the file, the need and the budget.
    """
    from hdrlift.errors import ImageSizeError

    decode, steady = image_memory_need(w, h, bit_depth)
    need = max(decode, steady) + MIN_WORKING
    left = max_memory - overhead
    if need > left:
        raise ImageSizeError(
            f"{path}: {w}x{h} needs at least {need / 1e6:,.0f} MB to decode and process, but --max-memory "
            f"{max_memory / 1e6:,.0f} MB leaves {max(left, 0) / 1e6:,.0f} MB after the {overhead / 1e6:,.0f} MB "
            f"hdrlift already holds (raise --max-memory or downscale the image)")


#: working memory assumed for the smallest tile of a network when checking an image before decoding
MIN_WORKING = 64_000_000


def full_res_bytes(h: int, w: int, batch: int = 1) -> int:
    """Bytes of the full-resolution buffers of tiled inference: float32 RGB input and output."""
    return 2 * 3 * 4 * batch * h * w


def tile_for_budget(
    mem: MemoryModel,
    h: int,
    w: int,
    budget: int,
    context: int,
    multiple: int = 1,
    batch: int = 1,
    blend: int = 16,
    safety: float = SAFETY,
) -> int:
    """Largest core tile whose working memory (times ``safety``) plus the full-resolution buffers
    fits ``budget`` bytes; ``0`` when the whole image fits untiled; :data:`MIN_TILE` at the least."""
    from hdrlift.inference.tiling import tile_geometry

    fixed = max(mem.fixed, batch * mem.global_bytes(h, w))
    whole = safety * fixed + safety * mem.per_pixel * batch * h * w + full_res_bytes(h, w, batch)
    if whole <= budget:
        return 0
    avail = budget - full_res_bytes(h, w, batch) - safety * fixed
    if avail <= 0 or mem.per_pixel <= 0:
        return MIN_TILE
    side = math.sqrt(avail / (safety * mem.per_pixel * batch))
    _, margin = tile_geometry(MIN_TILE, context, blend, multiple)
    # the merged last span can make a tile up to ``blend`` larger than its core
    core = int(side - 2 * margin - blend)
    m = max(int(multiple), 1)
    core = (core // m) * m
    return max(core, MIN_TILE)
