"""VGG16 / VGG19 feature extractors defined here (torchvision does not import beside the CPU torch).

Layer indices and parameter names follow torchvision's ``vgg16().features`` / ``vgg19().features``
(``features.<i>.weight``), so a user-given torchvision state dict (``.pth``, loaded with
``weights_only=True``) or a ``.safetensors`` file can be loaded with :func:`load_vgg_weights`.
Without such a file the weights are randomly initialised (documented by each user of this module).
Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hdrlift.nn.state import check_state_shapes

_CFG: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}

#: ImageNet normalisation used by torchvision's pretrained VGGs (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names(cfg: Sequence[int | str]) -> list[str]:
    """Names like conv1_1, relu1_1, pool1 for every module index of ``features``."""
    names: list[str] = []
    block, idx = 1, 1
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block += 1
            idx = 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class VGGFeatures(nn.Module):
    """VGG convolutional trunk returning intermediate activations by name.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        outputs: layer names to return (``"conv2_1"``, ``"relu3_1"``, ``"pool2"``...); the trunk is
            truncated after the last one requested.
        weights: optional path to a torchvision-layout state dict (``.pth``/``.safetensors``).
        normalize: subtract ImageNet mean / divide by std before the first layer.
        requires_grad: whether the VGG parameters are trainable (frozen by default).

    Shape:
        x: (B, 3, H, W) RGB in [0, 1] -> dict name -> (B, C_l, H / 2^k, W / 2^k)
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        arch: str = "vgg19",
        outputs: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        weights: str | os.PathLike | None = None,
        normalize: bool = True,
        requires_grad: bool = False,
    ) -> None:
        super().__init__()
        if arch not in _CFG:
            raise ValueError(f"unknown VGG arch {arch!r}; use one of {sorted(_CFG)}")
        cfg = _CFG[arch]
        names = _layer_names(cfg)
        unknown = [o for o in outputs if o not in names]
        if unknown:
            raise ValueError(f"unknown VGG layer(s) {unknown}; valid: {names}")
        last = max(names.index(o) for o in outputs)
        layers: list[nn.Module] = []
        in_ch = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(v)
        self.features = nn.Sequential(*layers[: last + 1])
        self.names = names[: last + 1]
        self.outputs = tuple(outputs)
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            load_vgg_weights(self, weights)
        for p in self.parameters():
            p.requires_grad_(requires_grad)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize:
            x = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        want = set(self.outputs)
        for name, layer in zip(self.names, self.features):
            x = layer(x)
            if name in want:
                out[name] = x
        return out


def load_vgg_weights(model: VGGFeatures, path: str | os.PathLike) -> None:
    """Load torchvision-layout VGG weights (``features.<i>.*``; classifier keys ignored).

    ``.safetensors`` files are read with safetensors, anything else with
    ``torch.load(weights_only=True)`` (never unpickles arbitrary objects).
    """
    from hdrlift.errors import ModelError, one_line

    p = str(path)
    state: Any  # a state dict, or a checkpoint dict holding one under "state_dict"
    try:
        if p.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(p)
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{p}: VGG weights file not found") from None
    except Exception as exc:
        raise ModelError(f"{p}: unreadable VGG weights ({one_line(exc)})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.features.state_dict()
    picked = {}
    for k in own:
        for cand in (f"features.{k}", k):
            if cand in state:
                picked[k] = state[cand]
                break
    missing = [k for k in own if k not in picked]
    if missing:
        raise ModelError(f"{p}: VGG weights miss {len(missing)} tensors (e.g. {missing[:2]})")
    check_state_shapes(p, {k: tuple(getattr(v, "shape", ())) for k, v in picked.items()}, own, "VGG16 features")
    model.features.load_state_dict(picked)
