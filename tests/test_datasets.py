"""Paper datasets: layouts, split rules, domain conversions, errors, training and evaluation through them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_hdr_scene

import hdrlift.io as io
from hdrlift.data.layouts import fit_clip_scale, load_pair, natural_key, srgb_decode_np
from hdrlift.data.ldr_folder import LDRFolder
from hdrlift.data.ntire import NTIREFolder, detect_takes, holdout_ids, ntire_records, precrop_ntire
from hdrlift.data.paired import build_paired_train, build_paired_val, iter_dataset_pairs
from hdrlift.data.paired_folder import PairedFolder
from hdrlift.errors import DataError
from hdrlift.train.config import config_from_dict


def _srgb(lin: np.ndarray) -> np.ndarray:
    x = np.clip(lin, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def _ldr8(hdr: np.ndarray, exposure: float = 1.0) -> np.ndarray:
    return np.round(_srgb(hdr * exposure) * 255).astype(np.uint8)


def _paired_root(tmp: Path, n: int = 3, size: tuple[int, int] = (32, 32)) -> Path:
    root = tmp / "paired"
    (root / "input").mkdir(parents=True)
    (root / "target").mkdir()
    for i in range(n):
        hdr = make_hdr_scene(*size, seed=i)
        io.write_image(root / "input" / f"img{i}.png", _ldr8(hdr))
        io.write_image(root / "target" / f"img{i}.exr", hdr * 7.0, exr_dtype="float")  # arbitrary scale
    return root


def _ntire_root(tmp: Path, takes: int = 3, per: int = 4, size: tuple[int, int] = (32, 40)) -> Path:
    root = tmp / "ntire"
    root.mkdir()
    k = 0
    for t in range(takes):
        base = make_hdr_scene(*size, seed=10 + t) * (0.3 + 0.7 * t)
        for f in range(per):
            hdr = base * (1.0 + 0.01 * f)
            pid = f"{k:04d}"
            med = np.round(np.clip(hdr, 0, 1) ** (1 / 2.24) * 255).astype(np.uint8)
            io.write_image(root / f"{pid}_medium.png", med)
            io.write_ntire(root / f"{pid}_gt.png", hdr ** (1 / 2.24))
            k += 1
    return root


def _sice_root(tmp: Path, scenes: tuple[str, ...] = ("1", "2", "10", "3", "4")) -> Path:
    part = tmp / "sice" / "Dataset_Part1"
    (part / "Label").mkdir(parents=True)
    for j, s in enumerate(scenes):
        hdr = make_hdr_scene(32, 32, seed=20 + j)
        (part / s).mkdir()
        for k, ev in enumerate((0.25, 1.0, 4.0)):
            io.write_image(part / s / f"{k + 1}.JPG", _ldr8(hdr, ev), quality=98)
        io.write_image(part / "Label" / f"{s}.JPG", _ldr8(hdr / (1 + hdr)), quality=98)
    return tmp / "sice"


def _cfg(kind: str, root: Path, out: Path, **data) -> dict:
    d = {"kind": kind, "root": str(root), "patch": 16, "batch": 2, "workers": 0, "val_max_side": 24,
         "scale_min": 1.0}
    d.update(data)
    return {"method": "hdrunet", "model": {"name": "hdrunet_tiny"}, "data": d, "steps": 1, "val_every": 1,
            "ckpt_every": 1, "log_every": 1, "out_dir": str(out), "tensorboard": False, "threads": 1,
            "seed": 3}


# -- paired ---------------------------------------------------------------------------------------------

def test_paired_items_are_deterministic_and_in_the_project_domain(tmp_path: Path) -> None:
    root = _paired_root(tmp_path)
    cfg = config_from_dict(_cfg("paired", root, tmp_path / "run"))
    ds = build_paired_train(cfg)
    assert isinstance(ds, PairedFolder) and len(ds.records) == 3
    a, b = ds[5], build_paired_train(cfg)[5]
    assert a["ldr"].shape == (3, 16, 16) and a["hdr"].shape == (3, 16, 16)
    assert torch.equal(a["ldr"], b["ldr"]) and torch.equal(a["hdr"], b["hdr"])
    assert not torch.equal(ds[5]["ldr"], ds[6]["ldr"])
    assert 0 <= float(a["ldr"].min()) and float(a["ldr"].max()) <= 1 and float(a["hdr"].min()) >= 0
    # every pair appears once per epoch (per-epoch permutation)
    assert sorted(ds.image_index(i) for i in range(3)) == [0, 1, 2]
    # HDR target scaled so the input's clipping level is 1.0: well-exposed pixels match the linear input
    pair = load_pair(ds.records[0])
    ldr, tgt = pair.ldr, pair.hdr
    assert pair.name == ds.records[0].name and pair.source == str(ds.records[0].ldr)
    lin = srgb_decode_np(ldr)
    m = (ldr.min(-1) > 0.05) & (ldr.max(-1) < 0.9)
    assert np.median(tgt[m] / lin[m]) == pytest.approx(1.0, abs=0.02)
    assert tgt.max() > 5.0  # the highlight stays above the clipping level


def test_fit_clip_scale_recovers_a_known_factor() -> None:
    hdr = make_hdr_scene(40, 40, seed=4)
    ldr = _ldr8(hdr).astype(np.float32) / 255
    assert fit_clip_scale(ldr, hdr * 0.01) == pytest.approx(100.0, rel=0.03)


def test_paired_errors_name_the_files(tmp_path: Path) -> None:
    root = _paired_root(tmp_path)
    io.write_image(root / "input" / "lonely.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="lonely.png: no matching target"):
        list(iter_dataset_pairs("paired", root))
    (root / "input" / "lonely.png").unlink()
    io.write_image(root / "input" / "img1.jpg", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="duplicate input 'img1': img1.jpg and img1.png"):
        list(iter_dataset_pairs("paired", root))
    (root / "input" / "img1.jpg").unlink()
    (root / "target" / "img2.exr").unlink()
    io.write_image(root / "target" / "img2.exr", make_hdr_scene(24, 32), exr_dtype="float")
    with pytest.raises(DataError, match=r"img2.png \(32x32\) and .*img2.exr \(32x24\) differ in size"):
        list(iter_dataset_pairs("paired", root))
    cfg = config_from_dict(_cfg("paired", root, tmp_path / "r", on_bad="error"))
    ds = build_paired_train(cfg)
    with pytest.raises(DataError, match="differ in size"):
        [ds[i] for i in range(3)]
    skip = build_paired_train(config_from_dict(_cfg("paired", root, tmp_path / "r2")))
    assert all(skip[i]["hdr"].shape == (3, 16, 16) for i in range(3))  # bad pair replaced, not fatal


def test_pair_lists_csv_and_json(tmp_path: Path) -> None:
    root = _paired_root(tmp_path)
    (root / "pairs.csv").write_text("input,target\ninput/img0.png,target/img0.exr\n"
                                    "input/img2.png,target/img2.exr\n")
    (root / "val.json").write_text(json.dumps([{"input": "input/img1.png", "target": "target/img1.exr",
                                                "name": "v1"}]))
    cfg = config_from_dict(_cfg("paired", root, tmp_path / "r", train_split=str(root / "pairs.csv"),
                                val_split=str(root / "val.json")))
    assert [r.name for r in build_paired_train(cfg).records] == ["img0", "img2"]
    val = build_paired_val(cfg)
    assert [v.name for v in val] == ["v1"] and val[0].ldr.shape == (24, 24, 3) and val[0].ldr.dtype == np.float32
    assert [p.name for p in iter_dataset_pairs("paired", root / "pairs.csv")] == ["img0", "img2"]
    (root / "bad.csv").write_text("a,b\nx,y\n")
    with pytest.raises(DataError, match="columns input,target"):
        list(iter_dataset_pairs("paired", root / "bad.csv"))


# -- NTIRE -----------------------------------------------------------------------------------------------

def test_ntire_takes_holdout_and_domain(tmp_path: Path) -> None:
    root = _ntire_root(tmp_path)
    recs = ntire_records(root)
    takes = detect_takes(recs)
    assert takes == [[f"{i:04d}" for i in range(t * 4, t * 4 + 4)] for t in range(3)]
    held = holdout_ids(takes, per_take=3)
    assert len(held) == 9 and all(sum(h in t for h in held) == 3 for t in takes)
    assert holdout_ids(takes, per_take=3) == held  # fixed split seed
    train = NTIREFolder(root, "train", val_ids=held, patch=16)
    test = NTIREFolder(root, "test", val_ids=held, patch=16)
    assert {r.name for r in train.records}.isdisjoint({r.name for r in test.records})
    assert len(train.records) + len(test.records) == 12
    pair = load_pair(recs[0])
    ldr, tgt = pair.ldr, pair.hdr
    np.testing.assert_allclose(tgt, io.read_ntire(recs[0].target) ** 2.24, rtol=1e-6)
    np.testing.assert_array_equal(ldr, io.read_image(recs[0].ldr))  # the medium frame as is
    # default rule of a training config on a small folder: 1 held-out frame per take (per_take 3 -> 3)
    cfg = config_from_dict(_cfg("ntire", root, tmp_path / "r"))
    assert len(build_paired_train(cfg).records) == 3 and len(build_paired_val(cfg)) == 9
    # pre-cropped training folder: the hold-out is detected on the full frames (val_root), by image id
    crops = tmp_path / "crops"
    assert precrop_ntire(root, crops, size=16, stride=16) == 12 * 4
    cfg = config_from_dict(_cfg("ntire", crops, tmp_path / "r", val_root=str(root)))
    tr = build_paired_train(cfg)
    assert len(tr.records) == 3 * 4 and {r.group for r in tr.records}.isdisjoint(held)
    assert tr[0]["ldr"].shape == (3, 16, 16) and len(build_paired_val(cfg)) == 9
    (root / "val.txt").write_text("0000_medium.png\n0005\n")
    cfg = config_from_dict(_cfg("ntire", root, tmp_path / "r", val_split=str(root / "val.txt")))
    assert len(build_paired_train(cfg).records) == 10
    assert [v.name for v in build_paired_val(cfg)] == ["0000", "0005"]


def test_precrop_ntire_keeps_values_and_ratio(tmp_path: Path) -> None:
    root = _ntire_root(tmp_path, takes=1, per=1, size=(70, 100))
    out = tmp_path / "crops"
    assert precrop_ntire(root, tmp_path / "c48", size=48, stride=24) == 3  # rows [0] (22 px rest < 48)
    n = precrop_ntire(root, out, size=48, stride=24, min_rest=8)
    # rows: 0, then the edge crop at 22 (22 px rest >= 8); cols: 0, 24, 48 (4 px rest < 8: no edge crop)
    assert n == 2 * 3
    full_gt = io.read_ntire(root / "0000_gt.png")
    full_ldr = io.read_image(root / "0000_medium.png")
    r0 = np.load(root / "0000_alignratio.npy")
    for k, (y, x) in enumerate([(0, 0), (0, 24), (0, 48), (22, 0), (22, 24), (22, 48)], start=1):
        sid = f"0000_s{k:03d}"
        assert np.load(out / f"{sid}_alignratio.npy") == pytest.approx(float(r0))
        crop = (slice(y, y + 48), slice(x, x + 48))
        np.testing.assert_allclose(io.read_ntire(out / f"{sid}_gt.png"), full_gt[crop], rtol=1e-6)
        np.testing.assert_array_equal(io.read_image(out / f"{sid}_medium.png"), full_ldr[crop])
    recs = ntire_records(out)
    assert {r.group for r in recs} == {"0000"}
    with pytest.raises(Exception, match="exists"):
        precrop_ntire(root, out, size=48, stride=24, min_rest=8)


# -- SICE / FiveK / HDR-Real / HDR-Eye ---------------------------------------------------------------------

def test_sice_layout_and_scene_split(tmp_path: Path) -> None:
    root = _sice_root(tmp_path)
    cfg = config_from_dict(_cfg("sice", root, tmp_path / "r"))
    train = build_paired_train(cfg).records
    assert sorted({r.group for r in train}, key=natural_key) == ["1", "2", "3", "4"]  # natural order: 10 last
    assert len(train) == 12 and all(r.target.parent.name == "Label" for r in train)
    test = list(iter_dataset_pairs("sice", root))
    assert [p.name for p in test] == ["10_1", "10_2", "10_3"] and test[0].group == "10"
    ldr, ref = test[0].ldr, test[0].hdr
    assert ldr.shape == ref.shape == (32, 32, 3) and ref.max() <= 1.0  # LDR label, sRGB-decoded
    # the part folder itself is accepted as the root
    assert len(list(iter_dataset_pairs("sice", root / "Dataset_Part1"))) == 3


def test_fivek_and_hdr_real_and_hdr_eye(tmp_path: Path) -> None:
    fk = tmp_path / "fivek"
    (fk / "input").mkdir(parents=True)
    (fk / "expertA").mkdir()
    for i in range(10):
        hdr = make_hdr_scene(24, 24, seed=i)
        io.write_image(fk / "input" / f"a{i:04d}.jpg", _ldr8(hdr))
        io.write_image(fk / "expertA" / f"a{i:04d}.tif", _ldr8(hdr, 1.5))
    cfg = config_from_dict(_cfg("fivek", fk, tmp_path / "r"))
    assert len(build_paired_train(cfg).records) == 9
    assert [p.name for p in iter_dataset_pairs("fivek", fk)] == ["a0009"]

    hr = tmp_path / "hdr_real"
    for split, ids in (("train", range(3)), ("test", range(3, 5))):
        (hr / split / "LDR_in").mkdir(parents=True)
        (hr / split / "HDR_gt").mkdir()
        for i in ids:
            hdr = make_hdr_scene(24, 32, seed=i)
            io.write_image(hr / split / "LDR_in" / f"{i:05d}.jpg", _ldr8(hdr), quality=98)
            io.write_image(hr / split / "HDR_gt" / f"{i:05d}.hdr", hdr * 0.3)
    cfg = config_from_dict(_cfg("hdr_real", hr, tmp_path / "r"))
    assert [r.name for r in build_paired_train(cfg).records] == ["00000", "00001", "00002"]
    pairs = list(iter_dataset_pairs("hdr_real", hr))
    assert [p.name for p in pairs] == ["00003", "00004"] and pairs[0].hdr.max() > 2.0
    assert len(list(iter_dataset_pairs("hdr_eye", hr / "test"))) == 2
    with pytest.raises(DataError, match="test set only"):
        build_paired_train(config_from_dict(_cfg("hdr_eye", hr / "test", tmp_path / "r")))
    with pytest.raises(DataError, match="unknown dataset kind 'nope'"):
        list(iter_dataset_pairs("nope", hr))


# -- unpaired LDR ---------------------------------------------------------------------------------------

def test_ldr_folder_is_deterministic_and_skips_bad_files(tmp_path: Path) -> None:
    d = tmp_path / "ldr"
    d.mkdir()
    for i in range(3):
        io.write_image(d / f"p{i}.jpg", _ldr8(make_hdr_scene(40, 48, seed=i)))
    (d / "broken.png").write_bytes(b"not a png")
    ds = LDRFolder(d, patch=16, seed=1, scale_min=0.5)
    a = [ds[i]["ldr"] for i in range(8)]
    b = [LDRFolder(d, patch=16, seed=1, scale_min=0.5)[i]["ldr"] for i in range(8)]
    assert all(x.shape == (3, 16, 16) and torch.equal(x, y) for x, y in zip(a, b))
    assert all(0 <= float(x.min()) and float(x.max()) <= 1 for x in a)
    assert not torch.equal(a[0], LDRFolder(d, patch=16, seed=2, scale_min=0.5)[0]["ldr"])
    with pytest.raises(DataError, match="broken.png"):
        [LDRFolder(d, patch=16, on_bad="error")[i] for i in range(8)]


# -- through the trainer and the CLI -------------------------------------------------------------------------

def test_one_training_step_on_sice(tmp_path: Path) -> None:
    from hdrlift.train.trainer import train

    root = _sice_root(tmp_path)
    run = train(config_from_dict(_cfg("sice", root, tmp_path / "run", val_limit=2)), progress=False)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "train" and np.isfinite(r["loss"]) for r in log)
    assert any(r["kind"] == "val" and np.isfinite(r["psnr_mu"]) for r in log)


def test_evaluate_cli_on_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hdrlift.cli.main import main

    root = _paired_root(tmp_path)
    rc = main(["evaluate", "--dataset", "paired", "--root", str(root), "--method", "linear", "--json",
               "--metrics", "psnr_mu,psnr_log,ssim_log", "--device", "cpu"])
    assert rc in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["linear"]["n"] == 3
    assert np.isfinite(out["summary"]["linear"]["psnr_mu"])


# -- paper metrics ------------------------------------------------------------------------------------------

def test_duhdr_display_normalisation() -> None:
    from hdrlift.metrics.paper import (
        duhdr_display_normalise,
        pu_psnr_duhdr,
        singlehdr_p3_normalise,
    )

    x = np.array([[[0.5, 1.0, 2.0]], [[4.0, 8.0, 10.5]]])
    y = duhdr_display_normalise(x, l_min=0.005, l_max=1000.0, offset="display")
    assert y.min() == pytest.approx(0.005 + 999.995 * 1e-5 / 10.0)
    assert y.max() == pytest.approx(1000.0, rel=1e-6)
    yp = duhdr_display_normalise(x, l_min=0.005, l_max=1000.0)  # "+ x_min" as printed
    assert yp.min() == pytest.approx(0.5 + 999.995 * 1e-5 / 10.0)
    ref = make_hdr_scene(32, 32, seed=1)
    # per-image normalisation onto the display range ignores the exposure scale; the printed "+ x_min"
    # keeps a small dependence on it
    assert pu_psnr_duhdr(ref, ref * 3.0, offset="display") > 60
    assert 40 < pu_psnr_duhdr(ref, ref * 3.0) < pu_psnr_duhdr(ref, ref * 3.0, offset="display")
    assert pu_psnr_duhdr(ref, ref ** 1.3) < 45
    z = singlehdr_p3_normalise(np.linspace(0, 1, 10001))
    assert z[9] == pytest.approx(1.0, abs=1e-6) and z[-10] == pytest.approx(999.0, rel=1e-6)


# -- SI-HDR and AIM 2025 layouts -------------------------------------------------------------------------

def test_si_hdr_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "SI-HDR"
    (root / "reference").mkdir(parents=True)
    for i in (1, 2, 10):
        hdr = make_hdr_scene(24, 32, seed=40 + i)
        io.write_image(root / "reference" / f"{i:03d}.exr", hdr * 250.0, exr_dtype="float")  # absolute-ish
        for cond, ev in (("clip_50", 2.0), ("clip_95", 0.5)):
            (root / cond).mkdir(exist_ok=True)
            io.write_image(root / cond / f"{i:03d}.jpg", _ldr8(hdr, ev), quality=98)
    (root / "notes").mkdir()  # a folder without images is ignored
    names = [p.name for p in iter_dataset_pairs("si_hdr", root)]
    assert names == ["clip_50/001", "clip_50/002", "clip_50/010", "clip_95/001", "clip_95/002", "clip_95/010"]
    # one input condition: root = that folder next to reference/
    pairs = list(iter_dataset_pairs("si_hdr", root / "clip_95"))
    assert [p.name for p in pairs] == ["clip_95/001", "clip_95/002", "clip_95/010"]
    ldr, ref = pairs[0].ldr, pairs[0].hdr
    assert ldr.shape == ref.shape == (24, 32, 3) and ldr.max() <= 1.0
    # the reference is put in the project scale of its input (clipping level of the input = 1.0)
    assert ref.max() > 1.0 and np.median(srgb_decode_np(ldr)[ldr.max(-1) < 0.9] / np.maximum(
        ref[ldr.max(-1) < 0.9], 1e-6)) == pytest.approx(1.0, abs=0.1)
    with pytest.raises(DataError, match="test set only"):
        build_paired_train(config_from_dict(_cfg("si_hdr", root, tmp_path / "r")))
    io.write_image(root / "clip_95" / "777.jpg", _ldr8(make_hdr_scene(24, 32)), quality=98)
    with pytest.raises(DataError, match="without a reference.*777.jpg"):
        list(iter_dataset_pairs("si_hdr", root))
    with pytest.raises(DataError, match="no SI-HDR layout"):
        list(iter_dataset_pairs("si_hdr", tmp_path))
    (root / "clip_95" / "777.jpg").unlink()
    from hdrlift.cli.main import main

    capsys.readouterr()
    assert main(["evaluate", "--dataset", "si_hdr", "--root", str(root / "clip_50"), "--protocol", "si-hdr",
                 "--method", "linear", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["linear"]["n"] == 3 and doc["protocol"]["name"] == "si-hdr"


def test_aim2025_layout(tmp_path: Path) -> None:
    root = tmp_path / "aim2025"
    for split, ids in (("train", range(3)), ("val", range(3, 5))):
        (root / split / "LDR").mkdir(parents=True)
        (root / split / "HDR").mkdir()
        for i in ids:
            hdr = make_hdr_scene(24, 24, seed=60 + i)
            io.write_image(root / split / "LDR" / f"{i:04d}.jpg", _ldr8(hdr), quality=95)
            io.write_image(root / split / "HDR" / f"{i:04d}.exr", hdr * 3.0, exr_dtype="float")
    cfg = config_from_dict(_cfg("aim2025", root, tmp_path / "r"))
    assert [r.name for r in build_paired_train(cfg).records] == ["0000", "0001", "0002"]
    assert [p.name for p in iter_dataset_pairs("aim2025", root)] == ["0003", "0004"]  # val/ as the test part
    assert [p.name for p in iter_dataset_pairs("aim2025", root / "train")] == ["0000", "0001", "0002"]
    (root / "val" / "HDR" / "0004.exr").unlink()
    with pytest.raises(DataError, match="0004"):
        list(iter_dataset_pairs("aim2025", root))
    with pytest.raises(DataError, match="no AIM 2025 layout"):
        list(iter_dataset_pairs("aim2025", root / "val" / "LDR"))
