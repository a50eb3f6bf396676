"""The one type of an LDR/HDR pair outside the training loader: :class:`Pair`.

Validation pairs of a training run, the generalisation suite, ``hdrlift degrade``'s synthesised captures
and the pairs ``hdrlift evaluate`` reads are all :class:`Pair`\\ s, in numpy HWC, the layout of
:mod:`hdrlift.io` and of the metrics. Kept apart on purpose: a *training sample* is a dict of CHW tensors
(``{"ldr", "hdr", ...}``) because torch's DataLoader collates dicts into batches, and
:class:`hdrlift.data.layouts.PairRecord` names a pair's *files* before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Pair:
    """One LDR input with its HDR reference.

    Attributes:
        name: the pair's id (``scene_ev+0.0``, a dataset's image id).
        ldr: (H, W, 3) float32 sRGB-encoded LDR in [0, 1].
        hdr: (H, W, 3) float32 linear HDR (1.0 = the input camera's clipping level).
        group: the set the pair belongs to (the suite's part, ``a_default`` ...); ``""`` when none.
        source: the file the pair was made from or read from; ``""`` when unknown.
        ev: synthesised pairs: exposure offset in stops from the camera model's auto exposure.
        params: synthesised pairs: the camera parameters of the capture (None otherwise).
    """

    name: str
    ldr: np.ndarray
    hdr: np.ndarray
    group: str = ""
    source: str = ""
    ev: float = 0.0
    params: Any = None

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ldr, hdr) as (1, 3, H, W) float32 tensors (a batch of one, for a model)."""
        return (torch.from_numpy(np.ascontiguousarray(self.ldr)).permute(2, 0, 1)[None].contiguous(),
                torch.from_numpy(np.ascontiguousarray(self.hdr)).permute(2, 0, 1)[None].contiguous())
