"""ONNX export (``hdrlift export MODEL --onnx out.onnx``) with dynamic batch, height and width.

Export uses the TorchScript exporter (``dynamo=False``; no extra dependency). Python-level size logic
inside the models is traced at the example size, so every model is exported through a wrapper that
keeps its behaviour at *any* size:

- ``hdrunet``: reflect padding to the size multiple (4) is done by the wrapper with shape-dependent
  ONNX ops (the model's own padding is then a no-op) and the output is cropped back.
- ``twostage``: exported as is (fully convolutional, no padding).
- ``duhdr``: the primary path written out with dynamic padding to 32 (same order of operations as
  ``DuHDR.forward_all``: the CRF is estimated on the un-padded dequantised image). Two helpers are
  substituted during tracing by equal, exportable forms: ``crf_features`` (constant Sobel kernel
  instead of one built from the traced channel count) and ``make_monotonic`` (slice difference instead
  of ``torch.diff``, which ONNX lacks).
- ``uhd_bilateral``: opset >= 20 (5-D ``GridSample`` for trilinear slicing; antialiased ``Resize``
  from opset 18 for the low-resolution branch, registered here for ``_upsample_bilinear2d_aa``).
  The Tucker smoothing's ``eigh`` has no ONNX op: the top-rank eigenspace projectors are computed in
  the graph by a fixed number of parallel cyclic Jacobi sweeps in float64 (:func:`jacobi_projector`,
  converged to about 1e-12 for the 16 x 16 and 8 x 8 mode Gram matrices). Slicing uses the whole-image
  coordinates computed from the traced size (no chunking).

All substitutions are temporary (restored after export) and numerically equal to the PyTorch model
(checked by :func:`verify_onnx` at two sizes).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import ModelError

#: lowest opset that works for each architecture
MIN_OPSET = {"uhd_bilateral": 20}
#: architectures exported with a fixed batch of 1 (uhd_bilateral: a dynamic batch through the unrolled
#: Jacobi sweeps makes onnxruntime's session set-up take seconds instead of a fraction of one)
STATIC_BATCH = {"uhd_bilateral"}
JACOBI_SWEEPS = 6


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


# ----------------------------------------------------------------------------------------------------
# exportable replacements


def _dyn_pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right to a multiple, with pad sizes computed from the (traced) shape."""
    h, w = x.shape[-2], x.shape[-1]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    return F.pad(x, [0, pw, 0, ph], mode="reflect")


