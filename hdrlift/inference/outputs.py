"""Output files of a prediction: names per format, atomic writing of the HDR and its preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = {"exr": ".exr", "hdr": ".hdr", "png16": ".png", "ntire": ".png", "tiff": ".tif", "uhdr": ".jpg"}


def output_paths(src: Path, out: str | None, fmt: str, n_inputs: int, preview: bool) -> dict[str, Path]:
    """Paths written for one input: ``main`` (+ ``ratio`` for NTIRE/png16, ``preview``)."""
    ext = FORMATS[fmt]
    if out and n_inputs == 1 and Path(out).suffix.lower() in {".exr", ".hdr", ".png", ".tif", ".tiff", ".jpg"}:
        main = Path(out)
    else:
        d = Path(out) if out else src.parent
        main = d / (src.stem + (".uhdr" if fmt == "uhdr" else "") + ext)
    paths = {"main": main}
    if fmt in ("ntire", "png16"):
        paths["ratio"] = main.with_name(main.stem + "_alignratio.npy")
    if preview:
        paths["preview"] = main.with_name(main.name.split(".")[0] + ".preview.png")
    return paths


def write_outputs(hdr: Any, paths: dict[str, Path], fmt: str, overwrite: bool, half: bool) -> None:
    """Write the HDR in ``fmt`` (+ preview), atomically; nothing is left half-written."""
    import numpy as np

    import hdrlift.io as io

    paths["main"].parent.mkdir(parents=True, exist_ok=True)
    if fmt == "ntire":
        io.write_ntire(paths["main"], np.clip(hdr, 0, None) ** (1 / 2.24), overwrite=overwrite)
    elif fmt == "png16":
        io.write_ntire(paths["main"], np.clip(hdr, 0, None), overwrite=overwrite)
    elif fmt == "exr":
        io.write_image(paths["main"], hdr, overwrite=overwrite, exr_dtype="half" if half else "float")
    elif fmt == "uhdr":
        io.write_image(paths["main"], hdr, overwrite=overwrite, format="uhdr")
    else:
        io.write_image(paths["main"], hdr, overwrite=overwrite)
    if "preview" in paths:
        io.write_preview(paths["preview"], hdr, overwrite=overwrite)
