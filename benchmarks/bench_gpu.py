"""GPU timings and the accuracy of reduced precision on a CUDA machine (one prepared run).

    python benchmarks/bench_gpu.py --sizes 1080p,4k --runs 10 --out gpu.json

For every model (shipped weights, or an architecture name for random initialisation) and size:

* forward time of the network alone (input already on the GPU; ``torch.cuda.synchronize`` around each
  call; median of ``--runs`` after two warm-ups) and peak GPU memory (``max_memory_allocated``) for
  these variants:
  ``fp32-strict`` float32 NCHW with TF32 disabled (the accuracy reference),
  ``fp32`` float32 channels-last with PyTorch's default TF32 convolutions (what ``hdrlift predict
  --device cuda`` runs), ``bf16`` / ``fp16`` channels-last under ``torch.autocast``;
* PSNR-mu of every variant's output against ``fp32-strict`` (how much accuracy the faster variants
  give up), on a natural photo (scikit-image's ``astronaut`` brightened so its highlights clip,
  resized to the size; the synthetic bench image without scikit-image);
* end to end: ``Predictor(device="cuda")`` on the 8-bit HWC image (host to device, network, result back
  to host as float32 HWC), median of ``--runs``;
* once per model, GPU against CPU: PSNR-mu and the largest relative difference between the GPU
  ``fp32-strict`` output and the CPU float32 output (the CPU's own fused / native kernels) at 256x384.

Rows are printed as a table and written as JSON (``--out``). Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hdrlift.metrics.ntire import psnr_mu
from hdrlift.tools.bench import bench_image, mac_model, parse_sizes
from hdrlift.tools.evaluate import format_table

MODELS = "uhd_bilateral,uhd_bilateral.polyhaven,hdrunet.polyhaven,twostage.polyhaven,duhdr.polyhaven"
VARIANTS = ("fp32-strict", "fp32", "bf16", "fp16")
#: extra variant of models with the row-chunked folded kernel (uhd_bilateral): the CPU's row chunk on the GPU
CHUNK_VARIANT = "fp32-cpu-chunk"


def photo(h: int, w: int) -> np.ndarray:
    """8-bit sRGB test photo of size h x w (HWC uint8) with clipped highlights."""
    try:
        from skimage import data
    except ImportError:
        return bench_image(h, w)
    t = torch.from_numpy(data.astronaut().astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    t = F.interpolate(t, size=(h, w), mode="bicubic", align_corners=False)
    a = (t * 1.35).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return (a * 255.0 + 0.5).astype(np.uint8)


def _load(name: str) -> Any:
    from hdrlift.tools.bench import _load as load

    return load(name)


DEV = "cuda"  # --device cpu: a smoke run of this script on a machine without a GPU


def _sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def _set_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def _has_chunk_variant(model: torch.nn.Module) -> bool:
    """Whether ``model`` has the row-chunked folded kernel (uhd_bilateral), timed also with the CPU's chunk."""
    from hdrlift.kernels import registered
    from hdrlift.kernels.uhd_bilateral import UHDFolded

    return UHDFolded in registered(model)


