"""Paired comparison of two methods scored on the same images: mean difference and a bootstrap interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hdrlift.errors import DataError

DEFAULT_RESAMPLES = 10000


@dataclass(frozen=True)
class PairedDifference:
    """``mean(b - a)`` over the images where both are finite, with a percentile-bootstrap interval.

    ``lo`` / ``hi`` bound the ``level`` (0.95) interval of the mean difference from ``resamples``
    resamples of the images with replacement (seeded, so reruns give the same interval).
    """

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    lo: float
    hi: float
    level: float
    resamples: int
    seed: int

    def excludes_zero(self) -> bool:
        return self.lo > 0.0 or self.hi < 0.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = DEFAULT_RESAMPLES,
                     level: float = 0.95, seed: int = 0) -> PairedDifference:
    """Paired mean difference ``b - a`` and its percentile-bootstrap ``level`` interval.

    Pairs where either value is NaN/inf are dropped; at least 2 pairs are needed.

    Shape:
        (N,), (N,) -> PairedDifference
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"paired comparison needs two equal-length lists, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        raise DataError(f"paired comparison needs at least 2 images with finite scores, got {x.size}")
    if not 0.0 < level < 1.0 or resamples < 100:
        raise DataError(f"bad bootstrap settings: level {level}, {resamples} resamples")
    d = y - x
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // d.size)
    for s in range(0, resamples, chunk):
        k = min(chunk, resamples - s)
        means[s : s + k] = d[rng.integers(0, d.size, size=(k, d.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return PairedDifference(int(d.size), float(x.mean()), float(y.mean()), float(d.mean()), float(lo), float(hi),
                            level, resamples, seed)


def describe_difference(col: str, a: str, b: str, pd: PairedDifference, higher_is_better: bool,
                        unit: str = "") -> str:
    """One line: ``pu_psnr: B - A = +0.52 dB [95% CI +0.31, +0.74], B better (n 30)``."""
    u = f" {unit}" if unit and unit not in ("",) else ""
    if not pd.excludes_zero():
        verdict = "no significant difference"
    else:
        better_b = (pd.mean_diff > 0) == higher_is_better
        verdict = f"{b if better_b else a} better"
    pct = int(round(pd.level * 100))
    fmt = (lambda v: f"{v:+.4f}") if math.isfinite(pd.mean_diff) and abs(pd.mean_diff) < 0.1 else \
        (lambda v: f"{v:+.3f}")
    return (f"{col}: {b} - {a} = {fmt(pd.mean_diff)}{u} [{pct}% CI {fmt(pd.lo)}, {fmt(pd.hi)}], "
            f"{verdict} (n {pd.n}, {'higher' if higher_is_better else 'lower'} is better)")
