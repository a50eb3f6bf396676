"""ONNX export (``hdrlift export MODEL --onnx out.onnx``) with dynamic batch, height and width.

Export uses the TorchScript exporter (``dynamo=False``; no extra dependency). Python-level size logic
inside a model is traced at the example size, so what is traced is the module the model declares as its
exportable form, and what export needs besides is declared with it (the contract of
:class:`~hdrlift.models.base.HDRModel`; nothing here depends on a model's name):

- :meth:`~hdrlift.models.base.HDRModel.export_module`: the module to trace, equal to the model at *any*
  size (default: the model itself). Models with Python padding return a wrapper that pads with
  shape-dependent ops (:class:`~hdrlift.nn.export.DynamicPad`, or the model's own wrapper of its
  primary path); models using ops without ONNX translation return a copy set to trace exportable
  variants (e.g. Jacobi sweeps instead of ``eigh``, :func:`~hdrlift.nn.tucker.jacobi_projector`).
- :attr:`~hdrlift.models.base.HDRModel.export_requirements`
  (:class:`~hdrlift.models.base.ExportRequirements`): the minimum opset (a lower ``opset`` is raised to
  it), a static batch of 1 where the graph needs it, and custom symbolics
  (:class:`~hdrlift.nn.export.OnnxSymbolic`) registered for this export only.

The exportable forms are numerically equal to the PyTorch model up to float rounding (checked by
:func:`verify_onnx` at two sizes). A plain ``nn.Module`` that is not an ``HDRModel`` is traced as is.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hdrlift.errors import ModelError
from hdrlift.models.base import ExportRequirements, HDRModel
from hdrlift.nn.export import registered_symbolics


def load_for_export(model: str | os.PathLike | nn.Module) -> nn.Module:
    """An architecture name (random init), a shipped weight name or a checkpoint dir -> model in eval mode."""
    if isinstance(model, nn.Module):
        return model.eval()
    from hdrlift.models import create_model, list_models

    name = str(model)
    if name in {s.name for s in list_models()} and not Path(name).is_dir():
        return create_model(name).eval()
    from hdrlift.checkpoint import load_model

    return load_model(name, map_location="cpu").eval()


def export_requirements(model: nn.Module) -> ExportRequirements:
    """What exporting ``model`` needs: its declared :class:`ExportRequirements` (defaults for a module
    that is not an :class:`HDRModel`)."""
    return model.export_requirements if isinstance(model, HDRModel) else ExportRequirements()


def export_module(model: nn.Module) -> nn.Module:
    """The module traced for ``model``: its declared exportable form (the module itself when it is not an
    :class:`HDRModel`), in eval mode.

    Shape:
        (B, 3, H, W) sRGB-encoded LDR -> (B, 3, H, W) linear HDR
    """
    return (model.export_module() if isinstance(model, HDRModel) else model).eval()


def export_onnx(
    model: str | os.PathLike | nn.Module,
    out: str | os.PathLike,
    size: tuple[int, int] = (256, 256),
    opset: int = 17,
    verify: bool = True,
) -> dict[str, Any]:
    """Export ``model`` to ONNX with dynamic batch, height and width; returns a summary dict.

    Input ``ldr`` (B, 3, H, W) sRGB-encoded LDR in [0, 1] float32; output ``hdr`` (B, 3, H, W) linear HDR.
    ``opset`` is raised to the model's declared minimum (``export_requirements.min_opset``) when lower;
    the batch is dynamic unless the model declares ``static_batch``. With ``verify`` (needs onnxruntime)
    the ONNX output is compared with PyTorch at ``size`` and at ``size + (7, 5)``.

    Shape:
        ldr: (B, 3, H, W) -> hdr: (B, 3, H, W)
    """
    net = load_for_export(model)
    arch = net.arch if isinstance(net, HDRModel) and net.arch else type(net).__name__
    req = export_requirements(net)
    opset = max(int(opset), int(req.min_opset))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.rand(1, 3, int(size[0]), int(size[1]), generator=torch.Generator().manual_seed(0))
    axes = {2: "height", 3: "width"} if req.static_batch else {0: "batch", 2: "height", 3: "width"}
    t0 = time.perf_counter()
    traced = export_module(net)
    with registered_symbolics(req.symbolics), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                traced, (x,), str(out), dynamo=False, opset_version=opset, input_names=["ldr"],
                output_names=["hdr"], dynamic_axes={"ldr": axes, "hdr": axes},
            )
        except Exception as exc:  # exporter errors come in many types
            raise ModelError(f"ONNX export of '{arch}' failed: {exc}") from exc
        finally:
            net.eval()  # the exporter restores the *wrapper's* mode on the whole tree
    info: dict[str, Any] = {
        "model": str(model) if not isinstance(model, nn.Module) else arch, "arch": arch, "path": str(out),
        "opset": opset, "inputs": {"ldr": [axes.get(0, 1), 3, "height", "width"]},
        "outputs": {"hdr": [axes.get(0, 1), 3, "height", "width"]}, "dynamic_axes": sorted(axes.values()),
        "params": sum(p.numel() for p in net.parameters()), "bytes": out.stat().st_size,
        "export_s": round(time.perf_counter() - t0, 2),
    }
    if verify:
        info.update(verify_onnx(net, out, size))
    return info


def verify_onnx(model: nn.Module, path: str | os.PathLike, size: tuple[int, int] = (256, 256)) -> dict[str, Any]:
    """Max abs / relative difference between onnxruntime (CPU) and PyTorch at two sizes.

    Shape:
        sizes (H, W) and (H + 7, W + 5), batch 1
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    worst_abs, worst_rel, checked = 0.0, 0.0, []
    for h, w in ((int(size[0]), int(size[1])), (int(size[0]) + 7, int(size[1]) + 5)):
        x = torch.rand(1, 3, h, w, generator=gen)
        with torch.inference_mode():
            ref = model(x).float()
        got = torch.from_numpy(sess.run(["hdr"], {"ldr": x.numpy()})[0])
        if got.shape != ref.shape:
            raise ModelError(f"ONNX output shape {tuple(got.shape)} != PyTorch {tuple(ref.shape)} at {h}x{w}")
        d = (got - ref).abs()
        worst_abs = max(worst_abs, float(d.max()))
        worst_rel = max(worst_rel, float((d / (ref.abs() + 1e-3)).max()))
        checked.append(f"{h}x{w}")
    return {"verified_sizes": checked, "max_abs_diff": worst_abs, "max_rel_diff": worst_rel}


def onnx_speed(path: str | os.PathLike, size: tuple[int, int] = (512, 512), runs: int = 3,
               threads: int | None = None) -> float:
    """Median seconds of one onnxruntime CPU run at ``size`` (after one warm-up run)."""
    import statistics

    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, int(size[0]), int(size[1])), dtype=np.float32)
    sess.run(["hdr"], {"ldr": x})
    times = []
    for _ in range(max(int(runs), 1)):
        t0 = time.perf_counter()
        sess.run(["hdr"], {"ldr": x})
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))
