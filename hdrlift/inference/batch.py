"""Batch prediction over files: background decoding, per-file errors, resumable, sharded by rank.

Under ``torchrun`` (``WORLD_SIZE`` > 1) rank ``r`` processes files ``r, r + world, ...`` of the sorted
list, so each file is processed exactly once across all processes and nodes.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError


def shard(files: list[Path], rank: int | None = None, world: int | None = None) -> list[Path]:
    """Files for this rank (from ``RANK``/``WORLD_SIZE`` when not given)."""
    world = int(os.environ.get("WORLD_SIZE", "1")) if world is None else world
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    return sorted(files)[rank::world] if world > 1 else list(files)


def _read(path: Path, max_pixels: int | None) -> Any:
    from hdrlift.io import check_size
    from hdrlift.io.ldr import read_photo

    img = read_photo(path, max_pixels=max_pixels)  # HDR files refused, never clipped
    check_size(img, path, max_pixels=max_pixels)
    return img


def predict_files(
    files: list[Path],
    method: str = "default",
    out: str | None = None,
    fmt: str = "exr",
    preview: bool = True,
    overwrite: bool = False,
    skip_existing: bool = False,
    device: str = "auto",
    tile: int | None = None,
    strategy: str = "tile",
    precision: str = "auto",
    max_pixels: int | None = None,
    half: bool = True,
    debug: bool = False,
    progress: bool = True,
    max_memory: int | None = None,
    roots: dict[Path, Path] | None = None,
    options: dict[str, Any] | None = None,
    blend: str = "auto",
) -> list[dict[str, Any]]:
    """Predict every file; one failing file is reported (one line, file named) and the rest go on.

    Output names and refusals follow :mod:`hdrlift.inference.outputs` (an input is never overwritten;
    ``roots`` = {file: folder it was found in} keeps sub-folders below ``out``); ``options`` go to
    :func:`~hdrlift.inference.outputs.write_outputs` (compression, peak_nits, max_boost, bits); ``blend``
    goes to the :class:`~hdrlift.inference.predictor.Predictor` (auto | none | TAU,MID)."""
    from hdrlift.inference.outputs import plan_outputs, provenance, write_outputs
    from hdrlift.inference.predictor import Predictor, set_threads

    files = shard(list(files))
    results: list[dict[str, Any]] = []
    todo: list[tuple[Path, dict[str, Path]]] = []
    plans, refused = plan_outputs(files, out, fmt, preview, roots)
    for f in files:
        if f in refused:
            print(f"hdrlift: error: {refused[f]}", file=sys.stderr)
            results.append({"input": str(f), "status": "error", "error": refused[f]})
            continue
        paths = plans[f]
        existing = [p for p in paths.values() if p.exists()]
        if existing and not overwrite:
            if skip_existing and all(p.exists() for p in paths.values()):
                results.append({"input": str(f), "status": "skipped"})
                continue
            msg = f"{existing[0]}: exists (use --overwrite or --skip-existing)"
            print(f"hdrlift: error: {msg}", file=sys.stderr)
            results.append({"input": str(f), "status": "error", "error": msg})
            continue
        todo.append((f, paths))
    if not todo:
        return results
    set_threads()
    predictor = Predictor(method, device=device, tile=tile, precision=precision, strategy=strategy,
                          max_memory=max_memory, blend=blend)
    bar = None
    if progress and len(todo) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"predict ({predictor.name})", unit="img", file=sys.stderr)
    tile_bar: list[Any] = []
    if progress and len(todo) == 1:  # one large image: a bar over its tiles (only when it is tiled)
        def on_tile(done: int, total: int) -> None:
            if not tile_bar:
                from tqdm import tqdm

                tile_bar.append(tqdm(total=total, desc=f"{todo[0][0].name} ({predictor.name})", unit="tile",
                                     file=sys.stderr, leave=False))
            tile_bar[0].update(done - tile_bar[0].n)

        predictor.on_tile = on_tile

    def say(msg: str) -> None:
        if bar is not None:
            bar.write(f"hdrlift: error: {msg}", file=sys.stderr)
        else:
            print(f"hdrlift: error: {msg}", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(_read, f, max_pixels) for f, _ in todo[:2]]
        for i, (f, paths) in enumerate(todo):
            if i + 2 < len(todo):
                futures.append(pool.submit(_read, todo[i + 2][0], max_pixels))
            t0 = time.perf_counter()
            try:
                img = futures[i].result()
                hdr = predictor(img)
                opts = {**(options or {}), "attributes": provenance(predictor.name, f), "source": f}
                write_outputs(hdr, paths, fmt, overwrite, half, ldr=img, options=opts)
                results.append({"input": str(f), "status": "ok", "outputs": [str(p) for p in paths.values()],
                                "seconds": round(time.perf_counter() - t0, 3), "method": predictor.name})
            except HdrliftError as exc:
                if debug:
                    traceback.print_exc()
                msg = str(exc)
                say(msg)
                results.append({"input": str(f), "status": "error", "error": msg})
            except OSError as exc:  # an output folder that cannot be made, a device as target, ...
                if debug:
                    traceback.print_exc()
                from hdrlift.errors import one_line

                where = getattr(exc, "filename", None) or paths["main"]
                msg = f"{where}: cannot write ({one_line(exc)})"
                say(msg)
                results.append({"input": str(f), "status": "error", "error": msg})
            except MemoryError:
                msg = f"{f}: out of memory (try a smaller --tile)"
                say(msg)
                results.append({"input": str(f), "status": "error", "error": msg})
            futures[i] = None  # type: ignore[call-overload]  # free the decoded image
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for b in tile_bar:
        b.close()
    return results
