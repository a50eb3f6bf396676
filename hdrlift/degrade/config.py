"""Configuration of the camera model (what :func:`~hdrlift.degrade.camera.sample_params` draws from)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrlift.errors import ConfigError

#: CRF kinds the camera model can sample (``table`` needs ``crf_table_path``).
CRF_KINDS = ("srgb", "gamma", "filmic", "basis", "table")
AUTO_EXPOSURE_MODES = ("clip_fraction", "median", "none")
#: subsets of the DoRF curves a ``table`` CRF draws from (see :func:`hdrlift.degrade.camera.table_subset`)
CRF_TABLE_SUBSETS = ("all", "train", "holdout")
#: JPEG chroma subsampling modes (Pillow's names)
JPEG_SUBSAMPLING = ("4:2:0", "4:2:2", "4:4:4")
NOISE_MODELS = ("relative", "poisson")


def _default_crf_weights() -> dict[str, float]:
    return {"srgb": 0.25, "gamma": 0.2, "filmic": 0.2, "basis": 0.35}


@dataclass
class CameraConfig:
    """Distribution of camera parameters for synthesising LDR training inputs from linear HDR.

    Defaults and why:

    * ``auto_exposure="clip_fraction"`` with ``clip_fraction=(0.01, 0.15)``: the exposure is set so
      that this fraction of pixels (max channel) reaches the clipping level - a realistic range for
      photos with highlights (HDR-CNN style synthesis draws 5-15 %; 1 % adds nearly-clean shots).
      ``"median"`` instead puts the median luminance at ``median_target`` (0.18, middle grey), the
      rule of thumb of a camera meter; ``"none"`` keeps the HDR scale as is.
    * ``exposure_stops=(0, 0)``: extra stops added on top of the auto-exposure (e.g. (-3, 3) with
      ``"median"`` mimics DuHDR/SingleHDR's t in 2^[-3, 3] after mean normalisation).
    * ``crf_weights``: probabilities of the CRF kinds: ``srgb`` (the standard), ``gamma``
      (``gamma_range`` [1.8, 2.6]), ``filmic`` (Hill S-curve, contrast ``filmic_contrast`` and
      middle-grey brightness ``filmic_mid``), ``basis`` (random coefficients of hdrlift's own
      11-dim PCA basis, drawn with the family's per-component variance, then made monotonic -
      covers camera-like curves beyond the parametric ones; ``basis_spread`` 0.6 scales the
      coefficient spread so the mid-grey brightness matches real DoRF curves better - the family
      itself is deliberately wider than real cameras to make the basis general), ``table`` (a random curve from a
      DoRF file at ``crf_table_path``; weight 0 unless the user has the file). ``crf_table_subset``
      (``all``, ``train``, ``holdout``) restricts the table to a fixed, documented part of the curves:
      curve i is held out when ``i % 5 == 2`` (40 of the 201 DoRF curves), so a weight trained on
      ``train`` can be validated on cameras it never saw.
    * ``wb_jitter=0.1``: white-balance error, red and blue gains 2^U(-0.1, 0.1) (about +-7 %).
    * Noise as in SingleHDR / DuHDR synthesis: per-channel shot sigma ~ U(0, 0.08/6), read sigma ~
      U(0, 0.005), applied with probability ``noise_prob``. ``noise_model="relative"`` (the
      reference code's) adds a shot term with std shot * x and an independent read term with std
      read; ``"poisson"`` the Poisson-Gaussian std = sqrt(shot^2 * x + read^2) (both agree at the
      clipping level x = 1).
    * ``bits=8`` quantisation levels 2^bits; ``jpeg_prob=0.5`` with quality in [70, 100] (JPEG
      needs bits = 8); ``jpeg_subsampling`` the chroma subsampling (Pillow default 4:2:0).
    """

    auto_exposure: str = "clip_fraction"
    clip_fraction: tuple[float, float] = (0.01, 0.15)
    median_target: float = 0.18
    exposure_stops: tuple[float, float] = (0.0, 0.0)
    crf_weights: dict[str, float] = field(default_factory=_default_crf_weights)
    gamma_range: tuple[float, float] = (1.8, 2.6)
    filmic_contrast: tuple[float, float] = (0.6, 1.6)
    filmic_mid: tuple[float, float] = (0.35, 0.6)
    basis_k: int = 11
    basis_spread: float = 0.6
    crf_table_path: str | None = None
    crf_table_subset: str = "all"
    wb_jitter: float = 0.1
    noise_prob: float = 1.0
    noise_model: str = "relative"
    shot_sigma: tuple[float, float] = (0.0, 0.08 / 6)
    read_sigma: tuple[float, float] = (0.0, 0.005)
    bits: int = 8
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 100)
    jpeg_subsampling: str = "4:2:0"
    #: in-camera processing of the encoded image (before quantisation): colour saturation factor around the
    #: luma (1 = none) and unsharp-mask amount (radius 1 px; 0 = none), each drawn uniformly per capture
    saturation: tuple[float, float] = (1.0, 1.0)
    sharpen: tuple[float, float] = (0.0, 0.0)
    #: local tone mapping of the sensor signal (step 3b of hdrlift.degrade.camera.simulate; 0 = none): the
    #: strength, drawn uniformly per capture, with which the shadows of the down-scaled luminance are lifted
    local_tone: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for invalid values."""
        if self.auto_exposure not in AUTO_EXPOSURE_MODES:
            raise ConfigError(f"auto_exposure must be one of {AUTO_EXPOSURE_MODES}, got {self.auto_exposure!r}")
        if self.crf_table_subset not in CRF_TABLE_SUBSETS:
            raise ConfigError(f"crf_table_subset must be one of {CRF_TABLE_SUBSETS}, got {self.crf_table_subset!r}")
        if self.jpeg_subsampling not in JPEG_SUBSAMPLING:
            raise ConfigError(f"jpeg_subsampling must be one of {JPEG_SUBSAMPLING}, got {self.jpeg_subsampling!r}")
        if self.noise_model not in NOISE_MODELS:
            raise ConfigError(f"noise_model must be one of {NOISE_MODELS}, got {self.noise_model!r}")
        for name in ("clip_fraction", "exposure_stops", "gamma_range", "filmic_contrast", "filmic_mid",
                     "shot_sigma", "read_sigma", "jpeg_quality", "saturation", "sharpen", "local_tone"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"{name}: low {lo} > high {hi}")
        if not (0.0 < self.clip_fraction[0] and self.clip_fraction[1] < 1.0):
            raise ConfigError(f"clip_fraction must lie in (0, 1), got {self.clip_fraction}")
        if self.gamma_range[0] <= 0:
            raise ConfigError(f"gamma_range must be positive, got {self.gamma_range}")
        if self.filmic_contrast[0] <= 0 or not (0 < self.filmic_mid[0] and self.filmic_mid[1] < 1):
            raise ConfigError("filmic_contrast must be > 0 and filmic_mid inside (0, 1)")
        if self.shot_sigma[0] < 0 or self.read_sigma[0] < 0:
            raise ConfigError("noise sigmas must be >= 0")
        for name in ("noise_prob", "jpeg_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not 1 <= self.bits <= 16:
            raise ConfigError(f"bits must be in [1, 16], got {self.bits}")
        if self.jpeg_prob > 0 and self.bits != 8:
            raise ConfigError(f"JPEG compression needs bits=8 (got bits={self.bits}); set jpeg_prob=0")
        if not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100):
            raise ConfigError(f"jpeg_quality must lie in [1, 100], got {self.jpeg_quality}")
        unknown = set(self.crf_weights) - set(CRF_KINDS)
        if unknown:
            raise ConfigError(f"crf_weights: unknown CRF kind(s) {sorted(unknown)}; valid: {', '.join(CRF_KINDS)}")
        if any(w < 0 for w in self.crf_weights.values()) or sum(self.crf_weights.values()) <= 0:
            raise ConfigError("crf_weights must be >= 0 with a positive sum")
        if self.crf_weights.get("table", 0) > 0 and not self.crf_table_path:
            raise ConfigError("crf_weights['table'] > 0 needs crf_table_path (a DoRF .mat or dorfCurves.txt)")
        if self.saturation[0] < 0 or self.sharpen[0] < 0:
            raise ConfigError(f"saturation and sharpen must be >= 0, got {self.saturation}, {self.sharpen}")
        if not (0.0 <= self.local_tone[0] and self.local_tone[1] <= 1.0):
            raise ConfigError(f"local_tone must lie in [0, 1], got {self.local_tone}")
        if self.basis_spread < 0:
            raise ConfigError(f"basis_spread must be >= 0, got {self.basis_spread}")
        if not 1 <= self.basis_k <= 64:
            raise ConfigError(f"basis_k must be in [1, 64], got {self.basis_k}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CameraConfig:
        """Build from a plain dict (e.g. a YAML section); an unknown key is a :class:`ConfigError`
        that lists the valid keys. Lists become tuples."""
        d = dict(d or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ConfigError(f"unknown camera config key(s) {unknown}; valid keys: {', '.join(sorted(fields))}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, list):
                if len(v) != 2:
                    raise ConfigError(f"{k}: expected [low, high], got {v}")
                v = tuple(v)
            if k == "crf_weights":
                if not isinstance(v, dict):
                    raise ConfigError(f"crf_weights must be a mapping kind -> weight, got {type(v).__name__}")
                v = {str(a): float(b) for a, b in v.items()}
            kw[k] = v
        try:
            return cls(**kw)
        except TypeError as e:
            raise ConfigError(f"camera config: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists) that :meth:`from_dict` reads back."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def load_camera_config(path: str | Path) -> CameraConfig:
    """Read a :class:`CameraConfig` from a YAML file (``yaml.safe_load``; the top level may be the
    config itself or hold it under a ``camera:`` key)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read camera config {p}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML ({e})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    if set(data) == {"camera"}:
        data = data["camera"] or {}
    return CameraConfig.from_dict(data)
