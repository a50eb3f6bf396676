"""Exceptions of hdrlift.

Every error a user can cause (bad file, bad option, unknown model) is an :class:`HdrliftError`
subclass with a one-line message that names the file or value at fault. The CLI prints the message
without a traceback (``--debug`` shows it) and exits with code 1.
"""

from __future__ import annotations


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


class ConfigError(HdrliftError):
    """A configuration file or override is invalid (unknown key, wrong type)."""


class DataError(HdrliftError):
    """A dataset folder or pair is invalid (unmatched, size mismatch, NaN/Inf)."""
