"""A low-dimensional CRF basis derived by hdrlift itself, plus loaders for EMoR / DoRF files.

Grossberg & Nayar ("What is the space of camera response functions?", CVPR 2003; "Modeling the
space of camera response functions", TPAMI 2004) showed that real responses are well described by
a mean curve plus a few principal components (EMoR, computed from the 201 DoRF curves). DuHDR
predicts k = 11 coefficients of such a basis for the CRF (Nnet) and the inverse CRF (INnet).

The EMoR/DoRF files are research data that hdrlift does not ship. :func:`crf_basis` therefore
builds its own basis: a fixed-seed family of plausible monotonic responses (power laws, sRGB /
BT.709-like curves with linear toes, Hill/filmic S-curves, Reinhard-like and exponential
shoulders, log curves, S-curves in the encoded domain, monotone Bernstein polynomials, and convex
mixes and compositions of these) sampled on an n-point grid; mean + PCA of the curves (or of
their inverses) gives the basis. Users holding the original files can load them with
:func:`load_emor` and :func:`load_dorf`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np
import torch

from hdrlift.degrade.crf import crf_numpy, invert_curve_numpy
from hdrlift.errors import DataError

#: Seed of the curve family (changing it changes every basis; keep it fixed).
FAMILY_SEED = 20031

#: Lowest f(0.18) for the filmic members of the family.
MID_LO = 0.22


@dataclass(frozen=True)
class CRFBasis:
    """Mean curve + basis of a CRF (or inverse CRF) space on a uniform grid.

    Attributes:
        grid: (n,) irradiance (or, for inverse curves, brightness) samples in [0, 1].
        mean: (n,) mean curve.
        basis: (k, n) basis curves (orthonormal rows for hdrlift's own basis).
        explained: (k,) fraction of the family's variance explained by each component
            (empty for loaded EMoR files).
        name: where it came from (``hdrlift-k11``, ``emor``, ``invemor``).
    """

    grid: np.ndarray
    mean: np.ndarray
    basis: np.ndarray
    explained: np.ndarray
    name: str = "hdrlift"

    @property
    def k(self) -> int:
        return int(self.basis.shape[0])

    @property
    def n(self) -> int:
        return int(self.basis.shape[1])

    def torch(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, basis) as tensors: shapes (n,), (k, n)."""
        return (
            torch.from_numpy(np.array(self.mean)).to(device=device, dtype=dtype),
            torch.from_numpy(np.array(self.basis)).to(device=device, dtype=dtype),
        )


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


# ----------------------------------------------------------------------------- curve family


def _norm(f: np.ndarray) -> np.ndarray:
    """Force f(0) = 0, f(1) = 1 and monotonicity (rows)."""
    f = np.maximum.accumulate(f, axis=-1)
    f = f - f[..., :1]
    return f / np.maximum(f[..., -1:], 1e-12)


def _sample_curve(rng: np.random.Generator, x: np.ndarray, depth: int = 0) -> np.ndarray:
    """One random plausible response curve on grid x (float64, monotonic, 0 -> 0, 1 -> 1)."""
    kinds = ["gamma", "rec709", "srgb", "filmic", "reinhard", "expo", "log", "scurve", "bernstein"]
    probs = np.array([0.14, 0.12, 0.03, 0.16, 0.1, 0.08, 0.07, 0.14, 0.16])
    if depth == 0:
        kinds += ["mix", "compose"]
        probs = np.concatenate([probs * 0.7, [0.2, 0.1]])
    kind = kinds[rng.choice(len(kinds), p=probs / probs.sum())]
    u = rng.uniform
    if kind == "gamma":
        g = float(np.exp(u(np.log(0.8), np.log(3.5))))
        return crf_numpy("gamma", (g,), x)
    if kind == "rec709":
        return crf_numpy("rec709", (u(1.6, 3.2), float(np.exp(u(np.log(1e-3), np.log(0.06))))), x)
    if kind == "srgb":
        return crf_numpy("srgb", (), x)
    if kind == "filmic":
        n = u(0.35, 1.9)
        lo = MID_LO if n < 1.2 else max(MID_LO, 0.18**n + 0.05)
        return crf_numpy("filmic", (n, u(lo, 0.8)), x)
    if kind == "reinhard":
        k = float(np.exp(u(np.log(0.5), np.log(40.0))))
        g = u(1.0, 2.6)
        base = (k * x / (1 + k * x)) * (1 + k) / k
        return np.power(base, 1.0 / g)
    if kind == "expo":
        k = u(0.5, 14.0)
        g = u(1.0, 2.0)
        return np.power((1 - np.exp(-k * x)) / (1 - np.exp(-k)), 1.0 / g)
    if kind == "log":
        a = float(np.exp(u(np.log(1.0), np.log(3000.0))))
        return np.log1p(a * x) / np.log1p(a)
    if kind == "scurve":
        h = np.power(x, 1.0 / u(1.0, 2.8))
        c, h0 = u(1.5, 10.0), u(0.25, 0.75)
        s = 1.0 / (1.0 + np.exp(-c * (h - h0)))
        return _norm(s)
    if kind == "bernstein":
        d = int(rng.integers(3, 10))
        w = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, d - 1)), [1.0]])
        t = np.power(x, 1.0 / u(1.0, 2.8))
        j = np.arange(d + 1)
        coef = np.array([comb(d, i) for i in j], np.float64)
        bern = coef[:, None] * np.power(t[None], j[:, None]) * np.power(1 - t[None], (d - j)[:, None])
        return _norm(w @ bern)
    if kind == "mix":
        m = int(rng.integers(2, 4))
        wts = rng.dirichlet(np.ones(m))
        return _norm(sum(wi * _sample_curve(rng, x, 1) for wi in wts))
    # compose: f2(f1(x)) with a gentle second curve
    f1 = _sample_curve(rng, x, 1)
    f2 = _sample_curve(rng, x, 1)
    return _norm(np.interp(f1, x, f2))


