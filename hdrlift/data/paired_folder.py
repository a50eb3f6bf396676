"""Random training crops of LDR/target pairs read from disk (:class:`PairedFolder`), the base of every
paired training dataset (:mod:`hdrlift.data.paired`, :class:`hdrlift.data.ntire.NTIREFolder`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from hdrlift.data.layouts import PairRecord, load_pair
from hdrlift.data.ldr_folder import epoch_permutation_index, random_patch
from hdrlift.data.sources import sample_seed
from hdrlift.errors import DataError, HdrliftError

log = logging.getLogger(__name__)


class PairedFolder(Dataset):
    """LDR/target pairs -> random crops with flips / rot90, a pure function of ``(seed, index)``.

    Pairs are read when sampled (datasets of 4K photos do not fit in memory). A pair that fails to load
    (unreadable, size mismatch) is logged and replaced by the next pair of the permutation with
    ``on_bad="skip"``, or raises DataError with ``on_bad="error"``.

    Args:
        records: the pairs (:class:`hdrlift.data.layouts.PairRecord`).
        patch: crop side.
        seed: base seed.
        scale_min: random down-scaling range ``[scale_min, 1]`` (1 = plain crops, as HDRUNet).
        length: virtual length (index ``i`` cycles over the pairs with a per-epoch permutation).

    Shape:
        item -> {"ldr": (3, P, P) sRGB-encoded [0,1], "hdr": (3, P, P) linear (1.0 = clipping level)}
    """

    def __init__(
        self,
        records: Sequence[PairRecord],
        patch: int = 128,
        seed: int = 0,
        scale_min: float = 1.0,
        length: int = 10**9,
        on_bad: str = "skip",
        flips: bool = True,
        rot90: bool = True,
    ) -> None:
        self.records = list(records)
        if not self.records:
            raise DataError("no training pairs (check data.root and the split)")
        self.patch, self.seed, self.scale_min = int(patch), int(seed), float(scale_min)
        self.length, self.on_bad, self.flips, self.rot90 = int(length), on_bad, flips, rot90

    def __len__(self) -> int:
        return self.length

    def image_index(self, index: int) -> int:
        return epoch_permutation_index(index, len(self.records), self.seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(sample_seed(self.seed, int(index)))
        k = self.image_index(int(index))
        n = len(self.records)
        for attempt in range(n):
            rec = self.records[(k + attempt) % n]
            try:
                pair = load_pair(rec)
            except HdrliftError as exc:
                if self.on_bad == "error":
                    raise DataError(str(exc)) from None
                log.warning("skipping bad training pair %s: %s", rec.name, exc)
                continue
            x, t = random_patch(pair.ldr, pair.hdr, self.patch, g, self.scale_min, self.flips, self.rot90)
            assert t is not None
            return {"ldr": x, "hdr": t}
        raise DataError("no readable training pair")
