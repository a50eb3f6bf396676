"""The one check of a state dict against the module it is loaded into (every loader uses it).

``torch.nn.Module.load_state_dict`` reports a size mismatch as a multi-line ``RuntimeError``; the loaders
(checkpoints, converted official weights, VGG weights, a run's ``init:``) call
:func:`check_state_shapes` first, so a file that does not fit is one line naming the file, the tensor, and
the expected and found shapes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch

from hdrlift.errors import ModelError


def check_state_shapes(source: str | os.PathLike, found: Mapping[str, Sequence[int]],
                       expected: Mapping[str, torch.Tensor], what: str, names: bool = True) -> None:
    """Tensor names and shapes of ``found`` (name -> shape, e.g. read from a file's header) against the
    state dict ``expected`` of the target module, described by ``what`` (``"'hdrunet' with this config"``).

    With ``names`` (default) both must hold the same tensor names; otherwise only the shared names are
    compared. Raises a one-line :class:`ModelError`
    ``SOURCE: tensor NAME: expected shape [..] (WHAT), found [..]``.
    """
    if names:
        missing = [k for k in expected if k not in found]
        unexpected = [k for k in found if k not in expected]
        if missing or unexpected:
            raise ModelError(f"{source}: weights do not match {what} "
                             f"(missing {len(missing)}: {missing[:3]}, unexpected {len(unexpected)}: {unexpected[:3]})")
    for k, t in expected.items():
        if k in found and tuple(found[k]) != tuple(t.shape):
            raise ModelError(f"{source}: tensor {k}: expected shape {list(t.shape)} ({what}), "
                             f"found {list(found[k])}")
