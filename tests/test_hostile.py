"""Hostile inputs, kills and shared machines: a corpus of bad files built in a temp dir at test time.

For each case: the exit code, one line on stderr naming the file, no traceback, no partial or
temporary file left, the other files of a batch done, and (where a result is expected) output equal to
an independent decoder's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdrlift.cli.main import main
from hdrlift.errors import ModelError

REPO = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``hdrlift ARGV`` in-process: (exit code, stdout, stderr); argparse's exits become codes."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = int(exc.code) if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(err: str, *names: str) -> str:
    """stderr holds exactly one ``hdrlift: error:`` line (naming each of ``names``) and no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1, err
    assert "\x1b" not in lines[0] and "weights_only=False" not in lines[0], lines[0]
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files of interrupted writes left in ``folder`` (recursively)."""
    from hdrlift.io.atomic import is_temp_name

    return [str(p) for p in folder.rglob("*") if is_temp_name(p.name) or ".tmp" in p.name]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    p = tmp_path / "in" / "photo.png"
    p.parent.mkdir()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(p)
    return p


# -- checkpoints ----------------------------------------------------------------------------------------


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    """A genuine (untrained) twostage_tiny checkpoint directory."""
    from hdrlift.checkpoint import save_model
    from hdrlift.models import create_model

    return save_model(create_model("twostage_tiny"), tmp_path / "ck")


def _edit_config(ck: Path, **hparams: object) -> None:
    cfg = json.loads((ck / "config.json").read_text())
    cfg["hparams"].update(hparams)
    (ck / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(("hparams", "words"), [
    ({"nf": 200000}, "out of range"),  # would ask for terabytes
    ({"nf": "64"}, "must be an integer"),
    ({"nf": 8.5}, "must be an integer"),
    ({"n_blocks1": -3}, "out of range"),
    ({"gc": None}, "must be an integer"),
    ({"nf": True}, "must be an integer"),
    ({"residual": ["paper"]}, "must be a string"),
    ({"bogus": 1}, "unknown hyper-parameter"),
    ({"nf": 4096, "gc": 4096, "n_blocks1": 64}, "ceiling"),  # in range each, too many parameters together
])
def test_bad_checkpoint_config_is_one_line_before_allocation(ckpt: Path, photo: Path, capsys, hparams, words) -> None:
    _edit_config(ckpt, **hparams)
    t0 = time.perf_counter()
    rc, _, err = run_cli(["predict", str(photo), "-m", str(ckpt), "-o", str(photo.parent / "o.exr")], capsys)
    assert rc == 1
    line = assert_one_line_error(err, "config.json")
    assert words in line
    assert time.perf_counter() - t0 < 30
    assert not (photo.parent / "o.exr").exists()


def test_parameter_ceiling_is_checked_before_the_memory_is_taken() -> None:
    import resource

    from hdrlift.models import create_model

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelError, match="ceiling"):
        create_model("hdrunet", nf=30000)  # ~ 30000^2 * 9 * 4 B = 32 GB for the first wide conv
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


@pytest.mark.parametrize("case", ["config-not-json", "config-list", "config-huge-version", "weights-truncated",
                                  "weights-missing", "weights-wrong-shape", "weights-nan", "weights-extra-key"])
def test_bad_checkpoint_files_are_one_line(ckpt: Path, photo: Path, capsys, case: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    cfg, w = ckpt / "config.json", ckpt / "model.safetensors"
    if case == "config-not-json":
        cfg.write_text("{nf: 8")
    elif case == "config-list":
        cfg.write_text("[1, 2]")
    elif case == "config-huge-version":
        data = json.loads(cfg.read_text())
        cfg.write_text(json.dumps({**data, "format_version": 99}))
    elif case == "weights-truncated":
        w.write_bytes(w.read_bytes()[:1000])
    elif case == "weights-missing":
        w.unlink()
    else:
        state = load_file(str(w))
        k = next(iter(state))
        if case == "weights-wrong-shape":
            state[k] = torch.zeros(tuple(state[k].shape) + (2,))
        elif case == "weights-nan":
            state[k] = torch.full_like(state[k], float("nan"))
        else:
            state["intruder.weight"] = torch.zeros(3)
        save_file(state, str(w))
    rc, _, err = run_cli(["predict", str(photo), "-m", str(ckpt)], capsys)
    assert rc == 1
    assert_one_line_error(err, str(cfg if case.startswith("config") else w))
    assert not photo.with_suffix(".exr").exists()


def test_config_that_does_not_fit_its_tensors_is_a_model_error_naming_the_shapes(ckpt: Path, photo: Path,
                                                                                   capsys) -> None:
    """A config whose hyper-parameters imply other tensor shapes than the file holds: one ModelError line
    naming the weights file, the config, the tensor, expected and found shape (CLI: no traceback)."""
    import torch

    from hdrlift.checkpoint import load_model
    from hdrlift.models import create_model

    _edit_config(ckpt, nf=16)  # the file holds nf=8 tensors
    want = create_model("twostage_tiny", nf=16).state_dict()
    with pytest.raises(ModelError) as info:
        load_model(ckpt)
    msg = str(info.value)
    name = msg.split("tensor ")[1].split(":")[0]
    assert msg == (f"{ckpt / 'model.safetensors'}: tensor {name}: expected shape {list(want[name].shape)} "
                   f"('twostage' as {ckpt / 'config.json'} configures it), "
                   f"found {list(create_model('twostage_tiny').state_dict()[name].shape)}")
    assert isinstance(want[name], torch.Tensor)
    rc, _, err = run_cli(["predict", str(photo), "-m", str(ckpt)], capsys)
    assert rc == 1
    assert_one_line_error(err, "model.safetensors", name, "expected shape", "found")


def test_official_weights_with_a_wrong_tensor_shape_are_one_line(tmp_path: Path, capsys) -> None:
    import torch

    from hdrlift.models import create_model

    sd = create_model("hdrunet_tiny").state_dict()
    k = "weight_net.6.weight"
    sd[k] = torch.zeros(tuple(sd[k].shape) + (2,))
    torch.save(sd, tmp_path / "official.pth")
    rc, _, err = run_cli(["convert", str(tmp_path / "official.pth"), "-o", str(tmp_path / "out")], capsys)
    assert rc == 1
    line = assert_one_line_error(err, "official.pth", k, "expected shape [3, 8, 1, 1]", "found [3, 8, 1, 1, 2]")
    assert "size mismatch" not in line
    assert not (tmp_path / "out").exists()


def test_init_weights_of_other_hparams_name_the_tensor(tmp_path: Path) -> None:
    from hdrlift.checkpoint import save_model
    from hdrlift.errors import ConfigError
    from hdrlift.models import create_model
    from hdrlift.train.trainer import init_weights

    src = save_model(create_model("twostage_tiny"), tmp_path / "src")
    with pytest.raises(ConfigError, match=r"^init: .*src: tensor \S+: expected shape \[\d+.*\(the configured model\), "
                                          r"found \["):
        init_weights(create_model("twostage_tiny", nf=16), str(src))


def test_vgg_weights_of_another_shape_are_one_line(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from hdrlift.nn.vgg import VGGFeatures, load_vgg_weights

    model = VGGFeatures(outputs=("relu1_2",))
    sd = {f"features.{k}": v.clone() for k, v in model.features.state_dict().items()}
    k = next(iter(sd))
    sd[k] = sd[k][:, :2].contiguous()
    save_file(sd, str(tmp_path / "vgg.safetensors"))
    with pytest.raises(ModelError, match=rf"vgg.safetensors: tensor {k[len('features.'):]}: expected shape "
                                         r"\[64, 3, 3, 3\] \(VGG16 features\), found \[64, 2, 3, 3\]$"):
        load_vgg_weights(model, tmp_path / "vgg.safetensors")


def test_malicious_pickle_is_refused_in_one_clean_line(tmp_path: Path, capsys) -> None:
    import torch

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # noqa: D105
            return (os.system, (f"touch {marker}",))

    pth = tmp_path / "evil.pth"
    torch.save({"conv_first.weight": Evil()}, pth)
    rc, _, err = run_cli(["convert", str(pth), "-o", str(tmp_path / "out")], capsys)
    assert rc == 1 and not marker.exists()
    line = assert_one_line_error(err, str(pth))
    assert "refused to unpickle" in line and "posix.system" in line
    assert not (tmp_path / "out").exists()


def test_convert_refuses_to_replace_a_checkpoint_without_overwrite(ckpt: Path, tmp_path: Path, capsys) -> None:
    import torch

    pth = tmp_path / "official.pth"
    torch.save({"conv_first.weight": torch.zeros(8, 3, 3, 3)}, pth)  # refused before it is even read
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    rc, _, err = run_cli(["convert", str(pth), "-o", str(ckpt)], capsys)
    assert rc == 1
    assert "use --overwrite" in assert_one_line_error(err, str(ckpt))
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before


# -- writes: temp files, signals, devices ------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, time
    from hdrlift.io.atomic import atomic_output
    target = sys.argv[1]
    try:
        with atomic_output(target, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"x" * 1_000_000)
                f.flush()
            print("WRITING", tmp, flush=True)
            while True:
                time.sleep(0.05)
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_write_leaves_no_temp_and_keeps_the_old_file(tmp_path: Path, sig: int) -> None:
    target = tmp_path / "out.exr"
    target.write_bytes(b"old complete file")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("WRITING"), proc.stderr.read() if proc.stderr else ""
    tmp = Path(line.split(maxsplit=1)[1].strip())
    assert tmp.exists() and tmp.parent == tmp_path
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    assert rc == (143 if sig == signal.SIGTERM else 130)
    assert not tmp.exists()
    assert target.read_bytes() == b"old complete file"
    assert leftovers(tmp_path) == []


_SET_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import hdrlift.io as io
    from pathlib import Path
    from hdrlift.inference.outputs import write_outputs
    from hdrlift.io.atomic import atomic_output

    def slow_preview(path, hdr, overwrite=False, **kw):
        with atomic_output(path, overwrite=overwrite) as tmp:
            open(tmp, "wb").write(b"partial")
            print("PREVIEW", flush=True)
            while True:
                time.sleep(0.05)

    io.write_preview = slow_preview
    d = Path(sys.argv[1])
    hdr = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32) * 4
    write_outputs(hdr, {"main": d / "a.exr", "preview": d / "a.preview.png"}, "exr", False, True)
""")


