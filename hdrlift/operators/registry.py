"""Registry of the classical expansion operators (explicit list, no import side effects): :data:`OPERATORS`."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from hdrlift.errors import ConfigError
from hdrlift.operators.base import OperatorSpec
from hdrlift.operators.bt2446 import bt2446a, bt2446c
from hdrlift.operators.global_ops import akyuz, landis, linear, masia
from hdrlift.operators.local_ops import huo, kovaleski
from hdrlift.registry import Registry

_BOOK = "Banterle, Artusi, Debattista, Chalmers, Advanced High Dynamic Range Imaging, 2nd ed., CRC Press 2017"


def _defaults(fn: Any) -> dict[str, Any]:
    sig = inspect.signature(fn)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def _spec(name: str, fn: Any, citation: str, description: str, expands: bool = True) -> OperatorSpec:
    return OperatorSpec(name, fn, f"{citation}; via the HDR Toolbox ({_BOOK})", description, _defaults(fn), expands)


_SPECS: tuple[OperatorSpec, ...] = (
    OperatorSpec("linear", linear, "IEC 61966-2-1 sRGB decoding (no expansion)",
                 "plain linearisation, the baseline every method must beat", _defaults(linear), False),
    _spec("akyuz", akyuz, "Akyuz et al., Do HDR displays support LDR content?, ACM TOG 26(3), 2007",
          "global linear stretch (gamma 1) between the image's min and max luminance", expands=False),
    _spec("landis", landis, "Landis, Production-ready global illumination, SIGGRAPH 2002 course notes",
          "power expansion of the luminance above a threshold (alpha 2, R 0.5)"),
    _spec("huo", huo, "Huo, Yang, Dong, Brost, Physiological inverse tone mapping based on retina "
          "response, The Visual Computer 30, 2014", "retina-response gain over a bilateral local adaptation"),
    _spec("kovaleski", kovaleski, "Kovaleski & Oliveira, High-quality reverse tone mapping for a wide "
          "range of exposures, SIBGRAPI 2014", "cross-bilateral expand map of the clipped pixels (up to 4x)"),
    _spec("masia", masia, "Masia, Serrano, Gutierrez, Dynamic range expansion based on image statistics, "
          "Multimedia Tools and Applications 76, 2017 (2009 formula: Masia et al., SIGGRAPH Asia 2009)",
          "automatic gamma from the image key, clamped to [1, 3], on a bilateral base layer"),
    OperatorSpec("bt2446a", bt2446a, "ITU-R BT.2446 method A inverse (SDR to HDR conversion), Report ITU-R "
                 "BT.2446-1, 2021, Table 4", "luma power expansion Y''^E(Y'') to 1000 cd/m^2 with chroma scaling, "
                 "in a BT.2020 container", _defaults(bt2446a)),
    OperatorSpec("bt2446c", bt2446c, "ITU-R BT.2446 method C inverse (inverse tone curve of method C), Report "
                 "ITU-R BT.2446-1, 2021", "linear below 58.5 cd/m^2, exponential above (SDR 100 -> 332 cd/m^2), "
                 "xy kept, crosstalk matrix alpha 0.05", _defaults(bt2446c)),
)
OPERATORS: Registry[OperatorSpec] = Registry("operator", [(s.name, s) for s in _SPECS])


def list_operators() -> list[OperatorSpec]:
    """All registered operators, in a fixed order."""
    return OPERATORS.values()


def get_operator(name: str) -> OperatorSpec:
    """The :class:`OperatorSpec` called ``name`` (ConfigError listing the valid names otherwise)."""
    return OPERATORS.get(name)


def expand(name: str, ldr: torch.Tensor, **params: Any) -> torch.Tensor:
    """Run operator ``name`` on an LDR batch; unknown parameters raise ConfigError.

    Domain: sRGB-encoded LDR in [0, 1] -> linear HDR >= 0 (1.0 = clipping level).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W)
    """
    spec = get_operator(name)
    bad = sorted(set(params) - set(spec.defaults))
    if bad:
        raise ConfigError(f"operator {name!r}: unknown parameter(s) {bad}; valid: {', '.join(spec.defaults)}")
    with torch.no_grad():
        return spec.fn(ldr, **params)
