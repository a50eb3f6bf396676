"""Batch prediction over files: background decoding, per-file errors, resumable, explicitly sharded.

``shard=(index, count)`` (``hdrlift predict --shard INDEX/COUNT``) processes files ``index, index + count,
...`` of the sorted list, so ``count`` processes with the indices ``0 .. count - 1`` (``--shard
$RANK/$WORLD_SIZE`` under torchrun, ``$SLURM_PROCID/$SLURM_NTASKS`` under SLURM) process each file exactly
once. Without it every process predicts every input: ``WORLD_SIZE``/``RANK`` in the environment are
never read to drop inputs (a process started by a launcher for another reason would silently skip
files); when ``WORLD_SIZE`` > 1 is set, one warning says so.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdrlift.errors import ConfigError, HdrliftError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def select_shard(files: list[Path], index: int, count: int) -> list[Path]:
    """Files ``index, index + count, ...`` of the sorted ``files`` (all of them, in their order, for
    ``count`` 1); a one-line :class:`ConfigError` unless ``0 <= index < count``."""
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: needs 0 <= INDEX < COUNT")
    return sorted(files)[index::count] if count > 1 else list(files)


def warn_if_launcher_env_ignored(n_files: int) -> bool:
    """Log one warning when ``WORLD_SIZE`` > 1 is set but no shard was given (every process then predicts
    all ``n_files`` inputs). Returns whether it warned."""
    world = os.environ.get("WORLD_SIZE", "")
    if not world.isdigit() or int(world) <= 1:
        return False
    log.warning("WORLD_SIZE=%s is set but predict does not split its inputs by it: this process predicts all %d; "
                "give --shard $RANK/$WORLD_SIZE to share them", world, n_files)
    return True


def _memory_guard(predictor: Any) -> tuple[int, int] | None:
    """(max_memory, bytes hdrlift already holds) of a CPU predictor, for checks before decoding."""
    from hdrlift.inference.memory import current_rss

    if predictor.device.type != "cpu":
        return None
    rss = current_rss()
    if rss is None:
        return None
    return int(predictor.max_memory), max(rss - int(predictor.memory_baseline), 0)


def _read(path: Path, max_pixels: int | None, guard: tuple[int, int] | None = None) -> Any:
    from hdrlift.io import check_size
    from hdrlift.io.api import read_photo
    from hdrlift.io.ldr import peek_size

    if guard is not None:  # refuse before decoding what cannot fit --max-memory at any tile size
        from hdrlift.inference.memory import check_image_memory

        size = peek_size(path)
        if size is not None:
            check_image_memory(path, size[0], size[1], guard[0], guard[1], size[2])
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
    camera: str = "auto",
    shard: tuple[int, int] | None = None,
    kernels: str = "auto",
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """Predict every file; one failing file is reported (one line, file named) and the rest go on.

    Output names and refusals follow :mod:`hdrlift.inference.outputs` (an input is never overwritten;
    ``roots`` = {file: folder it was found in} keeps sub-folders below ``out``); ``options`` go to
    :func:`~hdrlift.inference.outputs.write_outputs` (compression, peak_nits, max_boost, bits); ``blend``
    and ``camera`` go to the :class:`~hdrlift.inference.predictor.Predictor`, so does ``kernels`` (auto | torch |
    native | plain); ``shard`` = ``(index, count)`` keeps only this process's share of the sorted files
    (:func:`select_shard`; None = all files, with :func:`warn_if_launcher_env_ignored`); ``verbose`` prints the
    predictor's setup (method, device, precision, kernel) and a line per image to stderr. Every ok result names
    the ``kernel`` that ran."""
    from hdrlift.inference.outputs import plan_outputs, provenance, write_outputs
    from hdrlift.inference.predictor import Predictor, set_threads

    if shard is None:
        files = list(files)
        warn_if_launcher_env_ignored(len(files))
    else:
        files = select_shard(list(files), *shard)
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
                          max_memory=max_memory, blend=blend, camera=camera, kernels=kernels)
    kernel_name = predictor.kernel.name if predictor.kernel is not None else "operator"
    if verbose:
        print(f"hdrlift: {predictor.describe()}", file=sys.stderr)
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

    guard = _memory_guard(predictor)

    def ahead_ok(path: Path) -> bool:
        """Decode ``path`` while the previous image is processed only when its float copy is small."""
        if guard is None:
            return True
        from hdrlift.inference.memory import READ_AHEAD_SHARE
        from hdrlift.io.ldr import peek_size

        size = peek_size(path)
        return size is not None and 12 * size[0] * size[1] <= READ_AHEAD_SHARE * guard[0]

    with ThreadPoolExecutor(max_workers=1) as pool:
        futures: dict[int, Any] = {0: pool.submit(_read, todo[0][0], max_pixels, guard)}
        for i, (f, paths) in enumerate(todo):
            stage = "decoding"
            if i not in futures:
                futures[i] = pool.submit(_read, f, max_pixels, guard)
            if i + 1 < len(todo) and ahead_ok(todo[i + 1][0]):  # read-ahead of one image, counted small
                futures[i + 1] = pool.submit(_read, todo[i + 1][0], max_pixels, guard)
            t0 = time.perf_counter()
            try:
                stage = "decoding"
                img = futures.pop(i).result()
                stage = "processing"
                hdr: np.ndarray | None = predictor(img)
                opts = {**(options or {}), "attributes": provenance(predictor.name, f), "source": f}
                write_outputs(hdr, paths, fmt, overwrite, half, ldr=img, options=opts)
                seconds = round(time.perf_counter() - t0, 3)
                results.append({"input": str(f), "status": "ok", "outputs": [str(p) for p in paths.values()],
                                "seconds": seconds, "method": predictor.name, "kernel": kernel_name})
                if verbose:
                    tiled = f"tile {predictor.last_tile}" if predictor.last_tile else "whole image"
                    line = f"hdrlift: {f}: {img.shape[1]}x{img.shape[0]}, {tiled}, {seconds:.2f} s"
                    lb = getattr(predictor, "last_blend", None)
                    if lb:
                        curve = "sRGB" if lb["exponent"] is None else f"sRGB ** {lb['exponent']:.3f}"
                        line += f"; blend: photo decoded as {curve}, network detail weight {lb['detail']:.2f}"
                        if lb.get("highlight"):
                            line += f", highlights expanded by {1 + lb['highlight']:.2f}x in log2 above the clip"
                    if bar is not None:
                        bar.write(line, file=sys.stderr)
                    else:
                        print(line, file=sys.stderr)
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
                msg = (f"{f}: out of memory while decoding (the image is too large for this machine's free memory)"
                       if stage == "decoding" else f"{f}: out of memory (try a smaller --tile or --max-memory)")
                say(msg)
                results.append({"input": str(f), "status": "error", "error": msg})
            img = hdr = None  # free this image's buffers before the next one is processed
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for b in tile_bar:
        b.close()
    return results