def test_sigterm_during_the_preview_removes_the_whole_output_set(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SET_WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("PREVIEW"), proc.stderr.read() if proc.stderr else ""
    assert (tmp_path / "a.exr").exists()  # the main file was already complete
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert sorted(os.listdir(tmp_path)) == []


def test_keyboard_interrupt_and_errors_inside_the_writer_remove_the_temp(tmp_path: Path) -> None:
    from hdrlift.errors import ImageWriteError
    from hdrlift.io.atomic import atomic_output

    before = signal.getsignal(signal.SIGTERM)  # other tests may have installed their own handler
    for exc in (KeyboardInterrupt(), RuntimeError("codec\nsecond line"), SystemExit(3)):
        with pytest.raises((KeyboardInterrupt, ImageWriteError, SystemExit)) as info:
            with atomic_output(tmp_path / "x.png") as tmp:
                Path(tmp).write_bytes(b"half")
                raise exc
        if isinstance(exc, RuntimeError):
            assert str(info.value) == f"{tmp_path / 'x.png'}: cannot write (codec)"
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is before  # hdrlift's handler only while writing


def test_temp_leftovers_are_never_taken_as_inputs(photo: Path, capsys) -> None:
    """A SIGKILL-ed write leaves its temp file; later folder runs must not predict it."""
    from hdrlift.io.atomic import temp_name

    folder = photo.parent
    junk_new = Path(temp_name(folder / "photo2.png"))
    junk_old = folder / ".photo3.0123456789.tmp.png"  # hdrlift 0.1.0's naming
    for j in (junk_new, junk_old):
        j.write_bytes(photo.read_bytes()[:200])
    out = folder.parent / "out"
    rc, _, err = run_cli(["predict", str(folder), "-m", "linear", "-o", f"{out}/", "-q"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["photo.exr", "photo.preview.png"]


def test_writing_to_a_device_or_fifo_is_refused(tmp_path: Path, capsys) -> None:
    import stat

    img = tmp_path / "p.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    fifo = tmp_path / "pipe.exr"
    os.mkfifo(fifo)
    targets = [str(fifo)] + (["/dev/full"] if os.path.exists("/dev/full") else [])
    for target in targets:
        for extra in ([], ["--overwrite"]):
            rc, _, err = run_cli(["predict", str(img), "-m", "linear", "-o", target, "--no-preview", *extra],
                                 capsys)
            assert rc == 1
            assert_one_line_error(err, target)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # not replaced by a regular file
    if os.path.exists("/dev/full"):
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    from hdrlift.io.atomic import is_temp_name

    assert leftovers(tmp_path) == [] and [n for n in os.listdir("/dev") if is_temp_name(n)] == []


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """ENOSPC from the writer (simulated): one-line ImageWriteError, no temp, no target."""
    from hdrlift.errors import ImageWriteError
    from hdrlift.io.atomic import atomic_output

    with pytest.raises(ImageWriteError, match=r"cannot write \(\[Errno 28\] No space left on device\)$"):
        with atomic_output(tmp_path / "big.exr") as tmp:
            Path(tmp).write_bytes(b"part")
            raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == []


# -- input decoding: a batch of good and hostile files ----------------------------------------------------

def _srgb_decode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding, written out here (independent of hdrlift)."""
    v = v.astype(np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _corpus(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Write the corpus; returns ({good file: expected sRGB-encoded [0,1] pixels}, {bad file: words})."""
    import imagecodecs
    import tifffile

    from hdrlift.io import write_exr, write_rgbe

    rng = np.random.default_rng(7)
    a8 = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a16 = rng.integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    g16 = rng.integers(0, 65536, (40, 56), dtype=np.uint16)
    rgba16 = rng.integers(0, 65536, (40, 56, 4), dtype=np.uint16)
    good: dict[str, np.ndarray] = {}
    Image.fromarray(a8).save(folder / "rgb8.png")
    good["rgb8.png"] = a8 / 255.0
    (folder / "rgb16.png").write_bytes(imagecodecs.png_encode(a16))
    good["rgb16.png"] = a16 / 65535.0
    tifffile.imwrite(folder / "planar16.tif", np.moveaxis(a16, -1, 0), photometric="rgb", planarconfig="separate")
    good["planar16.tif"] = a16 / 65535.0
    tifffile.imwrite(folder / "planar8.tif", np.moveaxis(a8, -1, 0), photometric="rgb", planarconfig="separate")
    good["planar8.tif"] = a8 / 255.0
    tifffile.imwrite(folder / "contig16.tif", a16, photometric="rgb")
    good["contig16.tif"] = a16 / 65535.0
    tifffile.imwrite(folder / "gray16.tif", g16, photometric="minisblack")
    good["gray16.tif"] = np.repeat(g16[..., None], 3, axis=2) / 65535.0
    tifffile.imwrite(folder / "rgba16planar.tif", np.moveaxis(rgba16, -1, 0), photometric="rgb",
                     planarconfig="separate", extrasamples=["unassalpha"])
    good["rgba16planar.tif"] = rgba16[..., :3] / 65535.0
    Image.fromarray(a8).save(folder / "misnamed.jpg", format="PNG")  # a PNG called .jpg
    good["misnamed.jpg"] = a8 / 255.0

    hdr = (rng.random((40, 56, 3)) * 232).astype(np.float32)
    bad = {}
    write_exr(folder / "scene.exr", hdr)
    bad["scene.exr"] = "already linear HDR"
    write_rgbe(folder / "radiance.hdr", hdr)
    bad["radiance.hdr"] = "already linear HDR"
    tifffile.imwrite(folder / "float.tif", hdr, photometric="rgb")
    bad["float.tif"] = "already linear HDR"
    (folder / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty.jpg"
    (folder / "text.png").write_text("not an image at all\n" * 20)
    bad["text.png"] = "text.png"
    full = (folder / "rgb8.png").read_bytes()
    (folder / "truncated.png").write_bytes(full[: len(full) // 2])
    bad["truncated.png"] = "truncated.png"
    (folder / "noise.jpg").write_bytes(b"\xff\xd8\xff" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    bad["noise.jpg"] = "noise.jpg"
    # a 60000 x 60000 PNG header (decompression bomb): refused before decoding
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                                      + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    bad["bomb.png"] = "bomb.png"
    return good, bad


def test_every_input_decodes_correctly_or_is_refused_in_one_line(tmp_path: Path) -> None:
    from hdrlift.errors import HdrliftError
    from hdrlift.io.api import read_photo

    folder = tmp_path / "corpus"
    folder.mkdir()
    good, bad = _corpus(folder)
    for name, want in good.items():
        got = read_photo(folder / name)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=name)
    for name, words in bad.items():
        with pytest.raises(HdrliftError) as info:
            read_photo(folder / name)
        msg = str(info.value)
        assert "\n" not in msg and name in msg and words in msg, msg


def test_predict_batch_over_the_corpus(tmp_path: Path, capsys) -> None:
    """The whole corpus in one run: each bad file one line, every good file written and correct."""
    from hdrlift.io import read_image

    folder = tmp_path / "corpus"
    folder.mkdir()
    good, bad = _corpus(folder)
    files = [str(folder / n) for n in [*good, *bad]]  # explicit files: .exr/.hdr are not skipped
    out = tmp_path / "out"
    rc, _, err = run_cli(["predict", *files, "-m", "linear", "-o", f"{out}/", "-q", "--no-preview"], capsys)
    assert rc == 1
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == len(bad), err
    for name, words in bad.items():
        hit = [ln for ln in lines if f"{name}:" in ln]
        assert len(hit) == 1 and words in hit[0], (name, err)
    hint = [ln for ln in lines if "scene.exr" in ln][0]
    assert "hdrlift degrade" in hint  # refused by extension, before decoding
    assert "peak 2" in [ln for ln in lines if "float.tif" in ln][0]  # found HDR after decoding: says its peak
    for name, want in good.items():
        hdr = read_image(out / (Path(name).stem + ".exr"))
        np.testing.assert_allclose(hdr, _srgb_decode(want), rtol=2e-3, atol=2e-4, err_msg=name)
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).stem + ".exr" for n in good)


# -- training: resume validates everything it reads, falls back, writes nothing before ------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-step run (checkpoints kept at steps 2 and 4) to copy and damage."""
    import yaml
    from conftest import make_hdr_scene

    from hdrlift.io import write_exr
    from hdrlift.train.config import config_from_dict
    from hdrlift.train.trainer import train

    root = tmp_path_factory.mktemp("train")
    hdr = root / "hdr"
    hdr.mkdir()
    for i in range(3):
        write_exr(hdr / f"s{i}.exr", make_hdr_scene(40, 48, seed=i), dtype="float")
    (hdr / "train.txt").write_text("s0.exr\ns1.exr\n")
    (hdr / "val.txt").write_text("s2.exr\n")
    cfg = {"method": "twostage", "model": {"name": "twostage_tiny"},
           "data": {"root": str(hdr), "train_split": str(hdr / "train.txt"), "val_split": str(hdr / "val.txt"),
                    "patch": 32, "batch": 2, "workers": 0, "val_max_side": 40, "val_exposures": [0.0]},
           "steps": 4, "val_every": 2, "ckpt_every": 2, "log_every": 1, "out_dir": str(root / "run"),
           "tensorboard": False, "threads": 1, "keep_checkpoints": 2}
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return train(config_from_dict(cfg), progress=False)


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["truncated", "foreign", "garbage", "wrong-shapes"])
def test_resume_falls_back_to_the_previous_checkpoint(trained_run: Path, tmp_path: Path, capsys, caplog,
                                                      damage) -> None:
    import torch

    run = _copy_run(trained_run, tmp_path / "run")
    ck = run / "checkpoints"
    latest, previous = ck / "step-0000004", ck / "step-0000002"
    st = latest / "train_state.pt"
    if damage == "truncated":
        st.write_bytes(st.read_bytes()[:300])
    elif damage == "foreign":
        st.write_bytes((previous / "train_state.pt").read_bytes())
    elif damage == "garbage":
        st.write_bytes(os.urandom(5000))
    else:
        state = torch.load(st, weights_only=True)
        net = next(iter(state["recipe"]["nets"].values()))
        k = next(iter(net))
        net[k] = torch.zeros(tuple(net[k].shape) + (2,))
        torch.save(state, st)
    # the run was killed at step 5 after checkpoint 4: its log has lines after the resumed step (2)
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 5, "kind": "train", "loss": 1.0}) + "\n" + '{"step": 6, "ki')
    rc, _, err = run_cli(["train", "--resume", str(run), "--set", "steps=6", "--no-progress"], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    warns = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warns) == 2, warns
    assert any("step-0000004 is unusable" in w for w in warns), err
    assert any("falling back to step-0000002" in w for w in warns), err
    assert json.loads((run / "last.json").read_text())["step"] == 6
    log = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines()]
    keys = [(r["step"], r["kind"]) for r in log]
    assert len(keys) == len(set(keys)), "log.jsonl repeats steps"
    assert [s for s, k in keys if k == "train"] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("damage", ["config-not-yaml", "config-list", "config-bad-type", "all-checkpoints-bad",
                                    "no-checkpoints"])
