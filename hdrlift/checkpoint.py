"""Checkpoints: ``model.safetensors`` + ``config.json``; loading never unpickles.

config.json::

    {"format": "hdrlift-checkpoint", "format_version": 1, "arch": "hdrunet",
     "hparams": {...}, "domain": "...", "hdrlift_version": "0.1.0", "meta": {...}}

Pretrained weights shipped with the package live in ``hdrlift/weights/<name.tag>/`` and are loaded
by name (``load_model("hdrunet.polyhaven")``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from hdrlift.errors import ModelError
from hdrlift.models import HDRModel, create_model, get_spec

FORMAT = "hdrlift-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _version() -> str:
    from hdrlift._version import __version__

    return __version__


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: HDRModel, directory: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically).

    Returns the directory path.
    """
    from safetensors.torch import save

    d = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "hparams": model.hparams,
        "domain": model.inside_domain,
        "hdrlift_version": _version(),
        "meta": meta or {},
    }
    _atomic_write_bytes(d / "model.safetensors", save(state))
    _atomic_write_bytes(d / "config.json", (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    return d


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint directory."""
    p = Path(directory) / "config.json"
    try:
        config = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModelError(f"{p}: checkpoint config not found") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}: unreadable checkpoint config ({exc})") from None
    if config.get("format") != FORMAT or "arch" not in config:
        raise ModelError(f"{p}: not an hdrlift checkpoint config")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{p}: checkpoint format {config['format_version']} is newer than this hdrlift")
    return config


def pretrained_names() -> list[str]:
    """Names (``arch.tag``) of the weights shipped inside the package."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "config.json").is_file())


def resolve(name_or_path: str | os.PathLike) -> Path:
    """Map a pretrained name (``hdrunet.polyhaven``) or a path to a checkpoint directory."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if p.name == "config.json" or p.suffix == ".safetensors":
        return p.parent
    cand = WEIGHTS_DIR / str(name_or_path)
    if cand.is_dir():
        return cand
    raise ModelError(
        f"'{name_or_path}' is neither a checkpoint directory nor a shipped weight "
        f"(shipped: {', '.join(pretrained_names()) or 'none'})"
    )


def load_model(name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> HDRModel:
    """Load a checkpoint directory or a shipped pretrained name; the model is in eval mode."""
    from safetensors.torch import load_file

    d = resolve(name_or_path)
    config = read_config(d)
    spec = get_spec(config["arch"])
    model = create_model(spec.name, **config.get("hparams", {}))
    wfile = d / "model.safetensors"
    try:
        state = load_file(str(wfile), device=str(map_location))
    except FileNotFoundError:
        raise ModelError(f"{wfile}: weights file not found") from None
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{wfile}: unreadable weights ({exc})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{wfile}: weights do not match '{config['arch']}' "
            f"(missing {len(missing)}: {missing[:3]}, unexpected {len(unexpected)}: {unexpected[:3]})"
        )
    model.eval()
    model.checkpoint_config = config  # type: ignore[attr-defined]
    return model


def average_checkpoints(checkpoints: list[str | os.PathLike], directory: str | os.PathLike) -> Path:
    """Write the mean of several checkpoints' weights (same architecture and hyper-parameters) as a new
    checkpoint directory (weight averaging along one run: smooths the step-to-step swings of a short,
    noisy training). Floating-point tensors are averaged in float64; integer buffers and the config's
    ``meta`` come from the last checkpoint, whose meta gains ``averaged_from`` (the directory names).

    Raises :class:`ModelError` for fewer than two checkpoints or differing architectures / tensors.
    Returns the directory path.
    """
    if len(checkpoints) < 2:
        raise ModelError(f"averaging needs at least two checkpoints, got {len(checkpoints)}")
    models = [load_model(c) for c in checkpoints]
    first = models[0].checkpoint_config  # type: ignore[attr-defined]
    for c, m in zip(checkpoints, models):
        cfg = m.checkpoint_config  # type: ignore[attr-defined]
        if (cfg["arch"], cfg["hparams"]) != (first["arch"], first["hparams"]):
            raise ModelError(f"{c}: architecture {cfg['arch']} {cfg['hparams']} differs from "
                             f"{checkpoints[0]}: {first['arch']} {first['hparams']}")
    states = [m.state_dict() for m in models]
    avg: dict[str, torch.Tensor] = {}
    for k, v in states[-1].items():
        if v.is_floating_point():
            avg[k] = (sum(s[k].double() for s in states) / len(states)).to(v.dtype)
        else:
            avg[k] = v
    last = models[-1]
    last.load_state_dict(avg)
    meta = dict(last.checkpoint_config.get("meta", {}))  # type: ignore[attr-defined]
    meta["averaged_from"] = [Path(c).name for c in checkpoints]
    return save_model(last, directory, meta=meta)