def _round_robin(n: int) -> list[list[tuple[int, int]]]:
    """Rounds of disjoint index pairs covering every pair once (circle method; odd n gets a bye)."""
    idx = list(range(n)) + ([-1] if n % 2 else [])
    m = len(idx)
    rounds = []
    for _ in range(m - 1):
        pairs = [(idx[i], idx[m - 1 - i]) for i in range(m // 2)]
        rounds.append([(min(p, q), max(p, q)) for p, q in pairs if p >= 0 and q >= 0])
        idx = [idx[0], idx[-1]] + idx[1:-1]
    return rounds


@functools.lru_cache(maxsize=16)
def _jacobi_tables(n: int) -> list[tuple[np.ndarray, ...]]:
    """Per round: selection rows of a_pq, a_pp, a_qq and the rotation layout, as (k, n*n) matrices."""
    tables = []
    for pairs in _round_robin(n):
        k = len(pairs)
        sel_pq, sel_pp, sel_qq, rot_c, rot_s = (np.zeros((k, n * n)) for _ in range(5))
        for i, (p, q) in enumerate(pairs):
            sel_pq[i, p * n + q] = 1.0
            sel_pp[i, p * n + p] = 1.0
            sel_qq[i, q * n + q] = 1.0
            rot_c[i, p * n + p] = rot_c[i, q * n + q] = 1.0
            rot_s[i, p * n + q] = 1.0
            rot_s[i, q * n + p] = -1.0
        tables.append((sel_pq, sel_pp, sel_qq, rot_c, rot_s))
    return tables


def jacobi_projector(gram: torch.Tensor, rank: int, gap_eps: float = 0.0, sweeps: int = JACOBI_SWEEPS) -> torch.Tensor:
    """Projector onto the top-``rank`` eigenvectors of symmetric ``gram`` by parallel cyclic Jacobi.

    Each round applies ``n/2`` disjoint rotations at once (round-robin pair order), so one sweep is
    ``n - 1`` rounds of two small matmuls. Only matmuls, element-wise ops and ``topk``: exportable to
    ONNX. float64 inside. ``gap_eps`` is accepted for signature compatibility (it only affects the
    gradient of the eigh-based projector).

    Shape:
        gram: (..., n, n) -> (..., n, n)
    """
    n = int(gram.shape[-1])
    if rank >= n:
        return torch.eye(n, dtype=gram.dtype).expand_as(gram)
    # (M, n, n) with M a Python int: all shapes inside the unrolled sweeps are constants in the graph
    # (the exported graph therefore has a fixed batch, see STATIC_BATCH)
    m = int(np.prod([int(d) for d in gram.shape[:-2]]))
    a = gram.to(torch.float64).reshape(m, n, n)
    a = 0.5 * (a + a.transpose(1, 2))
    eye_flat = torch.from_numpy(np.eye(n).reshape(n * n))
    v = torch.from_numpy(np.eye(n)).expand_as(a)
    tables = [tuple(torch.from_numpy(t.T.copy()) for t in tab[:3]) + tuple(torch.from_numpy(t) for t in tab[3:])
              for tab in _jacobi_tables(n)]
    for _ in range(sweeps):
        for sel_pq, sel_pp, sel_qq, rot_c, rot_s in tables:
            flat = a.reshape(m, n * n)
            apq = flat @ sel_pq
            d = flat @ sel_qq - flat @ sel_pp
            sgn = 2.0 * (d >= 0).to(torch.float64) - 1.0
            den = d.abs() + torch.sqrt(d * d + 4.0 * apq * apq)
            t = 2.0 * apq * sgn / den.clamp(min=1e-300)  # 0 when apq == 0 (also when den == 0)
            c = 1.0 / torch.sqrt(1.0 + t * t)
            rot = (eye_flat + (c - 1.0) @ rot_c + (t * c) @ rot_s).reshape(m, n, n)
            a = rot.transpose(1, 2) @ a @ rot
            v = v @ rot
    evals = a.reshape(m, n * n) @ torch.from_numpy(np.eye(n * n)[:: n + 1].T.copy())
    top = torch.topk(evals, rank, dim=1).indices  # (M, r)
    vr = torch.gather(v, 2, top.unsqueeze(1).expand(m, n, rank))
    return (vr @ vr.transpose(1, 2)).to(gram.dtype).reshape(tuple(int(d) for d in gram.shape))


def _mode_product_pos(x: torch.Tensor, mat: torch.Tensor, mode: int) -> torch.Tensor:
    """``nn.tucker.mode_product`` with non-negative ``movedim`` dims (the exporter mistranslates -1)."""
    dim = x.dim() - 3 + mode
    xm = x.movedim(dim, x.dim() - 1)
    if mat.dim() == 2:
        out = xm @ mat.transpose(-1, -2)
    else:
        out = xm @ mat.transpose(-1, -2).unsqueeze(-3)
    return out.movedim(out.dim() - 1, dim)


def _unfold_pos(x: torch.Tensor, mode: int) -> torch.Tensor:
    """``nn.tucker._unfold`` with non-negative ``movedim`` dims."""
    xm = x.movedim(x.dim() - 3 + mode, x.dim() - 3)
    return xm.reshape(*xm.shape[:-2], -1)


def _crf_features_static(x: torch.Tensor) -> torch.Tensor:
    """``duhdr_parts.crf_features`` for RGB input with a constant kernel (same values)."""
    from hdrlift.models.duhdr_parts import HIST_BINS

    ky = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
    kernel = torch.stack([ky, ky.t()]).unsqueeze(1).repeat(3, 1, 1, 1).to(x.dtype)
    edges = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel, groups=3)
    hists = []
    for bins in HIST_BINS:
        centers = torch.arange(bins + 1, dtype=x.dtype) / bins
        d = (x.unsqueeze(2) - centers.view(1, 1, -1, 1, 1)).abs() * bins
        h = torch.relu(1.0 - d)
        hists.append(h.flatten(1, 2))
    return torch.cat([x, edges, *hists], dim=1)


def _gaussian_blur_static(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``uhd_bilateral._gaussian_blur`` for RGB input at a fixed (low) resolution, constant kernel."""
    if sigma <= 0:
        return x
    radius = min(int(math.ceil(3.0 * sigma)), int(x.shape[-1]) - 1, int(x.shape[-2]) - 1)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1),
                 groups=3)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(3, 1, 1, 1),
                    groups=3)


def _make_monotonic_nodiff(curve: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    steps = (curve[..., 1:] - curve[..., :-1]).clamp(min=0.0) + eps
    cum = torch.cumsum(steps, dim=-1)
    cum = cum / cum[..., -1:]
    return torch.cat([torch.zeros_like(cum[..., :1]), cum], dim=-1)


def _slice_apply_whole(grid: torch.Tensor, guide: torch.Tensor, x: torch.Tensor, *args: Any,
                       **kwargs: Any) -> torch.Tensor:
    """``nn.bilateral.slice_apply`` for the whole image (offset 0), coordinates from the traced size."""
    from hdrlift.nn.bilateral import apply_affine

    h, w = guide.shape[-2], guide.shape[-1]
    xs = (torch.arange(w, dtype=guide.dtype) + 0.5) * 2.0 / w - 1.0
    ys = (torch.arange(h, dtype=guide.dtype) + 0.5) * 2.0 / h - 1.0
    gx = xs.view(1, 1, 1, -1) + torch.zeros_like(guide)
    gy = ys.view(1, 1, -1, 1) + torch.zeros_like(guide)
    coords = torch.stack((gx, gy, guide), dim=-1)
    coeffs = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=False).squeeze(2)
    return apply_affine(coeffs, x)


def _aa_bilinear_symbolic(g: Any, x: Any, output_size: Any, align_corners: Any, *rest: Any) -> Any:
    """``aten::_upsample_bilinear2d_aa`` -> ONNX ``Resize`` (opset 18, antialias=1, half_pixel)."""
    from torch.onnx import symbolic_helper as sh

    size = sh._maybe_get_const(output_size, "is")
    if not isinstance(size, (list, tuple)):
        raise ModelError("antialiased resize to a traced size is not exportable")
    dims = sh._get_tensor_sizes(x) or [None]
    if len(dims) == 4 and isinstance(dims[0], int) and isinstance(dims[1], int):
        # static batch and channels: constant sizes keep the output shape known to shape inference
        sizes = g.op("Constant", value_t=torch.tensor([dims[0], dims[1], *[int(s) for s in size]]))
    else:
        shape = g.op("Shape", x)
        nc = g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([0])),
                  g.op("Constant", value_t=torch.tensor([2])))
        sizes = g.op("Concat", nc, g.op("Constant", value_t=torch.tensor([int(s) for s in size])), axis_i=0)
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    return g.op("Resize", x, empty, empty, sizes, mode_s="linear", antialias_i=1,
                coordinate_transformation_mode_s="half_pixel")


def _expm1_symbolic(g: Any, x: Any) -> Any:
    """``aten::expm1`` -> ``Exp(x) - 1`` (absolute error ~1e-7, no ONNX Expm1 op)."""
    return g.op("Sub", g.op("Exp", x), g.op("Constant", value_t=torch.tensor(1.0)))


class _PaddedModel(nn.Module):
    """Pads to ``multiple`` with shape-dependent ops, runs the model, crops back."""

    def __init__(self, model: nn.Module, multiple: int) -> None:
        super().__init__()
        self.model = model
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        return self.model(_dyn_pad(x, self.multiple))[..., :h, :w]


class _DuHDRExport(nn.Module):
    """DuHDR's primary path (``forward_all``) with dynamic padding to 32."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from hdrlift.models.duhdr_parts import apply_curves

        m = self.model
        h, w = x.shape[-2], x.shape[-1]
        xp = _dyn_pad(x, 32)
        i_n = m.dnet(xp)
        crf = m.innet.curve(i_n[..., :h, :w])
        b = apply_curves(i_n, crf)
        hal, _ = m.itnet(b)
        first = hal if m.oo_inputs == "paper" else xp
        return m.oonet(torch.cat([first, b, i_n], dim=1))[..., :h, :w]


@contextlib.contextmanager
def export_patches(model: nn.Module) -> Iterator[nn.Module]:
    """Yield the module to trace for ``model``, with the exportable substitutions active."""
    import copy

    arch = getattr(model, "arch", "")
    with contextlib.ExitStack() as stack:
        if arch == "hdrunet":
            yield _PaddedModel(model, 4).eval()
        elif arch == "duhdr":
            import hdrlift.degrade.crf as crf_mod
            import hdrlift.models.duhdr_parts as parts

            stack.enter_context(mock.patch.object(parts, "crf_features", _crf_features_static))
            stack.enter_context(mock.patch.object(crf_mod, "make_monotonic", _make_monotonic_nodiff))
            yield _DuHDRExport(model).eval()
        elif arch == "uhd_bilateral":
            import hdrlift.models.uhd_bilateral as uhd
            import hdrlift.nn.tucker as tucker

            stack.enter_context(mock.patch.object(tucker, "subspace_projector", jacobi_projector))
            stack.enter_context(mock.patch.object(tucker, "mode_product", _mode_product_pos))
            stack.enter_context(mock.patch.object(tucker, "_unfold", _unfold_pos))
            stack.enter_context(mock.patch.object(uhd, "slice_apply", _slice_apply_whole))
            stack.enter_context(mock.patch.object(uhd, "_gaussian_blur", _gaussian_blur_static))
            m = copy.deepcopy(model)
            m.chunk_pixels = 1 << 62  # one chunk: no size-dependent Python loop
            torch.onnx.register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _aa_bilinear_symbolic, 18)
            torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1_symbolic, 9)
            yield m
        else:
            yield model