def test_failed_resume_is_one_line_and_writes_nothing(trained_run: Path, tmp_path: Path, capsys, damage) -> None:
    import shutil

    run = _copy_run(trained_run, tmp_path / "run")
    if damage == "config-not-yaml":
        (run / "config.yaml").write_text("steps: [unclosed\n")
    elif damage == "config-list":
        (run / "config.yaml").write_text("- 1\n- 2\n")
    elif damage == "config-bad-type":
        text = (run / "config.yaml").read_text().replace("log_every: 1\n", "log_every: often\n")
        (run / "config.yaml").write_text(text)
    elif damage == "all-checkpoints-bad":
        for d in (run / "checkpoints").iterdir():
            (d / "train_state.pt").write_bytes(b"PK\x03\x04 truncated")
    else:
        shutil.rmtree(run / "checkpoints")
    assert damage != "config-bad-type" or "often" in (run / "config.yaml").read_text()
    before = _snapshot(run)
    rc, _, err = run_cli(["train", "--resume", str(run), "--set", "steps=6", "--no-progress"], capsys)
    assert rc == 1
    assert_one_line_error(err, str(run))
    assert _snapshot(run) == before


@pytest.mark.parametrize(("override", "words"), [("steps=abc", "steps must be an integer"),
                                                 ("optim.lr=fast", "optim.lr must be a number"),
                                                 ("data.batch=[1]", "data.batch must be an integer"),
                                                 ("bogus=1", "unknown key")])
