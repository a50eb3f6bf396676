"""Exceptions of hdrlift.

Every error a user can cause (bad file, bad option, unknown model) is an :class:`HdrliftError`
subclass with a one-line message that names the file or value at fault. The CLI prints the message
without a traceback (``--debug`` shows it) and exits with code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


class HdrliftError(Exception):
    """Base class of every error hdrlift raises on purpose."""


class ImageReadError(HdrliftError):
    """A file could not be read as an image (missing, empty, truncated, wrong format, bad values)."""


class ImageWriteError(HdrliftError):
    """An output could not be written (exists without overwrite, unsupported format, IO error)."""


class ImageSizeError(HdrliftError):
    """An image is too small or larger than the configured pixel limit."""


class ModelError(HdrliftError):
    """Unknown model name, bad hyper-parameters or an invalid checkpoint."""


class KernelError(HdrliftError):
    """An inference kernel that was asked for cannot run (unknown choice, no native kernel, failed build)."""


class ConfigError(HdrliftError):
    """A configuration file or override is invalid (unknown key, wrong type)."""


class DataError(HdrliftError):
    """A dataset folder or pair is invalid (unmatched, size mismatch, NaN/Inf)."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """A third-party exception as one printable line: its first non-empty line, control characters
    (terminal escapes) removed, at most ``limit`` characters.

    A pickle that ``torch.load(weights_only=True)`` refused becomes a plain statement of that refusal
    naming the blocked global, never torch's advice to retry with ``weights_only=False``.
    """
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07?", "", str(exc))
    if type(exc).__name__ == "UnpicklingError":
        m = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (it references {m.group(1)})" if m else ""
        return f"refused to unpickle: the file holds Python objects other than tensors{what}; not a plain weights file"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    clean = "".join(ch for ch in first if ch.isprintable())
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def run_script(main: Callable[[], int | None]) -> NoReturn:
    """Run a benchmark or script ``main`` and exit with its code; an :class:`HdrliftError` (bad path or data) exits
    with one line ``error: <message>`` and no traceback, as the CLI does."""
    import sys

    try:
        code = main()
    except HdrliftError as e:
        sys.exit(f"error: {e}")
    sys.exit(code or 0)
