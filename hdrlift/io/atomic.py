"""Atomic file output: write to a temporary file in the target folder, then ``os.replace``.

An existing output raises ``ImageWriteError("<path>: exists (use --overwrite)")`` unless
``overwrite=True``; on any failure the temporary file is removed, so no partial file remains.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from hdrlift.errors import HdrliftError, ImageWriteError

from ._common import PathLike


def check_writable(path: PathLike, overwrite: bool) -> str:
    """Return ``str(path)`` after the checks every writer does first (exists, folder, directory)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        raise ImageWriteError(f"{p}: is a directory")
    if os.path.lexists(p) and not overwrite:
        raise ImageWriteError(f"{p}: exists (use --overwrite)")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise ImageWriteError(f"{p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ImageWriteError(f"{p}: permission denied (folder {parent} is not writable)")
    return p


@contextmanager
def atomic_output(path: PathLike, *, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps the extension (``.name.<random>.tmp.png``) for writers that look at it.
    Errors raised inside the block become :class:`ImageWriteError` naming ``path``.
    """
    p = check_writable(path, overwrite)
    head, tail = os.path.split(os.path.abspath(p))
    root, ext = os.path.splitext(tail)
    tmp = os.path.join(head, f".{root}.{uuid.uuid4().hex[:10]}.tmp{ext}")
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise ImageWriteError(f"{p}: the writer produced no file")
        if os.path.lexists(p) and not overwrite:  # appeared meanwhile
            raise ImageWriteError(f"{p}: exists (use --overwrite)")
        os.replace(tmp, p)
    except HdrliftError:
        _remove(tmp)
        raise
    except PermissionError:
        _remove(tmp)
        raise ImageWriteError(f"{p}: permission denied") from None
    except Exception as e:  # any codec/IO failure: one line, no partial file
        _remove(tmp)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageWriteError(f"{p}: cannot write ({msg})") from e


def _remove(tmp: str) -> None:
    try:
        os.remove(tmp)
    except OSError:
        pass
