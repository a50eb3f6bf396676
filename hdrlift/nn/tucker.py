"""Truncated HOSVD / Tucker reconstruction of 3-way tensors in torch (batched, differentiable).

Used by the collaborative bilateral network (Zheng et al., ICCV 2021, section 3.1) to smooth its
learned bilateral grids: each grid of shape (B, 12, D, H, W) is read as B*12 three-way tensors
(D, H, W) ("ignoring the grid cell" of 12 affine coefficients). "3D Tucker reconstruction" makes three
copies, compresses *one* mode at a time to a low rank (paper: ranks [l'//2, m'//2, n'//2]),
reconstructs each, and averages the three reconstructions.

Compressing mode z to rank r and reconstructing is ``X x_z (U_z U_z^T)``: the mode-z unfolding is
projected onto its top-r left singular subspace. U_z U_z^T is computed from ``eigh`` of the mode Gram
matrix G = X_(z) X_(z)^T, and its gradient by a custom backward that only involves pairs of
eigenvalues across the kept/discarded boundary (the projector does not depend on the basis chosen
inside the subspace, so near-equal eigenvalues *inside* it are harmless). Across the boundary the
factor 1/(l_i - l_j) is replaced by (l_i - l_j) / ((l_i - l_j)^2 + delta^2), delta = gap_eps * l_max,
which bounds the gradient when the subspace is ill-defined (near-equal l_r and l_{r+1}).

``eigh`` has no ONNX op: :func:`jacobi_projector` computes the same projector with a fixed number of
parallel cyclic Jacobi sweeps (matmuls, element-wise ops and ``topk`` only), and the functions that
use a projector take it as an argument (``projector=``), so a model's exportable form passes it
explicitly. The mode products use non-negative ``movedim`` dims (the TorchScript ONNX exporter
mistranslates ``movedim`` to -1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "mode_product",
    "subspace_projector",
    "jacobi_projector",
    "Projector",
    "mode_project",
    "tucker_smooth",
    "truncated_hosvd",
    "tucker_to_tensor",
]

#: default relative broadening of 1/(l_i - l_j) in the projector gradient
GAP_EPS = 1e-4
#: Jacobi sweeps of :func:`jacobi_projector` (converged to ~1e-12 for the 16 x 16 and 8 x 8 grid Grams)
JACOBI_SWEEPS = 6

#: ``projector(gram, rank, gap_eps) -> P``: orthogonal projector onto the top-``rank`` eigenvectors
Projector = Callable[[torch.Tensor, int, float], torch.Tensor]


class _TopSubspaceProjector(torch.autograd.Function):
    """P = U_r U_r^T of the top-``rank`` eigenvectors of symmetric PSD matrices (float64 inside)."""

    @staticmethod
    def forward(ctx: Any, gram: torch.Tensor, rank: int, gap_eps: float) -> torch.Tensor:
        g = gram.detach().to(torch.float64)
        g = 0.5 * (g + g.transpose(-1, -2))
        if g.device.type == "cpu":
            evals, evecs = torch.linalg.eigh(g)  # ascending
        else:
            # small matrices (grid depth / height / width): LAPACK on the host is robust where the GPU's
            # batched Jacobi solver stops unconverged on near-degenerate Grams (seen with cuSOLVER on
            # an H200: "failed to converge ... error code 8") and is not slower at these sizes
            evals, evecs = (t.to(g.device) for t in torch.linalg.eigh(g.cpu()))
        top = evecs[..., -rank:]
        proj = top @ top.transpose(-1, -2)
        ctx.save_for_backward(evals, evecs)
        ctx.rank = rank
        ctx.gap_eps = gap_eps
        ctx.dtype = gram.dtype
        return proj.to(gram.dtype)

    @staticmethod
    def backward(ctx: Any, grad_p: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        evals, evecs = ctx.saved_tensors
        n = evals.shape[-1]
        r = ctx.rank
        gp = grad_p.to(torch.float64)
        gp = 0.5 * (gp + gp.transpose(-1, -2))
        m = evecs.transpose(-1, -2) @ gp @ evecs
        gap = evals[..., :, None] - evals[..., None, :]  # l_i - l_j
        kept = torch.zeros(n, dtype=torch.bool, device=evals.device)
        kept[n - r:] = True
        cross = kept[:, None] ^ kept[None, :]
        delta = ctx.gap_eps * evals.abs().amax(dim=-1, keepdim=True)[..., None]
        denom = gap * gap + delta * delta
        k = torch.where(denom > 0, gap.abs() / denom.clamp(min=torch.finfo(torch.float64).tiny), 0.0)
        k = k * cross
        grad_g = evecs @ (k * m) @ evecs.transpose(-1, -2)
        return grad_g.to(ctx.dtype), None, None


def subspace_projector(gram: torch.Tensor, rank: int, gap_eps: float = GAP_EPS) -> torch.Tensor:
    """Orthogonal projector onto the top-``rank`` eigenvectors of symmetric PSD ``gram``.

    Differentiable with a gradient that is stable for near-equal eigenvalues inside the subspace.

    Shape:
        gram: (..., n, n) -> (..., n, n)
    """
    n = gram.shape[-1]
    if not 1 <= rank <= n:
        raise ValueError(f"rank must be in [1, {n}], got {rank}")
    return _TopSubspaceProjector.apply(gram, int(rank), float(gap_eps))


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
    tables: list[tuple[np.ndarray, ...]] = []
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

    The exportable twin of :func:`subspace_projector` (equal to about 1e-12 after the default sweeps on
    the grid Grams). Each round applies ``n/2`` disjoint rotations at once (round-robin pair order), so
    one sweep is ``n - 1`` rounds of two small matmuls. Only matmuls, element-wise ops and ``topk``:
    exportable to ONNX. float64 inside. All shapes are Python constants in a trace, so an exported graph
    has the traced batch (a model using it declares ``ExportRequirements(static_batch=True)``).
    ``gap_eps`` is accepted for signature compatibility (:data:`Projector`; it only affects the gradient
    of the ``eigh``-based projector).

    Shape:
        gram: (..., n, n) -> (..., n, n)
    """
    n = int(gram.shape[-1])
    if rank >= n:
        return torch.eye(n, dtype=gram.dtype).expand_as(gram)
    # (M, n, n) with M a Python int: all shapes inside the unrolled sweeps are constants in the graph
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


