"""Optional native CPU kernels: C sources compiled on first use with the system compiler, loaded by ctypes.

Used where PyTorch's one-operator-at-a-time execution is bound by memory traffic on tiny channel counts
(the full-resolution part of uhd_bilateral: 8-16 channels per pixel, ~40 operators per tile). The
sources live in ``hdrlift/nn/csrc``; a shared library is built once per machine (``cc -O3
-march=native -fopenmp``, about a second) into ``$HDRLIFT_CACHE/native`` (default
``~/.cache/hdrlift/native``), named by a hash of the source, the flags, the compiler, the CPU and the
hdrlift version, and reused afterwards. Without a compiler, on a build or load error, or with
``HDRLIFT_NATIVE=0``, callers fall back to their torch kernels (same results up to float rounding).
Nothing is downloaded.

Trust: loading a library runs its code, so a cached file is loaded only when

* the folder ``native/`` is owned by this user with mode 0700 (created so; a folder of another user,
  or one whose parent others can rewrite, is never used: one warning, torch kernels; a folder of this
  user that was open to others is made private and everything in it rebuilt),
* the library and its build record ``<name>-<key>.json`` are regular files of this user, not writable
  by others, the library is not empty, and
* the SHA-256 of the library equals the one recorded when this hdrlift version built it (checked on the
  open descriptor that is then loaded, so the file cannot be swapped in between).

Anything else (a planted or foreign library, a 0-byte or truncated file, a record of another
version) is rebuilt in place, with one warning.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import hmac
import json
import logging
import os
import platform
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

from hdrlift._version import __version__

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
    """Where built libraries are kept: ``$HDRLIFT_CACHE``, else ``$XDG_CACHE_HOME/hdrlift`` or ``~/.cache/hdrlift``.

    The libraries themselves live in the private sub-folder ``native/`` (see :func:`native_dir`).
    """
    root = os.environ.get("HDRLIFT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "hdrlift")
    return Path(root)


def native_dir(cache: Path | None = None) -> Path:
    """The private (0700, owned by this user) folder of the built libraries and their build records."""
    return (cache if cache is not None else cache_dir()) / "native"


def private_cache_subdir(name: str) -> Path | None:
    """``$HDRLIFT_CACHE/<name>``, created 0700 and checked like ``native/`` (owned by this user, parent not
    writable by others); ``None`` (with one warning when someone else's) when it cannot be trusted."""
    d = cache_dir() / name
    try:
        _private_dir(d)
    except _Untrusted as exc:
        log.warning("cache: not using %s (%s)", d, exc)
        return None
    except OSError:
        return None
    return d


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor()


class _Untrusted(Exception):
    """A cache entry that must not be loaded (the message says why)."""


def _private_dir(d: Path) -> bool:
    """Create ``d`` (0700) or check it: owned by this user, no group/other access, parent not open to others.

    Returns ``True`` when ``d`` had to be tightened (it was owned by us but open to others: everything in it
    is then rebuilt). Raises :class:`_Untrusted` when it belongs to someone else or its parent can be
    rewritten by others (such a folder is never used).
    """
    parent = d.parent
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pst = os.stat(parent)
    if pst.st_uid not in (os.getuid(), 0) or (pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX):
        raise _Untrusted(f"{parent} can be changed by other users (owner uid {pst.st_uid}, "
                         f"mode {stat.S_IMODE(pst.st_mode):o})")
    try:
        os.mkdir(d, 0o700)
        return False
    except FileExistsError:
        pass
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode):
        raise _Untrusted(f"{d} is not a directory")
    if st.st_uid != os.getuid():
        raise _Untrusted(f"{d} belongs to uid {st.st_uid}, not to this user ({os.getuid()})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(d, 0o700)
        log.warning("native kernels: %s was open to other users (mode %o); made it private, rebuilding "
                    "its libraries", d, stat.S_IMODE(st.st_mode))
        return True
    return False


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _read_record(rec: Path, key: str) -> dict[str, Any]:
    """The build record of a cached library (written by :func:`_build`), checked for this version and key."""
    try:
        st = os.lstat(rec)
    except FileNotFoundError:
        raise _Untrusted(f"{rec.name} is missing (the library was not built by this hdrlift)") from None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
        raise _Untrusted(f"{rec} is not a private regular file of this user")
    try:
        data = json.loads(rec.read_text())
    except (OSError, ValueError) as exc:
        raise _Untrusted(f"{rec} is unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("hdrlift") != __version__ or data.get("key") != key \
            or not isinstance(data.get("sha256"), str):
        raise _Untrusted(f"{rec} was written by another hdrlift version or for another build")
    return data


def _open_trusted(lib: Path, key: str) -> int:
    """Open the cached library and check it against its build record; returns the open descriptor.

    The hash is computed on the descriptor that is then loaded (``/proc/self/fd/N``), so the file
    cannot be swapped between the check and the load.
    """
    rec = lib.with_suffix(".json")
    record = _read_record(rec, key)
    fd = os.open(lib, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
            raise _Untrusted(f"{lib} is not a private regular file of this user")
        if st.st_size == 0:
            raise _Untrusted(f"{lib} is empty")
        digest = _sha256_fd(fd)
        if not hmac.compare_digest(digest, record["sha256"]):
            raise _Untrusted(f"{lib} does not match its build record (sha256 {digest[:12]}..., "
                             f"recorded {record['sha256'][:12]}...)")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _build(cc: str, src: Path, lib: Path, key: str) -> None:
    """Compile ``src`` into ``lib`` (atomically) and write its build record (hash of the built file)."""
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        tmp_lib = Path(tmp) / lib.name
        res = subprocess.run([cc, *_FLAGS, "-o", str(tmp_lib), str(src), "-lm"],
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise subprocess.SubprocessError((res.stderr.strip().splitlines() or ["cc failed"])[-1])
        os.chmod(tmp_lib, 0o700)
        with open(tmp_lib, "rb") as f:
            digest = _sha256_fd(f.fileno())
        tmp_rec = Path(tmp) / "record.json"
        tmp_rec.write_text(json.dumps({"hdrlift": __version__, "key": key, "sha256": digest,
                                       "source": src.name, "compiler": cc}) + "\n")
        os.chmod(tmp_rec, 0o600)
        # record first: a library without a matching record is never loaded, a record without its
        # library is rebuilt; concurrent builders of the same key produce the same record
        os.replace(tmp_rec, lib.with_suffix(".json"))
        os.replace(tmp_lib, lib)


def library_path(name: str, cache: Path, cc: str) -> tuple[Path, str]:
    """Path of the cached library of ``csrc/<name>.c`` built with compiler ``cc``, and its build key."""
    text = (_SRC / f"{name}.c").read_bytes()
    key = hashlib.sha256(text + " ".join(_FLAGS).encode() + _cpu_id().encode() + cc.encode()
                         + __version__.encode()).hexdigest()[:16]
    return native_dir(cache) / f"{name}-{key}.so", key


def compiler() -> str | None:
    """The C compiler used for the native kernels (``$CC``, else ``cc`` or ``gcc`` on the PATH)."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


@functools.cache
def _load_cached(name: str, cache: str) -> ctypes.CDLL | None:
    cc = compiler()
    if cc is None:
        log.info("native kernels: no C compiler found, using the torch kernels")
        return None
    src = _SRC / f"{name}.c"
    lib, key = library_path(name, Path(cache), cc)
    folder = lib.parent
    try:
        loosened = _private_dir(folder)
    except _Untrusted as exc:
        log.warning("native kernels: not using the cache (%s); using the torch kernels", exc)
        return None
    except OSError as exc:
        log.info("native kernels: cache %s unusable (%s), using the torch kernels", folder, exc)
        return None
    fd = None
    if not loosened:
        try:
            fd = _open_trusted(lib, key)
        except FileNotFoundError:
            pass
        except _Untrusted as exc:
            if os.path.lexists(lib):
                log.warning("native kernels: ignoring cached %s (%s); rebuilding it", lib.name, exc)
        except OSError as exc:
            log.warning("native kernels: ignoring cached %s (%s); rebuilding it", lib.name, exc)
    if fd is None:
        try:
            _build(cc, src, lib, key)
            fd = _open_trusted(lib, key)
        except (OSError, subprocess.SubprocessError, _Untrusted) as exc:
            log.info("native kernels: building %s failed (%s), using the torch kernels", name, exc)
            return None
    try:
        return ctypes.CDLL(f"/proc/self/fd/{fd}")
    except OSError as exc:
        log.info("native kernels: loading %s failed (%s), using the torch kernels", lib, exc)
        return None
    finally:
        os.close(fd)


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
