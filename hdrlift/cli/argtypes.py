"""argparse ``type=`` checks for option values: a bad value is one ``error:`` line and exit code 2.

Kept free of heavy imports (``hdrlift --help`` stays instant).
"""

from __future__ import annotations

import argparse
import re

#: smallest --max-memory accepted (below it not even the interpreter and torch fit)
MIN_MAX_MEMORY = 64 * 10**6


def tile(text: str) -> int:
    """``--tile``: 0 (no tiling) or a positive number of pixels."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer number of pixels, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no tiling) or a positive number of pixels, got {v}")
    return v


def positive_int(text: str) -> int:
    """A count that must be >= 1 (``--max-pixels``)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def memory(text: str) -> str:
    """``--max-memory``: a size such as 2GB, 1.5G, 512MiB, at least :data:`MIN_MAX_MEMORY`; returned as
    given (parsed again by :func:`hdrlift.inference.memory.parse_memory`)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    units = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
             "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}
    if m is None or m.group(2).lower() not in units:
        raise argparse.ArgumentTypeError(f"cannot read memory size {text!r} (examples: 2GB, 1.5G, 512MiB, 800MB)")
    value = float(m.group(1)) * units[m.group(2).lower()]
    if value < MIN_MAX_MEMORY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is {value:,.0f} bytes, below the minimum of {MIN_MAX_MEMORY // 10**6} MB "
            "(a unit is needed for anything but bytes: 2GB, 512MiB)")
    return text


def device(text: str) -> str:
    """``--device``: auto, cpu, cuda or cuda:N (checked for the form; availability when it is used)."""
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", text) is None:
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def shard(text: str) -> tuple[int, int]:
    """``--shard INDEX/COUNT``: this process's share, ``0 <= INDEX < COUNT`` (e.g. ``$RANK/$WORLD_SIZE``)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"must be INDEX/COUNT such as 0/4, got {text!r}")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise argparse.ArgumentTypeError(f"needs 0 <= INDEX < COUNT (indices count from 0), got {text!r}")
    return index, count