@functools.lru_cache(maxsize=8)
def crf_family(n: int = 1024, count: int = 1600, seed: int = FAMILY_SEED) -> np.ndarray:
    """The fixed-seed family of plausible monotonic response curves (read-only array).

    Shape:
        -> (count, n), rows monotonic from 0 to 1 on a uniform grid of n samples.
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    curves = np.stack([_norm(_sample_curve(rng, x)) for _ in range(count)])
    return _frozen(curves)


@functools.lru_cache(maxsize=16)
def crf_basis(k: int = 11, n: int = 1024, inverse: bool = False) -> CRFBasis:
    """hdrlift's own CRF basis: mean + first ``k`` principal components of :func:`crf_family`.

    ``inverse=True`` gives the basis of the inverse curves (for inverse-CRF prediction). The result
    is deterministic (fixed seed) and cached.

    Shape:
        grid (n,), mean (n,), basis (k, n), explained (k,)
    """
    if not 1 <= k <= n:
        raise ValueError(f"crf_basis: k must be in [1, {n}], got {k}")
    fam = crf_family(n)
    if inverse:
        fam = invert_curve_numpy(fam)
    mean = fam.mean(axis=0)
    xc = fam - mean
    # PCA by the top-k eigenvectors of the (n, n) scatter matrix (n <= count here)
    import scipy.linalg

    cov = xc.T @ xc
    evals, evecs = scipy.linalg.eigh(cov, subset_by_index=[n - k, n - 1])
    order = np.argsort(evals)[::-1]
    evals = np.clip(evals[order], 0.0, None)
    evecs = evecs[:, order].T
    # fix the sign: each component has a positive sum (stable across platforms)
    evecs = evecs * np.where(evecs.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    explained = evals / max(float(np.trace(cov)), 1e-30)
    return CRFBasis(
        grid=_frozen(np.linspace(0.0, 1.0, n)),
        mean=_frozen(mean),
        basis=_frozen(evecs),
        explained=_frozen(explained),
        name=f"hdrlift{'-inv' if inverse else ''}-k{k}",
    )


def curve_from_coeffs(basis: CRFBasis, coeffs: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Curves ``mean + coeffs @ basis`` (torch, differentiable in ``coeffs``; not yet monotonic -
    follow with :func:`~hdrlift.degrade.crf.make_monotonic` where a valid CRF is needed).

    Shape:
        coeffs (k,) or (B, k) -> (n,) or (B, n)
    """
    c = torch.as_tensor(coeffs)
    if not c.is_floating_point():
        c = c.float()
    mean, b = basis.torch(dtype=c.dtype, device=c.device)
    if c.shape[-1] != basis.k:
        raise ValueError(f"curve_from_coeffs: expected {basis.k} coefficients, got {c.shape[-1]}")
    return mean + c @ b


