"""Checkpoints: ``model.safetensors`` + ``config.json``; loading never unpickles.

config.json::

    {"format": "hdrlift-checkpoint", "format_version": 1, "arch": "hdrunet",
     "hparams": {...}, "domain": "...", "hdrlift_version": "0.1.0", "meta": {...}}

Pretrained weights shipped with the package live in ``hdrlift/weights/<name.tag>/`` and are loaded
by name (``load_model("hdrunet.polyhaven")``). :func:`resolve_name` is the one place that turns a name a
user gives (``default``, operator, architecture, shipped weight, checkpoint or run directory) into what
it means.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from hdrlift import rundir
from hdrlift.errors import ModelError, one_line
from hdrlift.models import HDRModel, create_model, get_spec, list_models
from hdrlift.models.registry import validate_hparams
from hdrlift.nn.state import check_state_shapes
from hdrlift.operators import list_operators

FORMAT = "hdrlift-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: a checkpoint's config.json is small; anything larger is refused unread
MAX_CONFIG_BYTES = 1 << 20
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2")


def _version() -> str:
    from hdrlift._version import __version__

    return __version__


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` with the one atomic writer of :mod:`hdrlift.io.atomic` (fsync, no partial file)."""
    from hdrlift.io.atomic import write_bytes_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data, overwrite=True)


def check_checkpoint_target(directory: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse (one-line ModelError) a target that is a file, or a checkpoint directory that exists and
    may not be replaced."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ModelError(f"{d}: exists and is not a directory")
    if not overwrite and any((d / n).exists() for n in ("model.safetensors", "config.json")):
        raise ModelError(f"{d}: a checkpoint exists there (use --overwrite)")
    return d


def save_model(model: HDRModel, directory: str | os.PathLike, meta: dict[str, Any] | None = None,
               overwrite: bool = True) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically).

    With ``overwrite=False`` an existing checkpoint in ``directory`` is refused (:class:`ModelError`).
    Returns the directory path.
    """
    from safetensors.torch import save

    d = check_checkpoint_target(directory, overwrite)
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


def state_bytes(model: torch.nn.Module, dtype: str | None = None) -> int:
    """Bytes of the model's tensors when stored with its floating tensors in ``dtype`` (``fp32``, ``fp16``,
    ``bf16``; None = as they are)."""
    total = 0
    for v in model.state_dict().values():
        size = v.element_size() if dtype is None or not v.is_floating_point() else (2 if dtype != "fp32" else 4)
        total += v.numel() * size
    return total


def storage_dtype(model: HDRModel, limit: int) -> str:
    """``fp32`` when the float32 weights take at most ``limit`` bytes, else ``fp16``; a one-line ModelError
    when even 16 bits exceed it."""
    if state_bytes(model, "fp32") <= limit:
        return "fp32"
    if state_bytes(model, "fp16") <= limit:
        return "fp16"
    raise ModelError(f"{model.arch}: weights of {state_bytes(model, 'fp16') / 2**20:.1f} MiB even in 16 bits, "
                     f"above the limit of {limit / 2**20:.2f} MiB; use reduced widths")


def save_model_as(model: HDRModel, directory: str | os.PathLike, dtype: str, meta: dict[str, Any] | None = None,
                  ) -> str:
    """:func:`save_model` with the floating tensors in ``dtype`` (``fp32``, or ``fp16``, which becomes ``bf16``
    when a value exceeds the float16 range); ``meta.stored_dtype`` records it and :func:`load_model` loads the
    file into the float32 network. Returns the dtype used."""
    import copy

    if dtype not in ("fp32", "fp16", "bf16"):
        raise ModelError(f"storage dtype must be fp32, fp16 or bf16, got {dtype!r}")
    m = copy.deepcopy(model).to("cpu")
    used = dtype
    if dtype == "fp16" and any(v.is_floating_point() and bool((v.detach().abs() > torch.finfo(torch.float16).max)
                                                              .any()) for v in m.state_dict().values()):
        used = "bf16"
    if used != "fp32":
        m = m.to(torch.float16 if used == "fp16" else torch.bfloat16)
    save_model(m, directory, meta={**(meta or {}), "stored_dtype": used})
    return used


def golden_input() -> torch.Tensor:
    """The fixed smooth LDR input with a clipped region (1x3x24x40) whose output every shipped weight records
    in its ``golden.json`` (written by ``scripts/ship_weights.py``, checked by tests/test_weights.py)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 40), indexing="ij")
    r = (0.2 + 0.9 * xx).clamp(0, 1)
    g = (0.1 + 0.7 * yy + 0.3 * torch.sin(6 * xx)).clamp(0, 1)
    b = (0.3 + 0.4 * xx * yy + 0.8 * torch.exp(-((xx - 0.7) ** 2 + (yy - 0.3) ** 2) / 0.02)).clamp(0, 1)
    return torch.stack([r, g, b])[None].contiguous()


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint directory (types and ranges of every field,
    hyper-parameters included, before anything is allocated)."""
    p = Path(directory) / "config.json"
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelError(f"{p}: checkpoint config is {p.stat().st_size} bytes (at most {MAX_CONFIG_BYTES})")
        config = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModelError(f"{p}: checkpoint config not found") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}: unreadable checkpoint config ({one_line(exc)})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or "arch" not in config:
        raise ModelError(f"{p}: not an hdrlift checkpoint config")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelError(f"{p}: format_version must be an integer, got {version!r:.40}")
    if version > FORMAT_VERSION:
        raise ModelError(f"{p}: checkpoint format {version} is newer than this hdrlift")
    if not isinstance(config["arch"], str):
        raise ModelError(f"{p}: arch must be a string, got {config['arch']!r:.40}")
    hparams = config.get("hparams", {})
    if not isinstance(hparams, dict):
        raise ModelError(f"{p}: hparams must be a mapping, got {type(hparams).__name__}")
    if not isinstance(config.get("meta", {}), dict):
        raise ModelError(f"{p}: meta must be a mapping")
    try:
        validate_hparams(config["arch"], hparams)
    except ModelError as exc:
        raise ModelError(f"{p}: {exc}") from None
    return config


def pretrained_names() -> list[str]:
    """Names (``arch.tag``) of the weights shipped inside the package."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "config.json").is_file())


