"""The ``hdrlift`` command line, in-process (``main(argv) -> int``)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_hdr_scene
from PIL import Image

from hdrlift.cli.main import main


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """An 8-bit JPEG of a procedural scene exposed so that the light source clips."""
    from hdrlift.degrade import capture

    hdr = make_hdr_scene(48, 64, seed=1)
    res = capture(hdr, exposure_stops=1.0)
    p = tmp_path / "photo.jpg"
    Image.fromarray(np.round(np.asarray(res.ldr) * 255).astype(np.uint8)).save(p, quality=95)
    return p


def test_predict_writes_linear_exr_and_preview(photo: Path, capsys) -> None:
    from hdrlift.io import read_image

    assert main(["predict", str(photo), "--method", "kovaleski"]) == 0
    exr = photo.with_suffix(".exr")
    prev = photo.with_name("photo.preview.png")
    assert exr.exists() and prev.exists()
    hdr = read_image(exr)
    ldr = read_image(photo)
    assert hdr.shape == ldr.shape and np.isfinite(hdr).all() and hdr.min() >= 0
    clipped = ldr.max(axis=2) >= 250 / 255
    assert clipped.any()
    assert hdr[clipped].max() > 1.0  # highlights expanded above the clipping level
    well = (ldr.max(axis=2) > 0.2) & (ldr.max(axis=2) < 0.7)
    lin = np.where(ldr <= 0.04045, ldr / 12.92, ((ldr + 0.055) / 1.055) ** 2.4)
    ratio = np.median(hdr[well].mean(1) / np.maximum(lin[well].mean(1), 1e-6))
    assert 0.7 < ratio < 1.4  # mid-tones stay at the linearised input (1.0 = clipping level)
    p8 = np.asarray(Image.open(prev)).astype(np.float32)
    i8 = np.asarray(Image.open(photo)).astype(np.float32)
    assert abs(p8[well].mean() - i8[well].mean()) < 12  # preview looks like the photo, not darker


def test_predict_refuses_to_overwrite(photo: Path) -> None:
    assert main(["predict", str(photo), "--method", "linear"]) == 0
    before = photo.with_suffix(".exr").read_bytes()
    assert main(["predict", str(photo), "--method", "akyuz"]) == 1
    assert photo.with_suffix(".exr").read_bytes() == before
    assert main(["predict", str(photo), "--method", "akyuz", "--overwrite"]) == 0
    assert main(["predict", str(photo), "--method", "akyuz", "--skip-existing"]) == 0


def test_bad_inputs_one_line_errors_rest_processed(tmp_path: Path, photo: Path, capsys) -> None:
    d = tmp_path / "batch"
    d.mkdir()
    (d / "a_good.jpg").write_bytes(photo.read_bytes())
    (d / "b_empty.jpg").write_bytes(b"")
    (d / "c_text.jpg").write_text("this is not an image\n")
    (d / "d_trunc.jpg").write_bytes(photo.read_bytes()[:300])
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(d / "e_tiny.png")
    Image.fromarray(np.zeros((60, 60, 3), np.uint8)).save(d / "f_big.png")
    out = tmp_path / "out"
    rc = main(["predict", str(d), str(tmp_path / "missing.jpg"), "-o", str(out), "--method", "linear",
               "--max-pixels", "3100"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("hdrlift: error:")]
    for name in ("b_empty.jpg", "c_text.jpg", "d_trunc.jpg", "e_tiny.png", "f_big.png", "missing.jpg"):
        assert any(name in ln for ln in lines), (name, err)
    assert "Traceback" not in err
    made = sorted(p.name for p in out.iterdir())
    assert made == ["a_good.exr", "a_good.preview.png"]  # no partial outputs of the bad files


def test_hdr_reference_with_nan_is_rejected(tmp_path: Path, capsys) -> None:
    import OpenEXR

    img = make_hdr_scene(16, 16)
    img[3, 3, 0] = np.nan
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"RGB": img}).write(str(tmp_path / "nan.exr"))
    rc = main(["degrade", str(tmp_path / "nan.exr"), "-o", str(tmp_path / "pairs")])
    assert rc == 1
    assert "nan.exr" in capsys.readouterr().err


def test_degrade_deterministic_and_quantised(tmp_path: Path) -> None:
    from hdrlift.io import read_image, write_exr

    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        write_exr(src / f"s{i}.exr", make_hdr_scene(40, 56, seed=i), dtype="float")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["degrade", str(src), "-o", str(a), "--seed", "7", "--exposures=-1,0"]) == 0
    assert main(["degrade", str(src), "-o", str(b), "--seed", "7", "--exposures=-1,0"]) == 0
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert [p.as_posix() for p in fa if p.suffix == ".png" and "medium" in p.name] == [
        "0000_medium.png", "0001_medium.png", "0002_medium.png", "0003_medium.png"]
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ldr = read_image(a / "0000_medium.png")
    levels = ldr * 255
    assert np.allclose(levels, np.round(levels), atol=1e-4)
    assert (a / "plain" / "0000.exr").exists() and (a / "0000_alignratio.npy").exists()
    c = tmp_path / "c"
    assert main(["degrade", str(src), "-o", str(c), "--seed", "8", "--exposures=-1,0"]) == 0
    assert (c / "0000_medium.png").read_bytes() != (a / "0000_medium.png").read_bytes()


def test_evaluate_pred_ref_and_compare(tmp_path: Path, capsys) -> None:
    from hdrlift.io import write_exr

    src = tmp_path / "src"
    src.mkdir()
    write_exr(src / "s.exr", make_hdr_scene(40, 56, seed=3), dtype="float")
    pairs = tmp_path / "pairs"
    assert main(["degrade", str(src), "-o", str(pairs), "--exposures=0,1", "--layout", "ntire"]) == 0
    pred = tmp_path / "pred"
    meds = sorted(pairs.glob("*_medium.png"))
    for m in meds:
        assert main(["predict", str(m), "-o", str(pred / (m.name.replace("_medium", ""))), "--format", "ntire",
                     "--method", "linear", "--no-preview"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(pred), "--ref", str(pairs), "--json", "--group-by", "ev"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["rows"]) == 2 and res["summary"]["pred"]["psnr_mu"] > 10
    assert [(g["ev"], g["n"]) for g in res["groups"]["rows"]] == [("0.0", 1), ("1.0", 1)]
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--method", "landis", "--json"]) == 0
    res2 = json.loads(capsys.readouterr().out)
    lin = res2["summary"]["linear"]["psnr_mu"]
    # predicting through NTIRE files and scoring them gives the same number as the in-memory comparison
    assert abs(lin - res["summary"]["pred"]["psnr_mu"]) < 0.05
    assert set(res2["summary"]) == {"linear", "landis"}
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--model", "hdrunet.polyhaven",
                 "--precision", "bf16", "--json"]) == 0
    res3 = json.loads(capsys.readouterr().out)
    assert set(res3["summary"]) == {"linear", "hdrunet.polyhaven@bf16"}  # operators stay float32
    assert res3["summary"]["linear"]["psnr_mu"] == lin


def test_evaluate_group_by_manifest_field(tmp_path: Path, capsys) -> None:
    from hdrlift.io import write_exr

    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        write_exr(src / f"s{i}.exr", make_hdr_scene(40, 56, seed=i), dtype="float")
    pairs = tmp_path / "pairs"
    assert main(["degrade", str(src), "-o", str(pairs), "--exposures=1,-1", "--layout", "ntire"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--method", "landis",
                 "--metrics", "psnr_mu", "--group-by", "ev", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    g = res["groups"]
    assert g["field"] == "ev"
    # groups in numeric order, per method; each group's mean is the mean of its own rows
    assert [(r["method"], r["ev"], r["n"]) for r in g["rows"]] == [
        ("linear", "-1.0", 2), ("linear", "1.0", 2), ("landis", "-1.0", 2), ("landis", "1.0", 2)]
    with open(pairs / "manifest.csv", newline="") as fh:
        evs = {r["id"]: r["ev"] for r in csv.DictReader(fh)}
    for grp in g["rows"]:
        vals = [r["psnr_mu"] for r in res["rows"] if r["method"] == grp["method"] and evs[r["name"]] == grp["ev"]]
        assert grp["psnr_mu"] == pytest.approx(float(np.mean(vals)))
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--group-by", "crf"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[4].split()[:2] == ["method", "crf"]  # the grouped table follows the summary
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--group-by", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "manifest.csv: no field 'nosuch'" in err and "jpeg_quality" in err and len(err.strip().splitlines()) == 1
    (pairs / "manifest.csv").unlink()
    assert main(["evaluate", "--data", str(pairs), "--method", "linear", "--group-by", "ev"]) == 1
    assert "manifest.csv: not found" in capsys.readouterr().err


def test_listing_commands(capsys) -> None:
    assert main(["operators"]) == 0
    out = capsys.readouterr().out
    for name in ("linear", "akyuz", "landis", "huo", "kovaleski", "masia"):
        assert name in out
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"hdrunet", "twostage", "uhd_bilateral", "duhdr"} <= names
    assert next(r for r in rows if r["name"] == "hdrunet")["params"] == 1_651_494
    capsys.readouterr()
    assert main(["models", "--pretrained"]) == 0
    out = capsys.readouterr().out
    from hdrlift.checkpoint import load_model, pretrained_names

    for name in pretrained_names():  # each weight's declared blend is printed as it is declared
        meta = load_model(name).checkpoint_config["meta"]
        spec = meta["output_blend"]
        assert f"highlight {spec.get('highlight', 0):g}, camera {spec.get('camera', 'srgb')}" in out
        a = meta["suite"]["a_default"]  # and its clipped error beside the per-region oracle
        assert f"a_default {a['clip_stops']:.2f} ({a['oracle_clip_stops']:.2f})" in out
    from hdrlift.checkpoint import default_name

    marked = [line.split()[0] for line in out.splitlines() if "(default)" in line.split("arch")[0]]
    assert marked == [default_name()] and f"(--method default): {default_name()}" in out


def test_unknown_method_and_usage(photo: Path, capsys) -> None:
    assert main(["predict", str(photo), "--method", "nosuch"]) == 1
    assert "unknown method 'nosuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["predict"])
    assert e.value.code == 2


def test_import_hdrlift_is_light() -> None:
    code = "import hdrlift, sys; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    code = ("import sys, hdrlift.cli.main as m; m.build_parser(); "
            "assert 'torch' not in sys.modules; assert 'hdrlift.train.trainer' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_reconstruct_api(photo: Path) -> None:
    import hdrlift

    img = hdrlift.read_image(photo)
    out = hdrlift.reconstruct(img, method="landis")
    out2 = hdrlift.reconstruct(str(photo), method="landis")
    assert out.dtype == np.float32 and out.shape == img.shape and np.array_equal(out, out2)
    u8 = np.round(img * 255).astype(np.uint8)
    assert np.allclose(hdrlift.reconstruct(u8, method="landis"), out, atol=1e-5)


def _photo_folder(tmp_path: Path, n: int) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(d / f"p{i}.png")
    return d


def test_predict_shard_splits_the_sorted_inputs_exactly_once(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    d = _photo_folder(tmp_path, 5)
    done = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        assert main(["predict", str(d), "-o", f"{out}/", "-m", "linear", "--no-preview", "-q",
                     "--shard", f"{k}/2"]) == 0
        done.append(sorted(p.stem for p in out.glob("*.exr")))
    assert done == [["p0", "p2", "p4"], ["p1", "p3"]]


def test_predict_ignores_launcher_env_without_shard_and_warns_once(tmp_path: Path, monkeypatch, caplog) -> None:
    """WORLD_SIZE/RANK (torchrun, SLURM wrappers) never drop inputs silently: all are predicted, one warning."""
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    d = _photo_folder(tmp_path, 3)
    with caplog.at_level("WARNING"):
        assert main(["predict", str(d), "-o", f"{tmp_path / 'out'}/", "-m", "linear", "--no-preview", "-q"]) == 0
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.exr")) == ["p0", "p1", "p2"]
    warns = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warns) == 1 and "WORLD_SIZE=4" in warns[0] and "--shard $RANK/$WORLD_SIZE" in warns[0]
    caplog.clear()
    with caplog.at_level("WARNING"):  # an explicit shard: no warning, the env still unused
        assert main(["predict", str(d), "-o", f"{tmp_path / 'out2'}/", "-m", "linear", "--no-preview", "-q",
                     "--shard", "0/2"]) == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(p.stem for p in (tmp_path / "out2").glob("*.exr")) == ["p0", "p2"]


@pytest.mark.parametrize("value", ["2/2", "1", "a/b", "0/0", "-1/2"])
def test_predict_bad_shard_is_a_usage_error(tmp_path: Path, capsys, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["predict", str(tmp_path), "--shard", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shard" in err
