"""Optional native CPU kernels: C sources compiled on first use with the system compiler, loaded by ctypes.

Used where PyTorch's one-operator-at-a-time execution is bound by memory traffic on tiny channel counts
(the full-resolution part of uhd_bilateral: 8-16 channels per pixel, ~40 operators per tile). The
sources live in ``hdrlift/nn/csrc``; a shared library is built once per machine (``cc -O3
-march=native -fopenmp``, about a second) into ``$HDRLIFT_CACHE`` (default ``~/.cache/hdrlift``),
named by a hash of the source, the flags, the compiler and the CPU, and reused afterwards. Without a
compiler, on a build or load error, or with ``HDRLIFT_NATIVE=0``, callers fall back to their torch
kernels (same results up to float rounding). Nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

_SRC = Path(__file__).parent / "csrc"
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-ffp-contract=fast",
          "-mprefer-vector-width=512", "-fPIC", "-shared", "-std=gnu99"]
_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_INT_P = ctypes.POINTER(ctypes.c_int)


def enabled() -> bool:
    """Native kernels are allowed (environment variable ``HDRLIFT_NATIVE`` is not ``0``)."""
    return os.environ.get("HDRLIFT_NATIVE", "1") != "0"


def cache_dir() -> Path:
    """Where built libraries are kept: ``$HDRLIFT_CACHE``, else ``$XDG_CACHE_HOME/hdrlift`` or ``~/.cache/hdrlift``."""
    root = os.environ.get("HDRLIFT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "hdrlift")
    return Path(root)


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor()


@functools.cache
def _load_cached(name: str, cache: str) -> ctypes.CDLL | None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        log.info("native kernels: no C compiler found, using the torch kernels")
        return None
    src = _SRC / f"{name}.c"
    text = src.read_bytes()
    key = hashlib.sha256(text + " ".join(_FLAGS).encode() + _cpu_id().encode() + cc.encode()).hexdigest()[:16]
    lib = Path(cache) / f"{name}-{key}.so"
    if not lib.is_file():
        try:
            lib.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
                tmp_lib = Path(tmp) / lib.name
                res = subprocess.run([cc, *_FLAGS, "-o", str(tmp_lib), str(src), "-lm"],
                                     capture_output=True, text=True, timeout=120)
                if res.returncode != 0:
                    raise subprocess.SubprocessError((res.stderr.strip().splitlines() or ["cc failed"])[-1])
                os.replace(tmp_lib, lib)  # atomic: concurrent builders never see a partial file
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("native kernels: building %s failed (%s), using the torch kernels", name, exc)
            return None
    try:
        return ctypes.CDLL(str(lib))
    except OSError as exc:
        log.info("native kernels: loading %s failed (%s), using the torch kernels", lib, exc)
        return None


def load(name: str) -> ctypes.CDLL | None:
    """The compiled library of ``csrc/<name>.c`` (built if needed), or ``None`` when unavailable."""
    if not enabled() or platform.system() != "Linux":
        return None
    return _load_cached(name, str(cache_dir()))


def _f(t: torch.Tensor) -> Any:
    if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu":
        raise ValueError("native kernels take contiguous float32 CPU tensors")
    return ctypes.cast(t.data_ptr(), _FLOAT_P)


def _p(t: torch.Tensor) -> Any:
    """Pointer to a float32 CPU tensor with any (positive) strides."""
    if t.dtype != torch.float32 or t.device.type != "cpu":
        raise ValueError("native kernels take float32 CPU tensors")
    return ctypes.cast(t.data_ptr(), _FLOAT_P)


#: rows x columns of the native kernel's tiles (plus a halo of one pixel per block on each side)
UHD_TILE = (64, 512)


def uhd_fullres(
    x: torch.Tensor,
    grids: torch.Tensor,
    params: dict[str, Any],
    offset: tuple[int, int],
    full_size: tuple[int, int],
    out: torch.Tensor,
    hdr: bool,
    hdr_scale: float,
    hdr_mu: float,
    tile: tuple[int, int] = UHD_TILE,
) -> bool:
    """Fused native full-resolution part of uhd_bilateral on one sample; ``False`` when unavailable.

    ``params`` = ``UHDBilateral._fused_params()`` (BatchNorms folded). The depthwise convolutions
    zero-pad at the border of ``x`` (as the torch kernels do at a region's border). ``x`` and ``out``
    may have any positive strides (e.g. views of HWC arrays): no copy is made of either.

    Shape:
        x: (3, h, w) sRGB-encoded LDR region, grids: (G, 12, D, GH, GW), out: (3, h, w) float32
        (linear HDR if ``hdr`` else the sigmoid output in [0, 1])
    """
    lib = load("uhd_fullres")
    if lib is None:
        return False
    blocks = params["blocks"]
    if not blocks or any(len(convs) != 3 or convs[1][0].dim() != 4 for convs, _ in blocks):
        return False  # only expand > 1 blocks (expand, depthwise, project) have a native kernel
    g = grids.float().contiguous()
    n_g, n_c, d, gh, gw = g.shape
    w1, b1, w2, b2 = (t.float().contiguous() for t in params["guide"])
    wi, bi = (t.float().contiguous() for t in params["fuse_in"])
    wo, bo = (t.float().contiguous() for t in params["fuse_out"])
    if n_c != 12 or x.shape[0] != 3 or wi.shape[1] != 3 * n_g or wi.shape[0] > 64 or w2.shape[0] > n_g:
        return False
    we = torch.stack([c[0][0] for c, _ in blocks]).float().contiguous()  # (nb, E, F)
    be = torch.stack([c[0][1] for c, _ in blocks]).float().contiguous()
    wd = torch.stack([c[1][0].reshape(c[1][0].shape[0], 9) for c, _ in blocks]).float().contiguous()
    bd = torch.stack([c[1][1] for c, _ in blocks]).float().contiguous()
    wp = torch.stack([c[2][0] for c, _ in blocks]).float().contiguous()  # (nb, F, E)
    bp = torch.stack([c[2][1] for c, _ in blocks]).float().contiguous()
    if we.shape[1] > 256 or wd.shape[1] != we.shape[1] or wp.shape[1] != wi.shape[0]:
        return False
    skip = (ctypes.c_int * len(blocks))(*[int(s) for _, s in blocks])
    xc = x if x.dtype == torch.float32 and min(x.stride()) >= 1 else x.float().contiguous()
    _, h, w = xc.shape
    if out.shape != (3, h, w) or out.dtype != torch.float32 or min(out.stride()) < 1:
        raise ValueError(f"out must be a float32 (3, {h}, {w}) tensor, got {out.dtype} {tuple(out.shape)}")
    lib.uhd_fullres.restype = ctypes.c_int
    lib.uhd_fullres.argtypes = None
    xs, os_ = (ctypes.c_long(v) for v in xc.stride()), (ctypes.c_long(v) for v in out.stride())
    rc = lib.uhd_fullres(
        _p(xc), h, w, *xs, int(offset[0]), int(offset[1]), int(full_size[0]), int(full_size[1]),
        _f(w1), _f(b1), w1.shape[0], _f(w2), _f(b2), w2.shape[0],
        _f(g), n_g, d, gh, gw,
        _f(wi), _f(bi), wi.shape[0],
        len(blocks), we.shape[1], _f(we), _f(be), _f(wd), _f(bd), _f(wp), _f(bp), ctypes.cast(skip, _INT_P),
        _f(wo), _f(bo),
        int(hdr), ctypes.c_float(hdr_scale), ctypes.c_float(hdr_mu),
        _p(out), *os_, int(tile[0]), int(tile[1]), max(torch.get_num_threads(), 1),
    )
    return rc == 0
