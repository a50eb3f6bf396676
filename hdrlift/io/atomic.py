"""Atomic file output: the one writer every hdrlift file goes through.

A file is written to a temporary name in the target folder, flushed to disk (``fsync``), renamed over
the target with ``os.replace`` and the folder fsynced, so a reader (or a machine that loses power)
sees the old file or the complete new one, never a partial one.

* An existing output raises ``ImageWriteError("<path>: exists (use --overwrite)")`` unless
  ``overwrite=True``; a target that exists and is not a regular file (a device such as ``/dev/full``,
  a FIFO) is always refused.
* The temporary file is removed on every exit path: an error of the writer, ``KeyboardInterrupt``
  (Ctrl-C), ``SystemExit``, and SIGTERM: while a write is in progress in the main thread and nobody
  else has installed a SIGTERM handler, a handler removes the temporary files being written and
  raises ``SystemExit(143)`` so every other clean-up runs too. Only SIGKILL (or a power cut) can leave
  a temporary file behind; it never has the target's name.
* Temporary names are ``.<stem>.<10 hex>.hdrlift-tmp<ext>`` (hidden, extension kept for writers that
  look at it). :func:`is_temp_name` recognises them (and the ``.tmp<ext>`` names of hdrlift 0.1.0) so
  folder listings skip them.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from hdrlift.errors import HdrliftError, ImageWriteError, one_line

from ._common import PathLike

_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{10}\.(?:hdrlift-tmp|tmp)(?:\.[^./\\]*)?$")

_lock = threading.Lock()
_active: set[str] = set()
_handler_installed = False


def temp_name(path: PathLike) -> str:
    """A fresh temporary path next to ``path`` (``.<stem>.<10 hex>.hdrlift-tmp<ext>``)."""
    head, tail = os.path.split(os.path.abspath(os.fspath(path)))
    root, ext = os.path.splitext(tail)
    return os.path.join(head, f".{root}.{uuid.uuid4().hex[:10]}.hdrlift-tmp{ext}")


def is_temp_name(name: str | PathLike) -> bool:
    """Whether a file name is one of the atomic writer's temporary names (never an input)."""
    return bool(_TEMP_RE.match(os.path.basename(os.fspath(name))))


def check_writable(path: PathLike, overwrite: bool) -> str:
    """Return ``str(path)`` after the checks every writer does first (exists, folder, directory)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        raise ImageWriteError(f"{p}: is a directory")
    if os.path.lexists(p):
        try:
            st = os.stat(p)
        except OSError:
            st = None  # a dangling link: replacing the link itself is fine
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ImageWriteError(f"{p}: exists and is not a regular file (a device, FIFO or socket)")
        if not overwrite:
            raise ImageWriteError(f"{p}: exists (use --overwrite)")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise ImageWriteError(f"{p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ImageWriteError(f"{p}: permission denied (folder {parent} is not writable)")
    return p


def _remove(tmp: str) -> None:
    try:
        os.remove(tmp)
    except OSError:
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Remove every temporary file being written, then exit through ``SystemExit`` (clean-ups run)."""
    with _lock:
        pending = list(_active)
    for tmp in pending:
        _remove(tmp)
    raise SystemExit(128 + signum)


def _register(tmp: str) -> Any:
    """Record ``tmp`` as being written; install the SIGTERM handler when this is the first write of the
    main thread and SIGTERM still has its default action. Returns the handler to restore (or None)."""
    global _handler_installed
    with _lock:
        _active.add(tmp)
        if _handler_installed or threading.current_thread() is not threading.main_thread():
            return None
        try:
            if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
                return None  # the application handles SIGTERM itself
            signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError, AttributeError):  # no signals here (not the main interpreter)
            return None
        _handler_installed = True
        return signal.SIG_DFL


def _unregister(tmp: str, restore: Any) -> None:
    global _handler_installed
    with _lock:
        _active.discard(tmp)
        if restore is not None and _handler_installed:
            try:
                signal.signal(signal.SIGTERM, restore)
            except (ValueError, OSError):
                pass
            _handler_installed = False


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some platforms cannot open folders; the rename is still atomic
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: PathLike, *, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The block writes the temporary file (any writer, by name); afterwards it is fsynced, renamed over
    ``path`` and the folder fsynced. Errors raised inside the block become :class:`ImageWriteError`
    naming ``path`` in one line; on any exit other than success (errors, Ctrl-C, SIGTERM) the temporary
    file is removed.
    """
    p = check_writable(path, overwrite)
    tmp = temp_name(p)
    restore = _register(tmp)
    done = False
    try:
        try:
            yield tmp
            if not os.path.exists(tmp):
                raise ImageWriteError(f"{p}: the writer produced no file")
            if os.path.lexists(p) and not overwrite:  # appeared meanwhile
                raise ImageWriteError(f"{p}: exists (use --overwrite)")
            _fsync_path(tmp)
            os.replace(tmp, p)
            done = True
            _fsync_path(os.path.dirname(os.path.abspath(p)), directory=True)
        except HdrliftError:
            raise
        except PermissionError:
            raise ImageWriteError(f"{p}: permission denied") from None
        except Exception as e:  # any codec/IO failure: one line, no partial file
            raise ImageWriteError(f"{p}: cannot write ({one_line(e)})") from e
    finally:
        if not done:
            _remove(tmp)
        _unregister(tmp, restore)


def write_bytes_atomic(path: PathLike, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_output` (fsynced, no partial file on any exit)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
