"""Optional native CPU kernels: C sources compiled on first use with the system compiler, loaded by ctypes.

Used where PyTorch's one-operator-at-a-time execution is bound by memory traffic on tiny channel counts
(the full-resolution part of uhd_bilateral: 8-16 channels per pixel, ~40 operators per tile). The
sources live in ``hdrlift/nn/csrc``; a shared library is built once per machine (``cc -O3
-march=native -fopenmp``, about a second) into ``$HDRLIFT_CACHE/native`` (default
``~/.cache/hdrlift/native``), named by a hash of the source, the flags, the compiler, the CPU and the
hdrlift version, and reused afterwards. Each entry point has a declared ctypes signature (``uhd_fullres``
takes one :class:`UhdArgs` struct whose size and ABI version the C side checks). Without a compiler, on a
build or load error (one warning per process, through ``logging`` as the command line shows it), or with
``HDRLIFT_NATIVE=0``, the library is unavailable and :func:`build` says why; :mod:`hdrlift.kernels` then
picks a torch kernel (same results up to float rounding) or, when native kernels were asked for, raises.
The build record names the compiler (and its version), the flags and the CPU, so a result can be traced
to the build that made it (``-march=native``: float rounding may differ between machines, within the
tolerances the tests hold against the plain torch forward). Nothing is downloaded.

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
from dataclasses import dataclass, field
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


def _compiler_version(cc: str) -> str:
    """First line of ``cc --version`` (empty when it cannot be run)."""
    try:
        res = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (res.stdout.strip().splitlines() or [""])[0]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(cc: str, src: Path, lib: Path, key: str) -> None:
    """Compile ``src`` into ``lib`` (atomically) and write its build record (hash of the built file, the
    compiler and its version, the flags and the CPU it was built on)."""
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
                                       "source": src.name, "compiler": cc,
                                       "compiler_version": _compiler_version(cc), "flags": " ".join(_FLAGS),
                                       "cpu": _cpu_name()}) + "\n")
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


@dataclass(frozen=True)
class Build:
    """Outcome of building and loading one native library.

    Attributes:
        lib: the loaded library with its entry points declared, or ``None`` when unavailable.
        reason: why it is unavailable (one line), ``None`` when loaded.
        record: what built it: ``compiler``, ``compiler_version``, ``flags``, ``cpu``, ``key`` (from its
            build record; empty when unavailable).
        warn: see below.
    """

    lib: ctypes.CDLL | None
    reason: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    #: unavailable for a reason worth a warning (no compiler, failed build or load, untrusted cache), not
    #: by choice (``HDRLIFT_NATIVE=0``) or platform
    warn: bool = False

    def describe(self) -> str:
        """One line: compiler version and flags of the build, or why there is none."""
        if self.lib is None:
            return f"unavailable: {self.reason}"
        r = self.record
        return f"{r.get('compiler_version') or r.get('compiler', 'cc')}, {r.get('flags', ' '.join(_FLAGS))}"


def _unavailable(reason: str) -> Build:
    log.debug("native kernels: %s", reason)
    return Build(None, reason, warn=True)


@functools.cache
def _load_cached(name: str, cache: str) -> Build:
    """Build (if needed), check and load ``csrc/<name>.c`` (once per process and cache folder). Events on
    the way (a cached file ignored and rebuilt, a folder made private) are logged as warnings here; the
    outcome (loaded, or why not) is returned, and whoever falls back on it warns once."""
    cc = compiler()
    if cc is None:
        return _unavailable("no C compiler found (set CC, or install cc/gcc)")
    src = _SRC / f"{name}.c"
    lib, key = library_path(name, Path(cache), cc)
    folder = lib.parent
    try:
        loosened = _private_dir(folder)
    except _Untrusted as exc:
        return _unavailable(f"not using the cache ({exc})")
    except OSError as exc:
        return _unavailable(f"cache {folder} unusable ({exc})")
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
            return _unavailable(f"building {name} with {cc} failed ({exc})")
    try:
        record = _read_record(lib.with_suffix(".json"), key)
        handle = ctypes.CDLL(f"/proc/self/fd/{fd}")
        _DECLARE.get(name, lambda _lib: None)(handle)
    except (OSError, AttributeError, _Untrusted, _Mismatch) as exc:
        return _unavailable(f"loading {lib.name} failed ({exc})")
    finally:
        os.close(fd)
    return Build(handle, None, {k: record.get(k) for k in ("compiler", "compiler_version", "flags", "cpu", "key")})


def build(name: str) -> Build:
    """The compiled library of ``csrc/<name>.c`` (built on first use), or why it is unavailable (no
    warning: :func:`hdrlift.kernels.for_model` warns once when it falls back to a torch kernel, and
    raises when native kernels were asked for)."""
    if not enabled():
        return Build(None, "disabled by HDRLIFT_NATIVE=0")
    if platform.system() != "Linux":
        return Build(None, f"native kernels are built on Linux only (this is {platform.system()})")
    return _load_cached(name, str(cache_dir()))


_WARNED: set[tuple[str, str]] = set()


def load(name: str) -> ctypes.CDLL | None:
    """The compiled library of ``csrc/<name>.c`` (built if needed), or ``None`` when unavailable (with one
    warning per process and reason when that is worth one, see :attr:`Build.warn`)."""
    b = build(name)
    if b.lib is None and b.warn and (name, str(b.reason)) not in _WARNED:
        _WARNED.add((name, str(b.reason)))
        log.warning("native kernels: %s; using the torch kernels", b.reason)
    return b.lib


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
#: ABI version of ``uhd_fullres`` this module was written for (``UHD_ABI`` in csrc/uhd_fullres.c)
UHD_ABI = 2


class _Mismatch(Exception):
    """A loaded library whose entry points do not match their declaration here."""


class UhdArgs(ctypes.Structure):
    """The ``uhd_args`` struct of csrc/uhd_fullres.c, field by field (C types: int, long, float, pointers).

    ``size`` is set to ``ctypes.sizeof(UhdArgs)``; the C side refuses a struct of another size (-3).
    """

    _fields_ = [
        ("size", ctypes.c_long),
        ("x", _FLOAT_P), ("h", ctypes.c_int), ("w", ctypes.c_int),
        ("xs_c", ctypes.c_long), ("xs_r", ctypes.c_long), ("xs_x", ctypes.c_long),
        ("row_off", ctypes.c_int), ("col_off", ctypes.c_int), ("full_h", ctypes.c_int), ("full_w", ctypes.c_int),
        ("gw1", _FLOAT_P), ("gb1", _FLOAT_P), ("ghid", ctypes.c_int),
        ("gw2", _FLOAT_P), ("gb2", _FLOAT_P), ("ng", ctypes.c_int),
        ("grids", _FLOAT_P), ("G", ctypes.c_int), ("D", ctypes.c_int), ("GH", ctypes.c_int), ("GW", ctypes.c_int),
        ("wi", _FLOAT_P), ("bi", _FLOAT_P), ("F", ctypes.c_int),
        ("nb", ctypes.c_int), ("E", ctypes.c_int),
        ("we", _FLOAT_P), ("be", _FLOAT_P), ("wd", _FLOAT_P), ("bd", _FLOAT_P), ("wp", _FLOAT_P), ("bp", _FLOAT_P),
        ("skip", _INT_P),
        ("wo", _FLOAT_P), ("bo", _FLOAT_P),
        ("to_hdr", ctypes.c_int), ("hdr_scale", ctypes.c_float), ("hdr_mu", ctypes.c_float),
        ("out", _FLOAT_P), ("os_c", ctypes.c_long), ("os_r", ctypes.c_long), ("os_x", ctypes.c_long),
        ("band", ctypes.c_int), ("cols", ctypes.c_int), ("nthreads", ctypes.c_int),
    ]


def _declare_uhd(lib: ctypes.CDLL) -> None:
    """Declare the entry points of ``uhd_fullres`` and check the library's ABI version and struct size."""
    lib.uhd_abi.argtypes, lib.uhd_abi.restype = [], ctypes.c_int
    lib.uhd_args_size.argtypes, lib.uhd_args_size.restype = [], ctypes.c_long
    lib.uhd_fullres.argtypes, lib.uhd_fullres.restype = [ctypes.POINTER(UhdArgs)], ctypes.c_int
    abi, size = lib.uhd_abi(), lib.uhd_args_size()
    if abi != UHD_ABI or size != ctypes.sizeof(UhdArgs):
        raise _Mismatch(f"uhd_fullres ABI {abi} with a {size}-byte struct, expected ABI {UHD_ABI} and "
                        f"{ctypes.sizeof(UhdArgs)} bytes")


