"""Evaluation protocols as data, paired bootstrap comparison, and `hdrlift evaluate --protocol/--compare`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_hdr_scene

from hdrlift.cli.main import main
from hdrlift.errors import ConfigError, DataError
from hdrlift.metrics import Display, fit_scale_unclipped, pu_psnr
from hdrlift.metrics.protocols import PROTOCOLS, Protocol, align_result, get_protocol, score_pair
from hdrlift.metrics.stats import describe_difference, paired_bootstrap


def test_protocols_round_trip_and_columns() -> None:
    assert {"ntire2021", "si-hdr", "aim2025"} <= set(PROTOCOLS)
    for p in PROTOCOLS.values():
        d = json.loads(json.dumps(p.to_dict()))
        assert Protocol.from_dict(d) == p
        assert d["columns"] == p.columns()
    si = get_protocol("si-hdr")
    assert si.input_prep == "8bit" and si.alignments == ("scale", "scale+crf")
    assert [c for c in si.columns() if "cvvdp" not in c] == ["pu_psnr", "pu_ssim", "pu_psnr+crf", "pu_ssim+crf"]
    assert get_protocol("ntire2021").display is None and get_protocol("ntire2021").columns() == ["psnr_mu", "psnr_l"]
    over = si.with_overrides(display=Display("max_to_nits", 4000.0))
    assert over.overrides == ("display",) and Protocol.from_dict(over.to_dict()) == over
    assert "max -> 4000 cd/m^2" in over.header() and "overridden" in over.header()
    with pytest.raises(ConfigError, match="unknown protocol"):
        get_protocol("ntire2099")
    with pytest.raises(ConfigError, match="alignment"):
        Protocol("x", "t", "s", alignments=("bogus",))
    with pytest.raises(ConfigError, match="not a protocol"):
        Protocol.from_dict({"name": "x"})


def test_prepare_input_and_alignment() -> None:
    si = get_protocol("si-hdr")
    ldr = np.linspace(0, 1, 3 * 4 * 3).reshape(3, 4, 3)
    q = si.prepare_input(ldr)
    assert np.allclose(q * 255, np.round(q * 255)) and np.abs(q - ldr).max() <= 0.5 / 255 + 1e-12
    assert get_protocol("aim2025").prepare_input(ldr) is ldr
    ref = make_hdr_scene(24, 32).astype(np.float64)
    lin_ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    res = np.minimum(ref, 1.0) / 8.0  # three stops too dark, clipped
    assert np.allclose(align_result(si, "none", ref, res, lin_ldr), res)
    scaled = align_result(si, "scale", ref, res, lin_ldr)
    assert fit_scale_unclipped(ref, res, lin_ldr) == pytest.approx(8.0)
    assert np.allclose(scaled, np.minimum(ref, 1.0))
    row = score_pair(si, ref, res, lin_ldr)
    assert set(row) == set(si.columns())
    # the scale fit removes the exposure error: same score as the correctly exposed clipped image
    assert row["pu_psnr"] == pytest.approx(pu_psnr(ref, np.minimum(ref, 1.0)), abs=1e-9)
    # aim2025 scores the result as written: the 3-stop error costs PU-PSNR
    assert score_pair(get_protocol("aim2025"), ref, res, lin_ldr)["pu_psnr"] < row["pu_psnr"] - 3


def test_paired_bootstrap() -> None:
    a = np.linspace(20, 30, 25)
    pd = paired_bootstrap(a, a + 0.5)
    assert pd.mean_diff == pytest.approx(0.5) and pd.lo == pytest.approx(0.5) and pd.hi == pytest.approx(0.5)
    assert pd.excludes_zero() and pd.n == 25
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, 40)
    pd2 = paired_bootstrap(a[:20].tolist() * 2, (np.array(a[:20].tolist() * 2) + 1.0 + noise).tolist())
    se = noise.std() / np.sqrt(40)
    assert pd2.lo < pd2.mean_diff < pd2.hi
    assert (pd2.hi - pd2.lo) == pytest.approx(2 * 1.96 * se, rel=0.2)  # normal-theory width
    assert paired_bootstrap(a[:20].tolist() * 2, (np.array(a[:20].tolist() * 2) + 1.0 + noise).tolist()) == pd2
    line = describe_difference("pu_psnr", "A", "B", pd, True, "dB")
    assert "B better" in line and "95% CI" in line
    assert "A better" in describe_difference("delta_e_itp", "A", "B", pd, False, "dE_ITP")
    nan = a.copy()
    nan[:24] = np.nan
    with pytest.raises(DataError, match="at least 2"):
        paired_bootstrap(nan, a)


@pytest.fixture()
def tiny_pairs(tmp_path: Path) -> Path:
    from hdrlift.io import write_exr

    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        write_exr(src / f"s{i}.exr", make_hdr_scene(40, 48, seed=10 + i), dtype="float")
    pairs = tmp_path / "pairs"
    assert main(["degrade", str(src), "-o", str(pairs), "--exposures=0,1", "--layout", "ntire"]) == 0
    return pairs


def test_evaluate_protocol_json_round_trip_and_compare(tiny_pairs: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--data", str(tiny_pairs), "--protocol", "si-hdr", "--compare", "linear", "landis",
                 "--bootstrap", "500", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert Protocol.from_dict(doc["protocol"]) == get_protocol("si-hdr")
    assert set(doc["summary"]) == {"linear", "landis"}
    cols = get_protocol("si-hdr").columns()
    assert all(c in doc["rows"][0] for c in cols) and len(doc["rows"]) == 8
    cmp = doc["compare"]
    assert cmp["a"] == "linear" and cmp["b"] == "landis" and set(cmp["columns"]) == set(cols)
    c = cmp["columns"]["pu_psnr"]
    assert c["lo"] <= c["mean_diff"] <= c["hi"] and c["n"] == 4 and c["resamples"] == 500
    lin = [r["pu_psnr"] for r in doc["rows"] if r["method"] == "linear"]
    lan = [r["pu_psnr"] for r in doc["rows"] if r["method"] == "landis"]
    assert c["mean_diff"] == pytest.approx(np.mean(lan) - np.mean(lin))
    # text output: protocol header above the table, comparison lines below
    assert main(["evaluate", "--data", str(tiny_pairs), "--protocol", "aim2025", "--method", "linear",
                 "--peak-nits", "4000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("protocol aim2025") and "P99.9 -> 4000 cd/m^2" in out and "overridden" in out
    assert main(["evaluate", "--data", str(tiny_pairs), "--protocol", "ntire2021", "--method", "linear",
                 "--compare", "linear", "akyuz", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "psnr_mu: akyuz - linear" in out and "95% CI" in out
    # --compare needs methods, not a prediction folder
    assert main(["evaluate", "--pred", str(tiny_pairs), "--ref", str(tiny_pairs), "--compare", "a", "b"]) == 1


def test_evaluate_lists(capsys) -> None:
    assert main(["evaluate", "--list-metrics"]) == 0
    out = capsys.readouterr().out
    assert "delta_e_itp" in out and "lower  better" in out and "pu_ssim" in out
    assert main(["evaluate", "--list-protocols", "--json"]) == 0
    lst = json.loads(capsys.readouterr().out)
    assert [Protocol.from_dict(d) for d in lst] == list(PROTOCOLS.values())


@pytest.mark.skipif(not __import__("hdrlift.metrics", fromlist=["cvvdp_available"]).cvvdp_available(),
                    reason="optional cvvdp not installed")
def test_si_hdr_reports_cvvdp_when_installed() -> None:
    si = get_protocol("si-hdr")
    assert "cvvdp" in si.active_metrics() and "cvvdp+crf" in si.columns()
    ref = make_hdr_scene(32, 48).astype(np.float64)
    ldr = np.clip(ref, 0, 1) ** (1 / 2.2)
    row = score_pair(si, ref, np.minimum(ref, 1.0) * 0.5, ldr)
    assert 0.0 < row["cvvdp"] <= 10.0 and 0.0 < row["cvvdp+crf"] <= 10.0
