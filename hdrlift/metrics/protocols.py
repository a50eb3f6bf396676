"""Evaluation protocols as data: what a paper or challenge fixes besides the metric formulas.

A :class:`Protocol` fixes the input preparation, the alignment of the result to the reference, the
metric set and the display on which absolute metrics are computed. ``hdrlift evaluate --protocol
NAME`` applies it, prints it above its table and writes :meth:`Protocol.to_dict` into ``--json``
(:meth:`Protocol.from_dict` reads it back). :func:`align_result` and :func:`score_pair` are the
per-image steps; running the method on the prepared input is the caller's (``hdrlift.inference``).

Alignments:

* ``none``: the result is scored as the method wrote it (challenges: the scale is part of the task).
* ``scale``: one factor per image fitted on the LDR input's unclipped pixels
  (:func:`hdrlift.metrics.align.fit_scale_unclipped`).
* ``scale+crf``: the same, then Hanji et al.'s camera-response correction on the display
  (:func:`hdrlift.metrics.align.crf_correction`). Its columns carry the suffix ``+crf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hdrlift.errors import ConfigError
from hdrlift.metrics.align import crf_correction, fit_scale_unclipped
from hdrlift.metrics.perceptual import cvvdp_available
from hdrlift.metrics.pu21 import Display
from hdrlift.metrics.registry import ALL_METRIC_SPECS, METRIC_SPECS, evaluate_pair
from hdrlift.registry import Registry

INPUT_PREPS: dict[str, str] = {
    "as_given": "the LDR input as stored (no change)",
    "8bit": "an 8-bit copy of the LDR input: round(255 x) / 255",
}
ALIGNMENTS: dict[str, str] = {
    "none": "none (the result as written)",
    "scale": "per-image scale on the input's unclipped pixels (log-luminance least squares)",
    "scale+crf": "per-image scale, then camera-response correction (Hanji et al. 2022, crf_correction.m defaults)",
}
_SUFFIX = {"none": "", "scale": "", "scale+crf": "+crf"}


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol (see module docstring).

    Attributes:
        name: ``--protocol`` value.
        title: one line.
        source: the paper / challenge whose evaluation it reproduces.
        input_prep: key of :data:`INPUT_PREPS`.
        alignments: keys of :data:`ALIGNMENTS`; every metric is reported once per alignment.
        metrics: metric names (:data:`hdrlift.metrics.registry.METRIC_SPECS`).
        optional_metrics: added when their package is installed (ColorVideoVDP).
        display: display of the absolute metrics; None when the protocol has none.
        notes: what hdrlift could not reproduce or had to assume.
        overrides: command-line options that changed the protocol's own settings.
    """

    name: str
    title: str
    source: str
    input_prep: str = "as_given"
    alignments: tuple[str, ...] = ("none",)
    metrics: tuple[str, ...] = ()
    optional_metrics: tuple[str, ...] = ()
    display: Display | None = None
    notes: str = ""
    overrides: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.input_prep not in INPUT_PREPS:
            raise ConfigError(f"protocol {self.name}: unknown input preparation {self.input_prep!r}")
        bad = [a for a in self.alignments if a not in ALIGNMENTS]
        if bad or not self.alignments:
            raise ConfigError(f"protocol {self.name}: unknown alignment(s) {bad}; use {list(ALIGNMENTS)}")
        if len({_SUFFIX[a] for a in self.alignments}) != len(self.alignments):
            raise ConfigError(f"protocol {self.name}: 'none' and 'scale' cannot both be used (same columns)")
        unknown = [m for m in (*self.metrics, *self.optional_metrics) if m not in ALL_METRIC_SPECS]
        if unknown:
            raise ConfigError(f"protocol {self.name}: unknown metric(s) {unknown}")

    # ------------------------------------------------------------------ derived
    def active_metrics(self) -> list[str]:
        """The metrics computed on this installation (optional ones only when installed)."""
        extra = [m for m in self.optional_metrics if m in METRIC_SPECS and (m != "cvvdp" or cvvdp_available())]
        return list(self.metrics) + extra

    def columns(self) -> list[str]:
        """Result column names: ``metric`` for the first alignment, ``metric+crf`` for ``scale+crf``."""
        return [f"{m}{_SUFFIX[a]}" for a in self.alignments for m in self.active_metrics()]

    def prepare_input(self, ldr: np.ndarray) -> np.ndarray:
        """Apply the input preparation to an sRGB-encoded LDR image in [0, 1].

        Shape:
            HxWx3 -> HxWx3
        """
        if self.input_prep == "8bit":
            return np.round(np.clip(np.asarray(ldr, dtype=np.float64), 0.0, 1.0) * 255.0) / 255.0
        return ldr

    def with_overrides(self, metrics: Sequence[str] | None = None, display: Display | None = None,
                       alignments: Sequence[str] | None = None) -> Protocol:
        """A copy with command-line overrides applied and listed in ``overrides``."""
        p, notes = self, list(self.overrides)
        if metrics is not None and tuple(metrics) != self.metrics:
            p, notes = replace(p, metrics=tuple(metrics), optional_metrics=()), notes + ["metrics"]
        if display is not None and display != self.display:
            p, notes = replace(p, display=display), notes + ["display"]
        if alignments is not None and tuple(alignments) != self.alignments:
            p, notes = replace(p, alignments=tuple(alignments)), notes + ["alignments"]
        return replace(p, overrides=tuple(dict.fromkeys(notes)))

    # ------------------------------------------------------------------ text / JSON
    def header(self) -> str:
        """The lines printed above the results table."""
        disp = self.display or Display()
        uses_abs = any(ALL_METRIC_SPECS[m].absolute for m in self.active_metrics())
        lines = [
            f"protocol {self.name}: {self.title}",
            f"  source: {self.source}",
            f"  input: {INPUT_PREPS[self.input_prep]}",
            "  alignment: " + "; ".join(
                f"{ALIGNMENTS[a]}" + (f" (columns {_SUFFIX[a]})" if _SUFFIX[a] else "") for a in self.alignments),
            f"  display: {disp.describe() if uses_abs else 'none (no absolute metric)'}",
            "  metrics: " + ", ".join(_metric_label(m) for m in self.active_metrics()),
        ]
        if self.notes:
            lines.append(f"  notes: {self.notes}")
        if self.overrides:
            lines.append(f"  overridden on the command line: {', '.join(self.overrides)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (round-trips through :meth:`from_dict`)."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "input_prep": self.input_prep,
            "alignments": list(self.alignments),
            "metrics": list(self.metrics),
            "optional_metrics": list(self.optional_metrics),
            "display": self.display.to_dict() if self.display else None,
            "notes": self.notes,
            "overrides": list(self.overrides),
            "columns": self.columns(),
            "metric_specs": {m: ALL_METRIC_SPECS[m].to_dict() for m in self.active_metrics()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        """Inverse of :meth:`to_dict` (derived keys ``columns`` / ``metric_specs`` are ignored)."""
        try:
            disp = d.get("display")
            return cls(
                name=str(d["name"]),
                title=str(d["title"]),
                source=str(d["source"]),
                input_prep=str(d["input_prep"]),
                alignments=tuple(d["alignments"]),
                metrics=tuple(d["metrics"]),
                optional_metrics=tuple(d.get("optional_metrics", ())),
                display=Display(str(disp["nits_map"]), float(disp["peak_nits"]), float(disp["percentile"]))
                if disp else None,
                notes=str(d.get("notes", "")),
                overrides=tuple(d.get("overrides", ())),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError(f"not a protocol description (missing or bad {e})") from None


def _metric_label(name: str) -> str:
    s = ALL_METRIC_SPECS[name]
    unit = f"{s.unit}, " if s.unit else ""
    return f"{name} [{unit}{'higher' if s.higher_is_better else 'lower'} is better]"


_HANJI = ("Hanji, Mantiuk, Eilertsen, Hajisharif, Unger, Comparison of single image HDR reconstruction methods - "
          "the caveats of quality assessment, SIGGRAPH 2022 (SI-HDR dataset)")
PROTOCOLS: Registry[Protocol] = Registry("protocol", [
    (p.name, p)
    for p in (
        Protocol(
            name="ntire2021",
            title="NTIRE 2021 HDR challenge, track 1 (single frame) scorer",
            source="Perez-Pellitero et al., NTIRE 2021 Challenge on High Dynamic Range Imaging, CVPRW 2021 "
                   "(CodaLab scoring program)",
            input_prep="as_given",
            alignments=("none",),
            metrics=("psnr_mu", "psnr_l"),
            display=None,
            notes="inputs are the challenge's 8-bit *_medium.png; scores per image, then arithmetic means",
        ),
        Protocol(
            name="si-hdr",
            title="SI-HDR protocol: 8-bit input, per-image brightness fit, PU21 with and without CRF correction",
            source=_HANJI,
            input_prep="8bit",
            alignments=("scale", "scale+crf"),
            metrics=("pu_psnr", "pu_ssim"),
            optional_metrics=("cvvdp",),
            display=Display("percentile_to_nits", 1000.0, 99.9),
            notes="HDR-VDP-3 is MATLAB only: ColorVideoVDP (same lab) is reported instead when installed; "
                  "relative HDR is put on the display above (the paper's own calibration is not reproduced); "
                  "paired differences with bootstrap 95% intervals via --compare",
        ),
        Protocol(
            name="aim2025",
            title="AIM 2025 inverse tone mapping challenge ranking metrics (PU21-PSNR, PU21-SSIM)",
            source="AIM 2025 challenge on Inverse Tone Mapping report: methods and results (arXiv 2508.13479)",
            input_prep="as_given",
            alignments=("none",),
            metrics=("pu_psnr", "pu_ssim"),
            display=Display("percentile_to_nits", 1000.0, 99.9),
            notes="inputs as distributed (8-bit JPEG); the report's mapping of its HDR to cd/m^2 is not known "
                  "to hdrlift, so the display above is hdrlift's choice (override with --nits-map/--peak-nits)",
        ),
    )
])


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (ConfigError listing the valid names otherwise)."""
    return PROTOCOLS.get(name)


def align_result(protocol: Protocol, alignment: str, ref_lin: np.ndarray, res_lin: np.ndarray,
                 ldr: np.ndarray | None) -> np.ndarray:
    """The result after one of the protocol's alignments (linear HDR, relative units of the reference).

    Shape:
        HxWx3, HxWx3, optional HxWx3 -> HxWx3
    """
    r, t = np.asarray(ref_lin, dtype=np.float64), np.asarray(res_lin, dtype=np.float64)
    if alignment == "none":
        return t
    t = t * fit_scale_unclipped(r, t, ldr)
    if alignment == "scale":
        return t
    k = (protocol.display or Display()).scale(r).scale
    return crf_correction(t * k, r * k) / k


def score_pair(protocol: Protocol, ref_lin: np.ndarray, res_lin: np.ndarray,
               ldr: np.ndarray | None = None) -> dict[str, float]:
    """Every column of the protocol for one (reference, result) pair.

    Domain: linear HDR (relative), ``ldr`` the sRGB-encoded input the method saw (after preparation).

    Shape:
        HxWx3, HxWx3, optional HxWx3 -> {column: float}
    """
    out: dict[str, float] = {}
    metrics = protocol.active_metrics()
    for a in protocol.alignments:
        aligned = align_result(protocol, a, ref_lin, res_lin, ldr)
        scores = evaluate_pair(ref_lin, aligned, ldr=ldr, metrics=metrics, display=protocol.display)
        out.update({f"{m}{_SUFFIX[a]}": v for m, v in scores.items()})
    return out


def column_spec(column: str) -> tuple[str, bool, str]:
    """(metric name, higher_is_better, unit) of a result column such as ``pu_psnr+crf``."""
    name = column[: -len("+crf")] if column.endswith("+crf") else column
    if name not in ALL_METRIC_SPECS:
        return name, True, ""
    s = ALL_METRIC_SPECS.get(name)
    return name, s.higher_is_better, s.unit
