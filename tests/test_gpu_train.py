"""scripts/gpu_train.py (issue #22, item 4): pack a tiny fake data root, train every method 2 steps on the CPU,
check what would come back from the device ($OUT: at most 8 files of at most 16 MiB), and the .npy readers.

The script runs as a user runs it (subprocesses: tests do not import scripts/); the packed format and the
16-bit checkpoints it uses are package code (hdrlift.data.packed, hdrlift.checkpoint), tested here directly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import make_hdr_scene

from hdrlift.data import packed as pk
from hdrlift.data.sources import load_hdr_images, normalise_exposure
from hdrlift.data.synth import resize_max_side
from hdrlift.degrade.camera import table_subset
from hdrlift.degrade.crf_basis import load_dorf, resample_curves
from hdrlift.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_train.py"
METHODS = ("twostage", "hdrunet", "uhd_bilateral", "duhdr")
#: what one returned file of the device tool may hold, less room for the safetensors header (as the script)
CKPT_LIMIT = 16 * 2**20 - 256 * 1024


def _script(*args: str, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **env})


def _fake_dorf_mat(path: Path, n: int = 10) -> Path:
    """A 201_CRF_data.mat look-alike: arrays I (1, m) and B (n, m) of distinct power-law curves."""
    grid = np.linspace(0.0, 1.0, 257)
    curves = np.stack([grid ** (1.0 / (1.3 + 0.15 * i)) for i in range(n)])
    scipy.io.savemat(str(path), {"I": grid[None], "B": curves})
    return path


def _fake_root(tmp: Path) -> tuple[Path, Path, Path, Path]:
    """Four training scenes and one validation scene (.hdr, two of them 2:1 panoramas), split files and a
    DoRF file."""
    from hdrlift.io import write_image

    root = tmp / "hdr"
    (root / "a").mkdir(parents=True)
    names = []
    for i, (h, w) in enumerate([(40, 80), (48, 64), (36, 72), (50, 60), (32, 64)]):
        img = make_hdr_scene(h, w, seed=i) * (3.0 if i % 2 else 0.5)  # exposures that normalisation removes
        if i in (0, 4):
            img[2:5, 3:6] = 4e5  # a sun beyond the float16 range: packed scaled by a power of two
        write_image(root / "a" / f"s{i}.hdr", img)
        names.append(f"a/s{i}.hdr")
    train, val = tmp / "train.txt", tmp / "val.txt"
    train.write_text("# fake\n" + "\n".join(names[:4]) + "\n")
    val.write_text("\n".join(names[4:]) + "\n")
    return root, train, val, _fake_dorf_mat(tmp / "dorf.mat")


def _pack(tmp: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``gpu_train.py pack`` of a fresh fake data root."""
    root, train, val, crf = _fake_root(tmp)
    return _script("pack", "--out", str(out), "--root", str(root), "--train-split", str(train), "--val-split",
                   str(val), "--crf-file", str(crf), "--max-side", "64", "--val-max-side", "48", *extra)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("gpu_train")
    r = _pack(tmp, tmp / "packed", "--limit-mib", "8")
    assert r.returncode == 0, r.stderr
    return tmp / "packed"


# ----------------------------------------------------------------------------- readers and encodings


def test_load_dorf_npy_table_equals_the_mat_curves(tmp_path):
    mat = _fake_dorf_mat(tmp_path / "d.mat", 7)
    grid, curves = load_dorf(mat)
    table = np.concatenate([grid[None], curves])
    np.save(tmp_path / "d.npy", table)
    g2, c2 = load_dorf(tmp_path / "d.npy")
    assert g2.dtype == np.float64 and c2.shape == (7, 257)
    np.testing.assert_array_equal(g2, grid)
    np.testing.assert_array_equal(c2, curves)
    np.save(tmp_path / "bad.npy", np.arange(5.0))
    with pytest.raises(DataError, match="table"):
        load_dorf(tmp_path / "bad.npy")


def test_load_hdr_images_reads_npy_like_the_image(tmp_path):
    from hdrlift.io import write_image

    img = make_hdr_scene(24, 40, seed=3) * 2.0
    write_image(tmp_path / "x.exr", img, exr_dtype="float")
    np.save(tmp_path / "x.npy", img.astype(np.float32))
    (a,), _ = load_hdr_images([tmp_path / "x.exr"])
    (b,), _ = load_hdr_images([tmp_path / "x.npy"])
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.save(tmp_path / "i.npy", np.zeros((20, 20, 3), np.int32))
    with pytest.raises(DataError, match="float"):
        load_hdr_images([tmp_path / "i.npy"], on_bad="error")