def forward_fn(model: torch.nn.Module, variant: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network alone as ``hdrlift predict`` runs it: the inference kernel for (model, device, precision)
    (:func:`hdrlift.kernels.for_model`), channels-last (NCHW for ``fp32-strict``), autocast for bf16/fp16."""
    from hdrlift.kernels import for_model
    from hdrlift.kernels.uhd_bilateral import UHDFolded

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(variant)
    fmt = torch.contiguous_format if variant == "fp32-strict" else torch.channels_last
    model.to(memory_format=fmt)  # type: ignore[call-overload]  # Module.to takes it; its stubs do not say so
    net: Callable[[torch.Tensor], torch.Tensor]
    if variant == CHUNK_VARIANT:
        net = UHDFolded(model, DEV, "fp32", chunk_pixels=UHDFolded.CPU_CHUNK)
    else:
        net = for_model(model, DEV, {"bf16": "bf16", "fp16": "fp16"}.get(variant, "fp32"))

    def run(x: torch.Tensor) -> torch.Tensor:
        _set_tf32(variant != "fp32-strict")
        with torch.inference_mode(), torch.autocast(DEV, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            return net(x.contiguous(memory_format=fmt)).float()

    return run


def time_cuda(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, runs: int
) -> tuple[float, torch.Tensor, float]:
    """(median seconds, last output, peak GB) of ``fn(x)``."""
    out = fn(x)
    out = fn(x)
    _sync()
    if DEV == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        del out
        _sync()
        t0 = time.perf_counter()
        out = fn(x)
        _sync()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 1e9 if DEV == "cuda" else float("nan")
    return statistics.median(times), out, peak


def hwc(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t[0].permute(1, 2, 0).clamp(min=0).float().cpu().numpy())


def gpu_vs_cpu(name: str) -> dict[str, Any]:
    """GPU fp32-strict vs CPU float32 output of ``name`` at 256x384."""
    img = photo(256, 384)
    x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    from hdrlift.kernels import for_model

    model = _load(name).model.eval()
    with torch.inference_mode():
        ref = for_model(model, "cpu", "fp32")(x).float()
    model = model.to(DEV)
    out = forward_fn(model, "fp32-strict")(x.to(DEV)).cpu()
    rel = ((out - ref).abs().max() / ref.abs().max().clamp(min=1e-12)).item()
    return {"model": name, "size": "256x384", "variant": "gpu-vs-cpu", "psnr_mu_vs_ref": psnr_mu(hwc(ref), hwc(out)),
            "max_rel_diff": rel}


def profile(model: torch.nn.Module, x: torch.Tensor, rows: int = 18) -> str:
    """Top GPU kernels of one ``fp32`` forward (torch.profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    fn = forward_fn(model, "fp32")
    fn(x)
    _sync()
    with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        fn(x)
        _sync()
    return p.key_averages().table(sort_by="cuda_time_total" if DEV == "cuda" else "cpu_time_total", row_limit=rows)


def e2e_parts(pred: Any, img: np.ndarray, name: str, label: str, runs: int) -> dict[str, Any]:
    """Where the end-to-end time goes: input to the device, network, result back to a host array."""
    from hdrlift.inference.predictor import _float01_on, _hwc_to_host

    parts: dict[str, list[float]] = {"in_ms": [], "run_ms": [], "out_ms": []}
    with torch.inference_mode():
        for _ in range(runs):
            t0 = time.perf_counter()
            x = _float01_on(img, pred.device)
            _sync()
            t1 = time.perf_counter()
            y = pred._run(x)
            _sync()
            t2 = time.perf_counter()
            _hwc_to_host(y)
            t3 = time.perf_counter()
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[k].append(v * 1e3)
    return {"model": name, "size": label, "variant": "predict-e2e-parts",
            **{k: statistics.median(v) for k, v in parts.items()}}


def bench_model(name: str, sizes: list[tuple[str, int, int]], runs: int, variants: tuple[str, ...] = VARIANTS,
                prof: bool = False) -> list[dict[str, Any]]:
    from hdrlift.inference.predictor import Predictor

    rows = [gpu_vs_cpu(name)]
    method = _load(name)
    model = method.model.eval()
    fixed, per_px = mac_model(model)
    for label, h, w in sizes:
        img = photo(h, w)
        x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
        gmac = (fixed + per_px * h * w) / 1e9
        model = model.to(DEV)
        xg = x.to(DEV)
        ref = None
        todo = list(variants) + ([CHUNK_VARIANT] if _has_chunk_variant(model) and variants else [])
        for variant in todo:
            row: dict[str, Any] = {"model": name, "size": label, "variant": variant, "gmac": gmac}
            try:
                med, out, peak = time_cuda(forward_fn(model, variant), xg, runs)
                y = hwc(out)
                del out
                if ref is None:
                    ref = y
                row.update(median_ms=med * 1e3, peak_gpu_gb=peak, psnr_mu_vs_ref=psnr_mu(ref, y),
                           tflops=(2 * gmac / 1e3 / med) if gmac else None)
            except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - large sizes on small GPUs
                row["error"] = f"out of memory: {str(exc).splitlines()[0]}"
            if DEV == "cuda":
                torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        if prof and (label, h, w) == sizes[-1]:
            print(f"profile of {name} {label} fp32:\n" + profile(model, xg), file=sys.stderr, flush=True)
        _set_tf32(True)
        model.to(memory_format=torch.channels_last)
        pred = Predictor(method, device=DEV, precision="fp32")
        pred(img)
        _sync()
        times = []
        for _ in range(max(runs // 2, 3)):
            t0 = time.perf_counter()
            pred(img)
            times.append(time.perf_counter() - t0)
        rows.append({"model": name, "size": label, "variant": "predict-e2e",
                     "median_ms": statistics.median(times) * 1e3, "tile": pred.tile_for(h, w)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        rows.append(e2e_parts(pred, img, name, label, max(runs // 2, 3)))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        model = model.cpu()
        del pred, xg
        if DEV == "cuda":
            torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--sizes", default="1080p,4k")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", default=None, help="JSON file for the rows")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke run of the script")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="forward variants to time ('none': only the end-to-end Predictor time)")
    ap.add_argument("--profile", action="store_true", help="print the top GPU kernels at the last size")
    args = ap.parse_args(argv)
    global DEV
    DEV = args.device
    if DEV == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device", file=sys.stderr)
        return 2
    sizes = parse_sizes(args.sizes)
    gpu = torch.cuda.get_device_name() if DEV == "cuda" else platform.processor()
    meta = {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"), "runs": args.runs}
    print(json.dumps(meta), file=sys.stderr, flush=True)
    torch.backends.cudnn.benchmark = True
    rows: list[dict[str, Any]] = []
    for name in args.models.split(","):
        try:
            variants = tuple(v for v in args.variants.split(",") if v and v != "none")
            rows += bench_model(name.strip(), sizes, args.runs, variants, args.profile)
        except Exception as exc:  # noqa: BLE001 - one failing model must not lose the others' rows
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    cols = ["model", "size", "variant", "median_ms", "in_ms", "run_ms", "out_ms",
            "peak_gpu_gb", "tflops", "psnr_mu_vs_ref", "max_rel_diff", "tile",
            "error"]
    print(format_table(rows, cols))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