def test_bad_set_values_are_one_line(trained_run: Path, tmp_path: Path, capsys, override, words) -> None:
    cfg = trained_run.parent / "cfg.yaml"
    rc, _, err = run_cli(["train", str(cfg), "--out", str(tmp_path / "new"), "--set", override, "--no-progress"],
                         capsys)
    assert rc == 1
    assert words in assert_one_line_error(err)
    assert not (tmp_path / "new").exists()


# -- memory: --max-memory bounds the measured process peak ------------------------------------------------

_PEAK = textwrap.dedent("""
    import resource, subprocess, sys
    r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
    sys.stdout.write(f"{r.returncode} {peak}\\n")
    sys.stdout.write(r.stderr)
""")


def _measured(argv: list[str]) -> tuple[int, int, str]:
    """Run ``hdrlift ARGV`` in a child process: (exit code, its peak resident bytes, its stderr)."""
    cmd = [sys.executable, "-c", _PEAK, sys.executable, "-m", "hdrlift", *argv]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    first, _, err = r.stdout.partition("\n")
    rc, peak = (int(v) for v in first.split())
    return rc, peak, err


def _pattern_png(path: Path, h: int, w: int) -> None:
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([(xx // 16) % 256, (yy // 16) % 256, ((xx + yy) // 32) % 256], -1).astype(np.uint8)
    Image.fromarray(a).save(path, compress_level=1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS of a child via getrusage")
def test_image_too_large_for_the_budget_is_refused_before_decoding(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    _pattern_png(big, 8000, 8000)  # ~1 MB file, 768 MB as float32, 1.5 GB with its output
    rc, peak, err = _measured(["predict", str(big), "-m", "linear", "-o", f"{tmp_path}/out/", "-q"])
    assert rc == 1
    line = assert_one_line_error(err, str(big))
    assert "8000x8000 needs at least" in line and "--max-memory 1,500 MB" in line
    assert peak < 700 * 2**20, peak / 2**20  # never decoded (decoding alone would take 1.2 GB)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS of a child via getrusage")
def test_batch_peak_stays_under_max_memory(tmp_path: Path) -> None:
    """Three 4-MP photos with read-ahead: the measured process peak is below --max-memory."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _pattern_png(folder / f"p{i}.png", 1600, 2500)
    budget = 900 * 10**6
    rc, peak, err = _measured(["predict", str(folder), "-m", "linear", "-o", f"{tmp_path}/out/", "-q",
                               "--no-preview", "--max-memory", "900MB"])
    assert rc == 0, err
    assert peak <= budget, f"peak {peak / 1e6:.0f} MB > budget {budget / 1e6:.0f} MB"
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_read_ahead_is_counted_in_the_budget(tmp_path: Path) -> None:
    from hdrlift.inference.memory import READ_AHEAD_SHARE, check_image_memory, image_memory_need

    decode, steady = image_memory_need(6000, 4000)
    assert decode == 19 * 24_000_000 and steady == 24 * 24_000_000
    # a 24-MP float copy (288 MB) is more than READ_AHEAD_SHARE of 1.5 GB: never decoded ahead
    assert 12 * 24_000_000 > READ_AHEAD_SHARE * 1.5e9
    check_image_memory("ok.png", 6000, 4000, 1_500_000_000, 400_000_000)
    from hdrlift.errors import ImageSizeError

    with pytest.raises(ImageSizeError, match=r"x.png: 6000x4000 needs at least 640 MB"):
        check_image_memory("x.png", 6000, 4000, 1_000_000_000, 500_000_000)


def test_library_budget_is_what_hdrlift_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    """An application that already holds more than max_memory still gets the tile a bare process gets."""
    import torch

    from hdrlift.inference import memory
    from hdrlift.inference.methods import Method
    from hdrlift.inference.predictor import Predictor
    from hdrlift.models import create_model

    monkeypatch.setattr(memory, "_PROCESS_SCOPE", False)
    model = create_model("hdrunet_tiny").eval()
    method = Method(name="t", kind="network", fn=model, model=model)
    Predictor(method, device="cpu", max_memory="300MB", precision="fp32").tile_for(1500, 2000)  # probe once
    bare = Predictor(method, device="cpu", max_memory="300MB", precision="fp32").tile_for(1500, 2000)
    ballast = torch.ones(100 * 2**20)  # the application's own 400 MiB, more than the budget
    ballast += 1
    loaded = Predictor(method, device="cpu", max_memory="300MB", precision="fp32").tile_for(1500, 2000)
    monkeypatch.setattr(memory, "_PROCESS_SCOPE", True)  # the old rule: the whole process counts
    process = Predictor(method, device="cpu", max_memory="300MB", precision="fp32").tile_for(1500, 2000)
    del ballast
    assert bare > memory.MIN_TILE and abs(loaded - bare) <= 0.1 * bare, (bare, loaded)
    assert process == memory.MIN_TILE


# -- option values: one line, exit code 2 ----------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--tile", "-5"], ["--tile", "abc"], ["--max-pixels", "-1"], ["--max-pixels", "0"], ["--device", "bogus"],
    ["--max-memory", "1"], ["--max-memory", "abc"], ["--max-memory", "-2GB"], ["--format", "gif"], ["--bogus"],
])
def test_bad_option_values_are_one_line_with_exit_2(photo: Path, capsys, argv: list[str]) -> None:
    rc, out, err = run_cli(["predict", str(photo), "-m", "linear", *argv], capsys)
    assert rc == 2
    assert "Traceback" not in err and "usage:" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert argv[0] in err
    assert not photo.with_suffix(".exr").exists()
    if argv[0] == "--max-memory" and argv[1] == "1":
        assert "0 MB" not in err and "1 bytes" in err


def test_memory_probe_is_cached_on_disk_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hdrlift.inference import memory
    from hdrlift.models import create_model

    monkeypatch.setenv("HDRLIFT_CACHE", str(tmp_path / "cache"))
    first = memory.model_memory(create_model("twostage_tiny").eval())
    files = list((tmp_path / "cache" / "memory").glob("*.json"))
    assert len(files) == 1 and (files[0].parent.stat().st_mode & 0o777) == 0o700

    def no_probe(*a, **k):
        raise AssertionError("probed again")

    monkeypatch.setattr(memory, "probe_memory", no_probe)
    assert memory.model_memory(create_model("twostage_tiny").eval()) == first  # another process's model
    files[0].write_text(json.dumps({"fixed": -1, "per_pixel": "x"}))  # tampered: ignored, measured again
    monkeypatch.undo()
    monkeypatch.setenv("HDRLIFT_CACHE", str(tmp_path / "cache"))
    assert memory.model_memory(create_model("twostage_tiny").eval()) == first