def test_fp16_scale_is_a_power_of_two_below_the_float16_range():
    assert pk.fp16_scale(np.array([100.0])) == 1.0
    k = pk.fp16_scale(np.array([1e6]))
    assert k == 2.0**-5 and 1e6 * k < 65504


def test_f16_planes_round_trip_and_rounding():
    rng = np.random.default_rng(0)
    img = (rng.lognormal(-1.0, 2.0, (9, 11, 3))).astype(np.float32)
    img[0, 0] = 1e6  # above the float16 range: clamped, counted
    planes, clamped = pk.encode_f16(img, 10)
    assert clamped == 1
    exact = pk.decode_f16(planes["hi"], planes["lo"])
    assert exact.dtype == np.float16 and exact.shape == img.shape
    np.testing.assert_array_equal(exact[1:], img[1:].astype(np.float16))
    assert float(exact[0, 0, 0]) == 65504.0
    p8, _ = pk.encode_f16(img, 8)
    r8 = pk.decode_f16(p8["hi"], p8["lo"]).astype(np.float64)
    rel = np.abs(r8[1:] - img[1:]) / img[1:]
    assert rel.max() < 2.0**-8 + 2.0**-11 and rel.max() > 2.0**-11  # really rounded to 8 mantissa bits
    assert np.isfinite(r8).all()


# ----------------------------------------------------------------------------- pack, train, run-dir


def test_pack_refuses_above_the_limit_in_one_line(tmp_path):
    out = tmp_path / "packed"
    r = _pack(tmp_path, out, "--limit-mib", "0.001")
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "above" in err[0] and "MiB" in err[0] and "Traceback" not in err[0]
    assert not out.exists() and not list(tmp_path.glob(".packed.tmp-*"))


