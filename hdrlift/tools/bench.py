"""``hdrlift bench``: forward time, peak RSS and arithmetic per model and image size.

Each (model, size) case runs in a fresh Python subprocess (``python -m hdrlift.tools.bench CASE``)
so its peak RSS (``ru_maxrss`` of the child) belongs to that case alone. The child builds a
:class:`~hdrlift.inference.predictor.Predictor` (tiling and memory budget as in ``hdrlift predict``),
runs it once to warm up and then ``runs`` times on a smooth random 8-bit image, and reports the median.

Arithmetic: conv / linear multiply-accumulates are counted with forward hooks on two small inputs and
fitted as ``fixed + per_pixel * H * W`` (the untiled network; tile overlap is extra work, reported as
``tile_overhead``). ``ratio_to_floor`` = time / (GMAC / ``floor_gmac_per_s``), the issue's arithmetic
floor (63 GMAC/s measured for this 2-core CPU).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from hdrlift.errors import ConfigError, HdrliftError
from hdrlift.metrics.ntire import psnr_mu

#: named sizes (H, W)
NAMED_SIZES = {"512": (512, 512), "720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840),
               "uhd": (2160, 3840), "8k": (4320, 7680)}
#: GMAC/s of the arithmetic floor (issue: 63 GMAC/s on the 2-core CPU)
FLOOR_GMAC_PER_S = 63.0


def parse_sizes(text: str) -> list[tuple[str, int, int]]:
    """``"512,1080p,4k,6000x4000"`` -> ``[(label, H, W), ...]`` (``AxB`` is H x W; a bare number is square)."""
    out: list[tuple[str, int, int]] = []
    for item in (s.strip().lower() for s in str(text).split(",")):
        if not item:
            continue
        if item in NAMED_SIZES:
            h, w = NAMED_SIZES[item]
        elif re.fullmatch(r"\d+", item):
            h = w = int(item)
        elif m := re.fullmatch(r"(\d+)x(\d+)", item):
            h, w = int(m.group(1)), int(m.group(2))
        else:
            raise ConfigError(f"bad size '{item}': use 512, 720p, 1080p, 4k, 8k, a number or HxW")
        if h < 1 or w < 1:
            raise ConfigError(f"bad size '{item}'")
        out.append((item, h, w))
    if not out:
        raise ConfigError("no sizes given")
    return out


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of Conv (1-3 D, incl. transposed) and Linear layers in one forward of ``x``."""
    total = 0

    def hook(mod: nn.Module, inp: Any, out: Any) -> None:
        nonlocal total
        if isinstance(mod, nn.modules.conv._ConvNd):
            k = int(np.prod(mod.kernel_size))
            if mod.transposed:
                total += inp[0].numel() * (mod.out_channels // mod.groups) * k
            else:
                total += out.numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def mac_model(model: nn.Module, sizes: tuple[int, int] = (128, 256)) -> tuple[float, float]:
    """``(fixed, per_pixel)`` MACs fitted on two square inputs (sizes multiples of 32)."""
    gen = torch.Generator().manual_seed(0)
    a, b = sizes
    ma = count_macs(model, torch.rand(1, 3, a, a, generator=gen))
    mb = count_macs(model, torch.rand(1, 3, b, b, generator=gen))
    per_px = (mb - ma) / float(b * b - a * a)
    return max(mb - per_px * b * b, 0.0), per_px


def gmac_at(model: nn.Module, h: int, w: int) -> float:
    """GMAC of one untiled forward at ``h`` x ``w``."""
    fixed, per_px = mac_model(model)
    return (fixed + per_px * h * w) / 1e9


def _load(name: str) -> Any:
    """An architecture name -> random-init model; otherwise a method name / checkpoint."""
    from hdrlift.inference.methods import Method, resolve_method
    from hdrlift.models import create_model, list_models

    if name in {s.name for s in list_models()}:
        model = create_model(name).eval()
        return Method(name=name, kind="network", fn=model, model=model)
    return resolve_method(name, "cpu")


def bench_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random 8-bit sRGB image with some clipped areas (HWC uint8)."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(h // 32, 2), max(w // 32, 2), 3), dtype=np.float32) * 1.3
    ys = np.linspace(0, small.shape[0] - 1, h).astype(np.int64)
    xs = np.linspace(0, small.shape[1] - 1, w).astype(np.int64)
    img = small[ys][:, xs]
    img += rng.normal(0.0, 0.02, size=(h, w, 3)).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def run_case(model: str, h: int, w: int, runs: int = 3, tile: int | None = None, strategy: str = "tile",
             device: str = "cpu", max_memory: str | int | None = None, threads: int | None = None,
             precision: str = "auto", kernels: str = "auto", blend: str = "auto") -> dict[str, Any]:
    """Time one (model, size) case in *this* process (the bench calls it in a fresh subprocess).

    ``blend`` as for :class:`~hdrlift.inference.predictor.Predictor`: ``auto`` (the default) times what ``hdrlift
    predict`` runs, the network and the blend its weight declares; ``none`` the network alone. The row names the
    blend (``blend``: ``none`` or the ``TAU,MID,SIGMA,DETAIL,HIGHLIGHT`` that ran) and the kernel that ran
    (``kernel``: its name; ``kernel_info``: name, kind, dtype, options and, for native kernels, the compiler and
    flags of the build)."""
    import resource

    from hdrlift.inference.predictor import Predictor, set_threads
    from hdrlift.inference.strategies import size_requirements, tile_context
    from hdrlift.inference.tiling import tile_count, tile_input_pixels

    set_threads(threads)
    method = _load(model)
    pred = Predictor(method, device=device, tile=tile, strategy=strategy, max_memory=max_memory,
                     precision=precision, kernels=kernels, blend=blend)
    img = bench_image(h, w)
    t0 = time.perf_counter()
    chosen = pred.tile_for(h, w)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(max(int(runs), 1) + 1):
        t0 = time.perf_counter()
        pred(img)
        times.append(time.perf_counter() - t0)
    if pred.last_tile is not None:  # what the runs used (chosen with the decoded image in memory)
        chosen = pred.last_tile
    row: dict[str, Any] = {
        "median_s": statistics.median(times[1:]), "first_s": times[0], "setup_s": setup,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(), "tile": chosen, "precision": pred.precision,
        "kernel": pred.kernel.name if pred.kernel is not None else "operator",
        "kernel_info": pred.kernel.info() if pred.kernel is not None else None,
        "blend": "none" if pred.blend is None else ",".join(
            f"{v:g}" if isinstance(v, float) else str(v) for v in (*pred.blend, pred.detail, pred.highlight)),
    }
    row["tiles"], row["tile_overhead"] = 1, 1.0
    if method.model is not None and 0 < chosen < max(h, w) and strategy == "tile":
        net = method.model
        size = size_requirements(net)
        ctx = tile_context(net)
        row["tiles"] = tile_count(h, w, chosen, ctx, multiple=size.multiple)
        row["tile_overhead"] = tile_input_pixels(h, w, chosen, ctx, multiple=size.multiple) / float(h * w)
    return row


def run_bench(
    models: list[str],
    sizes: list[tuple[str, int, int]],
    runs: int = 3,
    tile: int | None = None,
    strategy: str = "tile",
    device: str = "cpu",
    max_memory: str | int | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    floor_gmac_per_s: float = FLOOR_GMAC_PER_S,
    progress: bool = True,
    precision: str = "auto",
    kernels: str = "auto",
    blend: str = "auto",
) -> list[dict[str, Any]]:
    """One row per (model, size): model, size, h, w, median_s, peak_rss_mb, gmac, gmac_per_s,
    ratio_to_floor, tile, tiles, tile_overhead, kernel, kernel_info, blend (or ``error``). Each case runs in a
    fresh subprocess; ``kernels`` = :data:`hdrlift.kernels.CHOICES` and ``blend`` as for the Predictor."""
    rows: list[dict[str, Any]] = []
    for name in models:
        name = name.strip()
        try:
            method = _load(name)
        except HdrliftError as exc:
            rows.append({"model": name, "error": str(exc)})
            continue
        mac = mac_model(method.model) if method.model is not None else None
        del method
        for label, h, w in sizes:
            case = {"model": name, "h": h, "w": w, "runs": runs, "tile": tile, "strategy": strategy,
                    "device": device, "max_memory": max_memory, "threads": threads, "precision": precision,
                    "kernels": kernels, "blend": blend}
            row: dict[str, Any] = {"model": name, "size": label, "h": h, "w": w, "strategy": strategy,
                                   "precision": precision, "kernels": kernels}
            if progress:
                print(f"bench: {name} {label} ({h}x{w}) ...", file=sys.stderr, flush=True)
            try:
                res = subprocess.run([sys.executable, "-m", "hdrlift.tools.bench", json.dumps(case)],
                                     capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
                lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
                if res.returncode != 0 or not lines:
                    tail = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
                    if res.returncode in (-9, 137):
                        tail = "killed (out of memory?)"
                    row["error"] = tail
                else:
                    row.update(json.loads(lines[-1]))
            except subprocess.TimeoutExpired:
                row["error"] = f"timeout after {timeout} s"
            if mac is not None:
                row["gmac"] = (mac[0] + mac[1] * h * w) / 1e9
                if "median_s" in row:
                    row["gmac_per_s"] = row["gmac"] / row["median_s"]
                    row["ratio_to_floor"] = row["median_s"] / (row["gmac"] / floor_gmac_per_s)
            rows.append(row)
    return rows


def _main(argv: list[str]) -> int:
    case = json.loads(argv[0])
    try:
        row = _case(case)
    except HdrliftError as exc:  # one line for the parent's error column (a missing native kernel, ...)
        print(f"hdrlift: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(row))
    return 0


def _case(case: dict[str, Any]) -> dict[str, Any]:
    return run_case(case["model"], int(case["h"]), int(case["w"]), runs=int(case.get("runs", 3)),
                    tile=case.get("tile"), strategy=case.get("strategy", "tile"), device=case.get("device", "cpu"),
                    max_memory=case.get("max_memory"), threads=case.get("threads"),
                    precision=case.get("precision", "auto"), kernels=case.get("kernels", "auto"),
                    blend=case.get("blend", "auto"))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


def compare_strategies(model: str, ldr: np.ndarray, tile: int, strategies: tuple[str, ...] = ("tile", "deu", "ses"),
                       threads: int | None = None) -> list[dict[str, Any]]:
    """Quality (vs the untiled output of the same model) and time of large-image strategies.

    Rows: strategy, tile, seconds, psnr_mu (dB, :func:`hdrlift.metrics.ntire.psnr_mu` with the untiled
    output as the reference; inf = identical), max_rel_err (relative to the reference
    maximum), in this process.

    Shape:
        ldr: (H, W, 3) sRGB-encoded LDR (uint8 or float in [0, 1])
    """
    from hdrlift.inference.predictor import Predictor, set_threads

    set_threads(threads)
    method = _load(model)
    t0 = time.perf_counter()
    ref = Predictor(method, device="cpu", tile=0)(ldr)
    rows = [{"model": model, "strategy": "untiled", "tile": 0, "seconds": time.perf_counter() - t0,
             "psnr_mu": float("inf"), "max_rel_err": 0.0}]
    for s in strategies:
        pred = Predictor(method, device="cpu", tile=tile, strategy=s)
        t0 = time.perf_counter()
        out = pred(ldr)
        dt = time.perf_counter() - t0
        rows.append({"model": model, "strategy": s, "tile": tile, "seconds": dt, "psnr_mu": psnr_mu(ref, out),
                     "max_rel_err": float(np.abs(out - ref).max() / max(float(ref.max()), 1e-8))})
    return rows