def export_onnx(
    model: str | os.PathLike | nn.Module,
    out: str | os.PathLike,
    size: tuple[int, int] = (256, 256),
    opset: int = 17,
    verify: bool = True,
) -> dict[str, Any]:
    """Export ``model`` to ONNX with dynamic batch, height and width; returns a summary dict.

    Input ``ldr`` (B, 3, H, W) sRGB-encoded LDR in [0, 1] float32; output ``hdr`` (B, 3, H, W) linear HDR.
    ``opset`` is raised to the architecture's minimum (:data:`MIN_OPSET`) when lower. With ``verify``
    (needs onnxruntime) the ONNX output is compared with PyTorch at ``size`` and at ``size + (7, 5)``.

    Shape:
        ldr: (B, 3, H, W) -> hdr: (B, 3, H, W)
    """
    net = load_for_export(model)
    arch = getattr(net, "arch", type(net).__name__)
    opset = max(int(opset), MIN_OPSET.get(arch, 0))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.rand(1, 3, int(size[0]), int(size[1]), generator=torch.Generator().manual_seed(0))
    axes = {2: "height", 3: "width"} if arch in STATIC_BATCH else {0: "batch", 2: "height", 3: "width"}
    t0 = time.perf_counter()
    with export_patches(net) as wrapped, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                wrapped, (x,), str(out), dynamo=False, opset_version=opset, input_names=["ldr"],
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