#: Used when no trained network is shipped: the best *expanding* classical operator in BENCHMARKS.md
#: (linear / akyuz / masia score marginally higher PSNR-mu but leave clipped highlights at 1.0, i.e.
#: reconstruct nothing; kovaleski is the best of the operators that expand highlights).
DEFAULT_OPERATOR = "kovaleski"


def default_name() -> str:
    """What ``default`` means: the shipped default network (``weights/default.json``), else the best
    expanding operator."""
    dfile = WEIGHTS_DIR / "default.json"
    if dfile.is_file():
        try:
            name = json.loads(dfile.read_text()).get("default")
        except (OSError, ValueError, AttributeError):
            name = None
        if name in pretrained_names():
            return str(name)
    return DEFAULT_OPERATOR


@dataclass(frozen=True)
class Resolved:
    """What a method name means (:func:`resolve_name`).

    Attributes:
        kind: ``operator`` (a classical operator), ``checkpoint`` (a shipped weight, a checkpoint directory
            or a training run) or ``architecture`` (a registered architecture name, ``hdrunet_tiny``).
        name: the operator / architecture / shipped name, or the path as given.
        path: the checkpoint directory to load; for an architecture its shipped weight (None if none is
            shipped); None for an operator.
    """

    kind: Literal["operator", "checkpoint", "architecture"]
    name: str
    path: Path | None = None