def test_pack_holds_the_scenes_curves_and_suite_pairs(packed):
    tmp_path = packed.parent
    man = json.loads((packed / "manifest.json").read_text())
    assert len(man["train"]["scenes"]) == 4 and man["train"]["mantissa_bits"] == 8
    assert max(man["train"]["scenes"][0]["shape"]) == 64
    assert man["sizes"]["val_pairs"] == 1 * 3 * 2  # scenes x parts x exposures
    assert man["sizes"]["total_bytes"] <= 8 * 2**20
    arrays = sum(p.stat().st_size for p in packed.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert man["sizes"]["total_bytes"] == arrays  # the array files; the printed total adds the manifest
    # the DoRF table keeps the order of the curves (so train / holdout subsets are the same curves)
    table = np.load(packed / "crf" / "dorf.npy")
    grid, curves = load_dorf(tmp_path / "dorf.mat")
    np.testing.assert_allclose(table[1:], resample_curves(grid, curves, 1024), atol=1e-6)
    g2, c2 = load_dorf(packed / "crf" / "dorf.npy")
    assert len(table_subset(len(c2), "holdout")) == 2
    # the training scenes unpack to the exposure-normalised, down-scaled images (8 mantissa bits)
    work = tmp_path / "work"
    split = pk.unpack_train(packed, man, work)
    files = [work / ln.split("#")[0].strip() for ln in split.read_text().splitlines()]
    (orig,), _ = load_hdr_images([tmp_path / "hdr" / "a" / "s0.hdr"])
    (back,), _ = load_hdr_images(files[:1])
    ref = normalise_exposure(resize_max_side(orig, 64))
    assert back.shape == ref.shape
    rel = np.abs(back - ref) / np.maximum(ref, 1e-3)
    assert rel.max() < 2.0**-8 and np.median(rel) < 2.0**-10
    # the validation pairs are the suite's own, bit for bit in the LDR and to float16 in the reference
    from hdrlift.tools.suite import build_suite

    want = build_suite([tmp_path / "hdr" / "a" / "s4.hdr"], parts=man["val"]["parts"], max_side=48,
                       crf_file=tmp_path / "dorf.mat")
    got = pk.load_val_pairs(packed, man)
    assert sorted((p.group, p.name) for p in got) == sorted((p.group, p.name) for p in want)
    by = {(p.group, p.name): p for p in want}
    for p in got:
        w = by[(p.group, p.name)]
        np.testing.assert_array_equal(p.ldr, w.ldr)
        np.testing.assert_allclose(p.hdr, w.hdr, rtol=2e-3, atol=1e-6)


def test_train_every_method_tiny_and_what_comes_back(packed):
    tmp_path = packed.parent
    out = tmp_path / "OUT"
    r = _script("train", "--packed", str(packed), "--methods", ",".join(METHODS), "--minutes", "30", "--out",
                str(out), "--tiny", "--device", "cpu", "--amp", "bf16", "--workers", "1", "--init-shipped",
                "--val-every", "100000",  # validated once, after the 2 steps, however slow the machine
                "--set", "twostage:loss.clip_weight=2", "--set", "hdrunet:loss.clip_weight=1",  # the highlight term
                timeout=1800, HDRLIFT_NATIVE="0")  # the torch kernels, as on CUDA (bf16 autocast checked on them)
    log = r.stdout
    assert r.returncode == 0, (log + r.stderr)[-4000:]
    assert "final validation" in log
    for m in METHODS:
        assert f"[{m}] done: 2 steps" in log
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == 8 and all(p.stat().st_size <= 16 * 2**20 for p in files)
    assert sorted(p.parent.name for p in files) == sorted([m for m in METHODS for _ in range(2)])
    from hdrlift.checkpoint import load_model

    parts = json.loads((packed / "manifest.json").read_text())["val"]["parts"]
    for m in METHODS:
        model = load_model(out / m)
        meta = model.checkpoint_config["meta"]
        assert model.arch == m and meta["step"] == 2 and meta["amp"] == "bf16"
        assert set(parts) <= {k.rsplit("_", 2)[0] for k in meta["val"] if k.endswith("_psnr_mu")}
        assert np.isfinite(meta["val"]["score"]) and meta["history"][-1]["step"] == 2
        assert "from scratch" in meta["init"]  # tiny widths never match the shipped weights
        clip = {"twostage": 2.0, "hdrunet": 1.0}.get(m)  # --set METHOD:KEY reaches that method only
        assert meta["config"]["loss"].get("clip_weight") == clip

    # a returned checkpoint becomes a run directory that scripts/ship_weights.py reads
    run = tmp_path / "runs" / "hdrunet_gpu"
    r = _script("run-dir", str(out / "hdrunet"), str(run), timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "ship_weights.py"), str(run), "--name",
                        "hdrunet.gputest", "--checkpoint", "last", "--weights-dir", str(tmp_path / "weights")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    facts = load_model(tmp_path / "weights" / "hdrunet.gputest").checkpoint_config["meta"]
    assert facts["best_step"] == 2 and facts["recipe"] == "configs/train/hdrunet_gpu.yaml"
    assert facts["val"]["score"] == pytest.approx(load_model(out / "hdrunet").checkpoint_config["meta"]["val"]["score"])
    from hdrlift.rundir import run_checkpoint

    assert run_checkpoint(run) == run / "checkpoints" / "step-0000002"


def test_bad_set_is_a_one_line_error_before_anything_is_unpacked(packed):
    """``--set`` keys are checked against each method's recipe at once: an unknown method prefix, a key the
    method's ``loss:`` does not have (duhdr has no highlight term), a bad value."""
    out = packed.parent / "OUT_BAD_SET"
    for item, match in [("vdsr:loss.clip_weight=1", "unknown method 'vdsr'"),
                        ("loss.clip_weight=1", "loss: unknown key(s) clip_weight"),  # unprefixed: duhdr too
                        ("twostage:loss.clip_delta=0", "loss.clip_delta must be > 0")]:
        r = _script("train", "--packed", str(packed), "--out", str(out), "--tiny", "--device", "cpu",
                    "--set", item, timeout=120)
        assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and match in r.stderr, r.stderr
        assert not out.exists()


def test_profile_times_each_batch_size_and_writes_the_profiler_table(packed):
    """``profile`` (the first device call of a GPU session): ms a step per batch size on a batch held in memory,
    and torch.profiler's top operators per method; a bad --batch-mult is a one-line error."""
    out = packed.parent / "PROFILE"
    r = _script("profile", "--packed", str(packed), "--methods", "twostage,duhdr", "--out", str(out), "--tiny",
                "--device", "cpu", "--batch-mult", "1,2", "--steps", "1", "--warmup", "1", timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    rep = json.loads((out / "profile.json").read_text())
    assert rep["amp"] == "fp32" and set(rep["methods"]) == {"twostage", "duhdr"}
    for m, summary in rep["methods"].items():
        rows = summary["rows"]
        assert [row["batch"] for row in rows] == [summary["recipe_batch"], 2 * summary["recipe_batch"]]
        assert all(row["ms_per_step"] > 0 and row["samples_per_s"] > 0 for row in rows)
        assert summary["profiled_ms_per_step"] > 0 and summary["gpu_busy"] is None  # (no GPU here)
        assert "Self CPU" in (out / f"profile_{m}.txt").read_text()
        assert f"[{m}] batch {summary['recipe_batch']} " in r.stdout
    assert len(list(out.iterdir())) <= 8
    bad = _script("profile", "--packed", str(packed), "--out", str(out), "--batch-mult", "1,x", timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "--batch-mult" in bad.stderr
    bad = _script("profile", "--packed", str(packed), "--out", str(out), "--steps", "0", timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "--steps" in bad.stderr


def test_storage_dtype_and_the_16_mib_limit():
    from hdrlift.checkpoint import storage_dtype
    from hdrlift.errors import ModelError
    from hdrlift.models import create_model

    assert storage_dtype(create_model("twostage"), CKPT_LIMIT) == "fp32"
    assert storage_dtype(create_model("uhd_bilateral"), CKPT_LIMIT) == "fp16"  # 18 MiB in float32 (frozen VGG)
    with pytest.raises(ModelError, match=r"^duhdr: weights of .* MiB even in 16 bits, above the limit of 15.75 MiB"):
        storage_dtype(create_model("duhdr"), CKPT_LIMIT)  # paper width: 100 MiB even in 16 bits


def test_checkpoint_in_16_bits_loads_back_close_to_the_float32_network(tmp_path):
    import torch

    from hdrlift.checkpoint import load_model, save_model_as
    from hdrlift.models import create_model

    torch.manual_seed(0)
    model = create_model("hdrunet_tiny").eval()
    assert save_model_as(model, tmp_path / "a", "fp16", {"step": 1}) == "fp16"
    back = load_model(tmp_path / "a")
    assert back.checkpoint_config["meta"]["stored_dtype"] == "fp16"
    assert next(back.parameters()).dtype == torch.float32  # loaded into the float32 network
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        a, b = model(x), back(x)
    assert float((a - b).abs().max()) < 1e-2 * float(a.abs().max()) + 1e-4
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = 1e6  # beyond float16: bfloat16 instead
    assert save_model_as(model, tmp_path / "b", "fp16", {}) == "bf16"
    assert float(next(load_model(tmp_path / "b").parameters()).detach().view(-1)[0]) == pytest.approx(1e6, rel=1e-2)


def test_wallclock_horizon_waits_for_a_real_speed_measurement():
    """The schedule horizon comes from a measured speed, never from a warm-up that has not ended (the
    session-16 device run with 15 loader workers set it from 0 steps: 4 steps, lr at its floor)."""
    from hdrlift.train.trainer import wallclock_horizon

    t0, deadline = 1000.0, 1180.0  # a 3-minute run; calib_s 14.4 s as gpu_train.py sets it
    # 16 s in, the warm-up ended at 15 s and no step since: not yet
    assert wallclock_horizon(1016.0, t0, 1015.0, 3, 3, 14.4, deadline) is None
    # warm-up not ended at all: not yet
    assert wallclock_horizon(1030.0, t0, None, 2, 0, 14.4, deadline) is None
    # 40 steps in 10 s after the warm-up: 4 it/s for the 150 s left, 7 % kept
    h = wallclock_horizon(1030.0, t0, 1020.0, 43, 3, 14.4, deadline)
    assert h == int(43 + 0.93 * 4.0 * 150.0)
    # a run that stays slow is calibrated from what it has once half the time is gone
    h = wallclock_horizon(1095.0, t0, 1090.0, 8, 3, 14.4, deadline)
    assert h == int(8 + 0.93 * 1.0 * 85.0)
    # never a horizon at or before the current step
    assert wallclock_horizon(1180.0, t0, 1020.0, 500, 3, 14.4, deadline) == 501