#: per library: declares its entry points on load (raises :class:`_Mismatch` / AttributeError if they differ)
_DECLARE = {"uhd_fullres": _declare_uhd}

_UHD_ERRORS = {-1: "invalid sizes", -2: "out of memory", -3: "argument struct of another size"}


def uhd_unsupported(params: dict[str, Any], n_grids: int) -> str | None:
    """Why the native kernel cannot run a full-resolution part with these folded parameters (``None``: it can).

    ``params`` as :func:`hdrlift.kernels.uhd_bilateral.fused_params` returns them; ``n_grids`` = grids per
    sample (2: content and colour).
    """
    blocks = params["blocks"]
    if not blocks or any(len(convs) != 3 or convs[1][0].dim() != 4 for convs, _ in blocks):
        return "only inverted-residual blocks with an expansion (fusion_expand > 1) have a native kernel"
    if any(tuple(convs[1][0].shape[-2:]) != (3, 3) for convs, _ in blocks):
        return "only 3x3 depthwise convolutions have a native kernel"
    w1, _, w2, _ = params["guide"]
    wi = params["fuse_in"][0]
    e = blocks[0][0][0][0].shape[0]
    if not 1 <= n_grids <= 4 or wi.shape[1] != 3 * n_grids or w2.shape[0] > n_grids:
        return f"{n_grids} grids and {w2.shape[0]} guides are outside the native kernel's limits (<= 4)"
    if wi.shape[0] > 64 or e > 256 or w1.shape[0] < 1:
        return f"fusion width {wi.shape[0]} (<= 64) or expansion {e} (<= 256) outside the native kernel's limits"
    if any(c[0][0].shape[0] != e or c[2][0].shape[0] != wi.shape[0] for c, _ in blocks):
        return "fusion blocks of different widths have no native kernel"
    return None


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
    lib: ctypes.CDLL | None = None,
) -> None:
    """Fused native full-resolution part of uhd_bilateral on one sample, written into ``out``.

    ``params`` = :func:`hdrlift.kernels.uhd_bilateral.fused_params` (BatchNorms folded; check them with
    :func:`uhd_unsupported` first). The depthwise convolutions zero-pad at the border of ``x`` (as the torch
    kernels do at a region's border). ``x`` and ``out`` may have any positive strides (e.g. views of HWC
    arrays): no copy is made of either. ``lib``: the loaded library (default :func:`load`). Raises
    ``RuntimeError`` when the library is unavailable or the kernel fails, ``ValueError`` on bad arguments.

    Shape:
        x: (3, h, w) sRGB-encoded LDR region, grids: (G, 12, D, GH, GW), out: (3, h, w) float32
        (linear HDR if ``hdr`` else the sigmoid output in [0, 1])
    """
    lib = load("uhd_fullres") if lib is None else lib
    if lib is None:
        raise RuntimeError(f"native uhd_fullres is unavailable ({build('uhd_fullres').reason})")
    g = grids.float().contiguous()
    n_g, n_c, d, gh, gw = g.shape
    why = uhd_unsupported(params, n_g)
    if why is not None or n_c != 12 or x.shape[0] != 3:
        raise ValueError(f"native uhd_fullres: {why or 'grids must have 12 coefficients and x 3 channels'}")
    blocks = params["blocks"]
    w1, b1, w2, b2 = (t.float().contiguous() for t in params["guide"])
    wi, bi = (t.float().contiguous() for t in params["fuse_in"])
    wo, bo = (t.float().contiguous() for t in params["fuse_out"])
    we = torch.stack([c[0][0] for c, _ in blocks]).float().contiguous()  # (nb, E, F)
    be = torch.stack([c[0][1] for c, _ in blocks]).float().contiguous()
    wd = torch.stack([c[1][0].reshape(c[1][0].shape[0], 9) for c, _ in blocks]).float().contiguous()
    bd = torch.stack([c[1][1] for c, _ in blocks]).float().contiguous()
    wp = torch.stack([c[2][0] for c, _ in blocks]).float().contiguous()  # (nb, F, E)
    bp = torch.stack([c[2][1] for c, _ in blocks]).float().contiguous()
    skip = (ctypes.c_int * len(blocks))(*[int(s) for _, s in blocks])
    xc = x if x.dtype == torch.float32 and min(x.stride()) >= 1 else x.float().contiguous()
    _, h, w = xc.shape
    if out.shape != (3, h, w) or out.dtype != torch.float32 or min(out.stride()) < 1:
        raise ValueError(f"out must be a float32 (3, {h}, {w}) tensor, got {out.dtype} {tuple(out.shape)}")
    args = UhdArgs(
        ctypes.sizeof(UhdArgs),
        _p(xc), h, w, *xc.stride(), int(offset[0]), int(offset[1]), int(full_size[0]), int(full_size[1]),
        _f(w1), _f(b1), w1.shape[0], _f(w2), _f(b2), w2.shape[0],
        _f(g), n_g, d, gh, gw,
        _f(wi), _f(bi), wi.shape[0],
        len(blocks), we.shape[1], _f(we), _f(be), _f(wd), _f(bd), _f(wp), _f(bp), ctypes.cast(skip, _INT_P),
        _f(wo), _f(bo),
        int(hdr), float(hdr_scale), float(hdr_mu),
        _p(out), *out.stride(), int(tile[0]), int(tile[1]), max(torch.get_num_threads(), 1),
    )
    rc = lib.uhd_fullres(ctypes.byref(args))
    if rc != 0:
        raise RuntimeError(f"native uhd_fullres failed: {_UHD_ERRORS.get(rc, f'error {rc}')}")
