"""hdrlift: single-image LDR -> HDR reconstruction.

Public API (kept light: ``import hdrlift`` does not import torch until a network is needed)::

    hdrlift.read_image(path)                 -> numpy float32 (H, W, 3): sRGB-encoded LDR in [0, 1], or linear HDR
    hdrlift.reconstruct(image, method=...)   -> linear HDR, the same kind as ``image``: numpy (H, W, 3) /
                                                (B, H, W, 3), torch (3, H, W) / (B, 3, H, W), or a list
    hdrlift.write_image(path, hdr)           -> EXR / HDR / 16-bit PNG / Ultra HDR JPEG by extension, atomically
    hdrlift.create_model(name, pretrained=True) -> torch.nn.Module (shipped weights, or random init)
    hdrlift.load_model(name_or_dir)          -> torch.nn.Module from a checkpoint directory or shipped weight
    hdrlift.list_models()                    -> registered architectures

Example:
    >>> import numpy as np, hdrlift
    >>> photo = np.full((24, 32, 3), 255, np.uint8)    # a burnt-out white photo (uint8 codes)
    >>> hdr = hdrlift.reconstruct(photo, method="linear")
    >>> hdr.dtype, hdr.shape, float(hdr.max())
    (dtype('float32'), (24, 32, 3), 1.0)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hdrlift._version import __version__

if TYPE_CHECKING:
    import numpy as np
    import torch

    from hdrlift.inference.api import create_model, reconstruct
    from hdrlift.models.base import ModelSpec

__all__ = ["__version__", "create_model", "list_models", "load_model", "read_image", "reconstruct", "write_image"]


def __getattr__(name: str) -> Any:
    # reconstruct / create_model live with torch in hdrlift.inference.api: imported on first use
    if name in ("reconstruct", "create_model"):
        from hdrlift.inference import api

        return getattr(api, name)
    raise AttributeError(f"module 'hdrlift' has no attribute {name!r}")


def read_image(path: str | os.PathLike[str], *, alpha: str = "drop", max_pixels: int | None = None,
               allow_nonfinite: bool = False, view: str | None = None) -> np.ndarray:
    """Read an image file to float32 HWC (see :func:`hdrlift.io.read_image`).

    LDR files (JPEG/PNG/TIFF/BMP/WebP) give sRGB-encoded values in [0, 1]; HDR files (EXR, Radiance HDR,
    float TIFF) give linear values >= 0.

    Shape:
        returns (H, W, 3), or (H, W, 4) with ``alpha="keep"`` when the file has alpha.

    Example:
        >>> import os, tempfile, numpy as np, hdrlift
        >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
        >>> hdrlift.write_image(path, np.full((4, 6, 3), 128, np.uint8))
        >>> img = hdrlift.read_image(path)
        >>> img.shape, round(float(img[0, 0, 0]), 4)
        ((4, 6, 3), 0.502)
    """
    from hdrlift.io import read_image as _read

    return _read(path, alpha=alpha, max_pixels=max_pixels, allow_nonfinite=allow_nonfinite, view=view)


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, overwrite: bool = False,
                **options: Any) -> None:
    """Write an image atomically, the format from the extension (see :func:`hdrlift.io.write_image`).

    ``.exr`` (half floats; ``exr_dtype="float"`` for 32-bit), ``.hdr``, ``.png`` (8-bit, or 16-bit for
    uint16), ``.uhdr.jpg`` (Ultra HDR gain-map JPEG), ``.tif`` (float32). An existing file is replaced
    only with ``overwrite=True``; on any error no partial file is left.

    Shape:
        ``image`` (H, W), (H, W, 1|3|4): linear HDR for the HDR formats, sRGB-encoded for 8-bit ones.

    Example:
        >>> import os, tempfile, numpy as np, hdrlift
        >>> path = os.path.join(tempfile.mkdtemp(), "hdr.exr")
        >>> hdrlift.write_image(path, np.full((4, 6, 3), 3.5, np.float32))
        >>> float(hdrlift.read_image(path).max())
        3.5
        >>> hdrlift.write_image(path, np.zeros((4, 6, 3), np.float32))
        Traceback (most recent call last):
        ...
        hdrlift.errors.ImageWriteError: ...hdr.exr: exists (pass overwrite=True to replace it)
    """
    from hdrlift.errors import ImageWriteError
    from hdrlift.io import write_image as _write

    if not overwrite and os.path.lexists(os.fspath(path)) and not os.path.isdir(os.fspath(path)):
        raise ImageWriteError(f"{os.fspath(path)}: exists (pass overwrite=True to replace it)")
    _write(path, image, overwrite=overwrite, **options)


def load_model(name_or_path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """A network from a checkpoint directory or a shipped weight name, in eval mode.

    :func:`create_model` is the one entry point for names (``create_model("hdrunet")`` gives the shipped
    weights); this is the same for a checkpoint directory or ``"arch.tag"``
    (see :func:`hdrlift.checkpoint.load_model`).

    Shape:
        model(x): (B, 3, H, W) sRGB LDR -> (B, 3, H, W) linear HDR.
    """
    from hdrlift.checkpoint import load_model as _load

    return _load(name_or_path, map_location=map_location)


def list_models() -> list[ModelSpec]:
    """Registered architectures (name, paper, default size requirements), see :func:`hdrlift.models.list_models`.

    Example:
        >>> import hdrlift
        >>> "hdrunet" in [m.name for m in hdrlift.list_models()]
        True
    """
    from hdrlift.models import list_models as _list

    return _list()
