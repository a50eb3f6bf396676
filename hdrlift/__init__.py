"""hdrlift: single-image LDR -> HDR reconstruction.

Public API (kept light: ``import hdrlift`` does not import torch)::

    hdrlift.read_image(path)            -> float32 HWC sRGB-encoded LDR in [0,1] (or linear HDR)
    hdrlift.write_image(path, hdr)      -> writes EXR / HDR / 16-bit PNG by extension
    hdrlift.reconstruct(img_or_path, method="default") -> float32 HWC linear HDR (1.0 = clipping)
    hdrlift.load_model(name_or_path)    -> torch module
    hdrlift.list_models()               -> registered architectures
"""

from __future__ import annotations

from typing import Any

from hdrlift._version import __version__

__all__ = ["__version__", "list_models", "load_model", "read_image", "reconstruct", "write_image"]


def read_image(path: Any, **kwargs: Any) -> Any:
    """Read an image file; see :func:`hdrlift.io.read_image`."""
    from hdrlift.io import read_image as _read

    return _read(path, **kwargs)


def write_image(path: Any, image: Any, **kwargs: Any) -> Any:
    """Write an image file atomically; see :func:`hdrlift.io.write_image`."""
    from hdrlift.io import write_image as _write

    return _write(path, image, **kwargs)


def reconstruct(image_or_path: Any, method: str = "default", **kwargs: Any) -> Any:
    """LDR photo (path or float32/uint8 HWC array) -> linear HDR float32 HWC numpy array.

    ``method`` is a classical operator name, a registered architecture with shipped weights, a
    pretrained name (``arch.tag``), a checkpoint directory, or ``"default"``.
    See :func:`hdrlift.inference.reconstruct`.
    """
    from hdrlift.inference.api import reconstruct as _reconstruct

    return _reconstruct(image_or_path, method=method, **kwargs)


def load_model(name_or_path: Any, **kwargs: Any) -> Any:
    """Load a checkpoint directory or a shipped pretrained name; see :mod:`hdrlift.checkpoint`."""
    from hdrlift.checkpoint import load_model as _load

    return _load(name_or_path, **kwargs)


def list_models() -> Any:
    """Registered architectures; see :func:`hdrlift.models.list_models`."""
    from hdrlift.models import list_models as _list

    return _list()