def fit_coeffs(basis: CRFBasis, curves: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of curves (sampled on ``basis.grid``) in the basis (numpy).

    Shape:
        (n,) or (N, n) -> (k,) or (N, k)
    """
    c = np.asarray(curves, np.float64)
    if c.shape[-1] != basis.n:
        raise ValueError(f"fit_coeffs: curves have {c.shape[-1]} samples, basis has {basis.n}")
    sol, *_ = np.linalg.lstsq(np.asarray(basis.basis, np.float64).T, (c - basis.mean).reshape(-1, basis.n).T,
                              rcond=None)
    return sol.T.reshape(c.shape[:-1] + (basis.k,))


def resample_curves(grid: np.ndarray, curves: np.ndarray, n: int = 1024) -> np.ndarray:
    """Resample curves given on an arbitrary increasing grid onto a uniform grid of n samples.

    Shape:
        grid (m,), curves (N, m) -> (N, n)
    """
    x = np.linspace(0.0, 1.0, n)
    c = np.atleast_2d(np.asarray(curves, np.float64))
    return np.stack([np.interp(x, np.asarray(grid, np.float64), row) for row in c])


# ----------------------------------------------------------------------------- file loaders

_HEADER = re.compile(r"^\s*([A-Za-z]\w*(?:\(\d+\))?)\s*=\s*(.*)$")


def _parse_blocks(text: str, path: str) -> list[tuple[str, np.ndarray]]:
    blocks: list[tuple[str, list[float]]] = []
    for ln, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            blocks.append((m.group(1), []))
            line = m.group(2)
        if not line.strip():
            continue
        if not blocks:
            raise DataError(f"{path}: line {ln}: numbers before the first 'name =' header")
        try:
            blocks[-1][1].extend(float(v) for v in line.split())
        except ValueError as e:
            raise DataError(f"{path}: line {ln}: not a number ({e})") from None
    return [(name, np.asarray(vals, np.float64)) for name, vals in blocks]


def load_emor(path: str | Path, k: int = 11) -> CRFBasis:
    """Read an EMoR file (``emor.txt``: ``E =``, ``f0 =``, ``h(1)=`` ...; or ``invemor.txt``:
    ``B =``, ``g0 =``, ``hinv(1)=`` ...) and keep the first ``k`` basis curves.

    The files belong to Grossberg & Nayar (CAVE, Columbia); hdrlift does not ship them.

    Shape:
        grid (n,), mean (n,), basis (k, n) with n = 1024 for the original files
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="replace")
    except OSError as e:
        raise DataError(f"cannot read EMoR file {p}: {e.strerror or e}") from None
    blocks = _parse_blocks(text, str(p))
    if len(blocks) < 3:
        raise DataError(f"{p}: expected a grid, a mean and basis blocks, found {len(blocks)} block(s)")
    n = blocks[0][1].size
    if n < 2 or any(v.size != n for _, v in blocks):
        sizes = {name: v.size for name, v in blocks}
        raise DataError(f"{p}: blocks differ in length: {sizes}")
    if len(blocks) - 2 < k:
        raise DataError(f"{p}: has {len(blocks) - 2} basis curves, {k} requested")
    inverse = blocks[1][0].lower().startswith("g")
    return CRFBasis(
        grid=_frozen(blocks[0][1]),
        mean=_frozen(blocks[1][1]),
        basis=_frozen(np.stack([v for _, v in blocks[2 : 2 + k]])),
        explained=_frozen(np.zeros(0)),
        name="invemor" if inverse else "emor",
    )


def load_dorf(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read DoRF response curves: ``201_CRF_data.mat`` (MATLAB, arrays ``I`` and ``B``), the text
    ``dorfCurves.txt`` (6 lines per curve: name, type, ``I =``, values, ``B =``, values) or a ``.npy``
    table of shape (1 + N, m): row 0 the irradiance grid, row 1 + i curve i (``scripts/gpu_train.py pack``).

    Returns (irradiance grid (m,), brightness curves (N, m)), float64.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"DoRF file not found: {p}")
    if p.suffix.lower() == ".npy":
        try:
            table = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{p}: unreadable .npy ({e})") from None
        if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 2 or table.dtype.kind != "f":
            raise DataError(f"{p}: expected a float (1 + N, m) table (row 0 the grid, then N curves), "
                            f"got {table.dtype} {table.shape}")
        table = table.astype(np.float64)
        return table[0].copy(), table[1:].copy()
    if p.suffix.lower() == ".mat":
        import scipy.io

        try:
            d = scipy.io.loadmat(str(p))
        except Exception as e:  # scipy raises several types for a bad file
            raise DataError(f"{p}: not a readable MATLAB file ({e})") from None
        if "I" not in d or "B" not in d:
            raise DataError(f"{p}: expected arrays 'I' and 'B', found {sorted(k for k in d if k[0] != '_')}")
        irr = np.asarray(d["I"], np.float64)
        bri = np.asarray(d["B"], np.float64)
        grid = irr[0] if irr.ndim == 2 else irr.ravel()
        return grid, np.atleast_2d(bri)
    lines = [ln.strip() for ln in p.read_text(encoding="ascii", errors="replace").splitlines()]
    grids, curves = [], []
    for i, ln in enumerate(lines):
        if ln.startswith("I =") and i + 3 < len(lines) and lines[i + 2].startswith("B ="):
            grids.append(np.array(lines[i + 1].split(), np.float64))
            curves.append(np.array(lines[i + 3].split(), np.float64))
    if not curves:
        raise DataError(f"{p}: no 'I =' / 'B =' curve pairs found")
    return grids[0], np.stack(curves)