def mode_product(x: torch.Tensor, mat: torch.Tensor, mode: int) -> torch.Tensor:
    """n-mode product ``x x_mode mat`` over one of the last three dimensions of ``x``.

    ``mode`` in {0, 1, 2} names dims -3, -2, -1; ``mat`` may carry the same leading batch dims as x.

    Shape:
        x: (..., n0, n1, n2), mat: (..., k, n_mode) -> x with n_mode replaced by k
    """
    dim = x.dim() - 3 + mode  # non-negative dims throughout (exportable, see the module docstring)
    xm = x.movedim(dim, x.dim() - 1)  # (..., a, b, n_mode)
    if mat.dim() == 2:
        out = xm @ mat.transpose(-1, -2)
    else:
        out = xm @ mat.transpose(-1, -2).unsqueeze(-3)
    return out.movedim(out.dim() - 1, dim)


def _unfold(x: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding: (..., n0, n1, n2) -> (..., n_mode, prod of the other two)."""
    xm = x.movedim(x.dim() - 3 + mode, x.dim() - 3)
    return xm.reshape(*xm.shape[:-2], -1)


def _projector_of(x: torch.Tensor, mode: int, rank: int, gap_eps: float,
                  projector: Projector = subspace_projector) -> torch.Tensor:
    xu = _unfold(x, mode)
    return projector(xu @ xu.transpose(-1, -2), rank, gap_eps)


def mode_project(x: torch.Tensor, mode: int, rank: int, gap_eps: float = GAP_EPS,
                 projector: Projector = subspace_projector) -> torch.Tensor:
    """Compress mode ``mode`` of ``x`` to ``rank`` and reconstruct (single-mode truncated HOSVD).

    Identity when ``rank`` >= the mode size. ``projector``: :func:`subspace_projector` (``eigh``,
    differentiable) or :func:`jacobi_projector` (exportable).

    Shape:
        x: (..., n0, n1, n2) -> same
    """
    n = x.shape[mode - 3]
    if rank >= n:
        return x
    return mode_product(x, _projector_of(x, mode, rank, gap_eps, projector), mode)


def tucker_smooth(
    x: torch.Tensor,
    ranks: Sequence[int],
    mode: str = "3d",
    gap_eps: float = GAP_EPS,
    projector: Projector = subspace_projector,
) -> torch.Tensor:
    """Low-rank Tucker reconstruction of the 3-way tensors in the last three dims of ``x``.

    Args:
        x: batch of 3-way tensors (e.g. a bilateral grid (B, 12, D, H, W): B*12 tensors (D, H, W)).
        ranks: target rank per mode (r0, r1, r2).
        mode: ``"3d"`` (paper section 3.1: mean of the three single-mode reconstructions),
            ``"joint"`` (one truncated HOSVD compressing all three modes at once, the evident intent of
            the released code's ``tucker(rank=[12, 2, 8, 8])``, without its HOOI iterations) or
            ``"none"`` (identity; ablation "w/o Tucker").
        gap_eps: relative broadening of the projector gradient (see module docstring).
        projector: how the top-rank eigenspace projectors are computed: :func:`subspace_projector`
            (``eigh``; default) or :func:`jacobi_projector` (ONNX-exportable; meant for inference).

    Shape:
        x: (..., n0, n1, n2) -> same
    """
    if len(ranks) != 3:
        raise ValueError(f"ranks must have 3 entries, got {list(ranks)}")
    if mode == "none":
        return x
    if mode == "3d":
        p0, p1, p2 = (mode_project(x, m, int(r), gap_eps, projector) for m, r in enumerate(ranks))
        return (p0 + p1 + p2) / 3.0
    if mode == "joint":
        out = x
        for m, r in enumerate(ranks):
            if int(r) < x.shape[m - 3]:
                out = mode_product(out, _projector_of(x, m, int(r), gap_eps, projector), m)
        return out
    raise ValueError(f"tucker mode must be '3d', 'joint' or 'none', got {mode!r}")


def truncated_hosvd(x: torch.Tensor, ranks: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Truncated HOSVD: factors = leading eigenvectors of each mode Gram matrix, core = x x_z U_z^T.

    For analysis; the factors themselves are basis-dependent, so train through :func:`tucker_smooth`.

    Shape:
        x: (..., n0, n1, n2) -> core (..., r0, r1, r2), factors [(..., n_z, r_z)] * 3
    """
    factors: list[torch.Tensor] = []
    for m, r in enumerate(ranks):
        xu = _unfold(x, m).to(torch.float64)
        _, evecs = torch.linalg.eigh(xu @ xu.transpose(-1, -2))
        factors.append(evecs[..., -int(r):].flip(-1).to(x.dtype))
    core = x
    for m, u in enumerate(factors):
        core = mode_product(core, u.transpose(-1, -2), m)
    return core, factors


def tucker_to_tensor(core: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Reconstruct ``core x_0 U_0 x_1 U_1 x_2 U_2``.

    Shape:
        core: (..., r0, r1, r2), factors [(..., n_z, r_z)] -> (..., n0, n1, n2)
    """
    out = core
    for m, u in enumerate(factors):
        out = mode_product(out, u, m)
    return out