def resolve_name(name: str | os.PathLike) -> Resolved:
    """The one resolution of the names users give for a method (``-m``/``--model``, ``init:``,
    ``hdrlift.create_model``, ``load_model``), in this order:

    ``default`` (:func:`default_name`); an existing directory: a training run (its best checkpoint, else
    its last: :func:`hdrlift.rundir.run_checkpoint`) or a checkpoint directory; a ``config.json`` /
    ``.safetensors`` path (its directory); a classical operator; a shipped weight (``hdrunet.polyhaven``);
    an architecture (``hdrunet``; ``path`` = its shipped weight when there is one). Anything else is a
    one-line :class:`ModelError` listing the valid names. Nothing is loaded.
    """
    s = os.fspath(name)
    if s == "default":
        s = default_name()
    p = Path(s)
    if p.is_dir():
        if rundir.is_run_dir(p):
            ck = rundir.run_checkpoint(p)
            if ck is None:
                raise ModelError(f"{p}: a training run without a loadable checkpoint (best.json / last.json "
                                 "point at none with a config.json)")
            return Resolved("checkpoint", s, ck)
        return Resolved("checkpoint", s, p)
    if p.name == "config.json" or p.suffix == ".safetensors":
        return Resolved("checkpoint", s, p.parent)
    operators = [o.name for o in list_operators()]
    if s in operators:
        return Resolved("operator", s)
    shipped = pretrained_names()
    if s in shipped:
        return Resolved("checkpoint", s, WEIGHTS_DIR / s)
    archs = [m.name for m in list_models()]
    if s in archs:
        own = [n for n in shipped if n.split(".")[0] == s]
        return Resolved("architecture", s, WEIGHTS_DIR / own[0] if own else None)
    raise ModelError(f"unknown method '{s}': not a checkpoint or run directory, an operator "
                     f"({', '.join(operators)}), a shipped weight ({', '.join(shipped) or 'none'}) or an "
                     f"architecture ({', '.join(archs)})")


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint directory a network name means (:func:`resolve_name`; an architecture name means its
    shipped weight); a one-line :class:`ModelError` for an operator or an architecture without one."""
    r = resolve_name(name_or_path)
    if r.kind == "operator":
        raise ModelError(f"'{r.name}' is a classical operator, not a network checkpoint")
    if r.path is None:
        raise ModelError(f"no trained weights are shipped for '{r.name}' (shipped: "
                         f"{', '.join(pretrained_names()) or 'none'}); pass a checkpoint directory "
                         "(see 'hdrlift train')")
    return r.path


def _weights_header(wfile: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Names -> (shape, dtype) of the tensors in a safetensors file, from its header alone (no data read)."""
    from safetensors import safe_open

    try:
        out = {}
        with safe_open(str(wfile), framework="pt") as f:
            for k in f.keys():
                sl = f.get_slice(k)
                out[k] = (tuple(int(d) for d in sl.get_shape()), str(sl.get_dtype()))
        return out
    except FileNotFoundError:
        raise ModelError(f"{wfile}: weights file not found") from None
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{wfile}: unreadable weights ({one_line(exc)})") from None


def _check_weights(wfile: Path, arch: str, header: dict[str, tuple[tuple[int, ...], str]],
                   own: dict[str, torch.Tensor]) -> None:
    """Names, shapes and dtypes of the file's tensors against the model's state dict (one-line ModelError:
    a shape that differs from the checkpoint's config names the file, the tensor, expected and found)."""
    check_state_shapes(wfile, {k: shape for k, (shape, _) in header.items()}, own,
                       f"'{arch}' as {wfile.parent / 'config.json'} configures it")
    for k, t in own.items():
        _, dtype = header[k]
        if t.is_floating_point() != (dtype in _FLOAT_DTYPES):
            raise ModelError(f"{wfile}: tensor {k} has dtype {dtype}, '{arch}' needs {t.dtype}")


def load_model(name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> HDRModel:
    """Load a checkpoint directory or a shipped pretrained name; the model is in eval mode.

    Order of the checks (nothing is allocated before the one that could refuse it): the config's types
    and ranges (:func:`read_config`), construction under the parameter ceiling
    (:func:`hdrlift.models.create_model`), the weight file's header (names, shapes, dtypes), and only
    then its data, which must be finite. Every failure is a one-line :class:`ModelError`.
    """
    from safetensors.torch import load_file

    d = resolve(name_or_path)
    config = read_config(d)
    spec = get_spec(config["arch"])
    wfile = d / "model.safetensors"
    header = _weights_header(wfile)
    try:
        model = create_model(spec.name, **config.get("hparams", {}))
    except ModelError as exc:
        raise ModelError(f"{d / 'config.json'}: {exc}") from None
    _check_weights(wfile, config["arch"], header, model.state_dict())
    try:
        state = load_file(str(wfile), device=str(map_location))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{wfile}: unreadable weights ({one_line(exc)})") from None
    for k, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelError(f"{wfile}: tensor {k} contains NaN or Inf")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{wfile}: weights do not match '{config['arch']}' ({one_line(exc)})") from None
    model.eval()
    model.checkpoint_config = config
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
    first = models[0].checkpoint_config
    assert first is not None  # load_model sets it
    for c, m in zip(checkpoints, models):
        cfg = m.checkpoint_config
        assert cfg is not None
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
    assert last.checkpoint_config is not None
    meta = dict(last.checkpoint_config.get("meta", {}))
    meta["averaged_from"] = [Path(c).name for c in checkpoints]
    return save_model(last, directory, meta=meta)
