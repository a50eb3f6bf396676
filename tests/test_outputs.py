"""Output rules of ``hdrlift predict`` and the sweep over every (-o extension, --format) pair.

Every file that is written is decoded here by a decoder that is not hdrlift's (OpenEXR, imagecodecs'
libpng / libavif / libultrahdr / RGBE, tifffile) with the transfer functions written out below from
their specifications, and compared with the float EXR of the same prediction.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdrlift.cli.main import main

try:
    import imagecodecs as ic
except ImportError:  # the optional display dependency: the decoding tests are skipped without it
    ic = None
needs_ic = pytest.mark.skipif(ic is None, reason="needs the optional imagecodecs (pip install hdrlift[display])")
METHOD = "landis"

# ---------------------------------------------------------------------------------- spec-side decoders
# SMPTE ST 2084 constants; BT.2100 HLG constants; BT.2087 (BT.709 -> BT.2020) matrix, inverted here.
M1, M2, C1, C2, C3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
HA, HB, HC = 0.17883277, 0.28466892, 0.55991073
BT709_TO_2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
BT2020_TO_709 = np.linalg.inv(BT709_TO_2020)


def pq_to_nits(e: np.ndarray) -> np.ndarray:
    p = np.power(np.clip(e, 0, 1), 1 / M2)
    return 10000 * np.power(np.maximum(p - C1, 0) / (C2 - C3 * p), 1 / M1)


def hlg_to_scene(e: np.ndarray) -> np.ndarray:
    return np.where(e <= 0.5, e * e / 3, (np.exp((e - HC) / HA) + HB) / 12)


HLG_REF_WHITE = float(hlg_to_scene(np.float64(0.75)))  # BT.2408: 203 cd/m2 reference white at signal 0.75


def png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    pos = 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.setdefault(data[pos + 4 : pos + 8], []).append(data[pos + 8 : pos + 8 + n])
        pos += 12 + n
    return out


def avif_nclx(data: bytes) -> tuple[int, int, int, int]:
    i = data.find(b"colrnclx")
    assert i > 0, "no colr/nclx box"
    prim, trc, mat = struct.unpack(">HHH", data[i + 8 : i + 14])
    return prim, trc, mat, data[i + 14] >> 7


def decode_independently(path: Path, fmt: str) -> tuple[np.ndarray, float]:
    """Linear Rec.709 content of ``path`` and the tolerance (max |log2| error, stops) this format allows."""
    data = path.read_bytes()
    if fmt == "exr":
        import OpenEXR

        f = OpenEXR.File(str(path))
        ch = f.channels()
        assert tuple(round(v, 4) for v in f.header()["chromaticities"]) == (0.64, 0.33, 0.3, 0.6, 0.15, 0.06,
                                                                           0.3127, 0.329)
        assert f.header()["hdrlift/method"] == METHOD
        if "RGB" in ch:
            return np.asarray(ch["RGB"].pixels, np.float64), 0.002
        return np.stack([np.asarray(ch[c].pixels, np.float64) for c in "RGB"], axis=2), 0.002
    if fmt == "hdr":
        return np.asarray(ic.rgbe_decode(data), np.float64), 0.02  # 8-bit shared-exponent mantissa
    if fmt == "tiff":
        import tifffile

        return np.asarray(tifffile.imread(path), np.float64), 1e-6
    if fmt in ("png16", "ntire"):
        code = np.asarray(ic.png_decode(data), np.float64)
        text = dict(t.split(b"\0", 1) for t in png_chunks(data)[b"tEXt"])
        ratio = float(np.load(path.with_name(path.stem + "_alignratio.npy")))
        assert float(text[b"hdrlift:scale"]) == pytest.approx(ratio, rel=1e-6)
        if fmt == "png16":
            assert text[b"hdrlift:encoding"] == b"linear-rec709"
            return code / ratio, 0.005  # 16-bit steps of peak/65535 (dark pixels are coarser)
        assert text[b"hdrlift:encoding"] == b"ntire-gamma2.24"
        return (code / ratio) ** 2.24, 0.002
    if fmt in ("png-pq", "png-hlg"):
        cicp = png_chunks(data)[b"cICP"][0]
        assert cicp == bytes([9, 16 if fmt == "png-pq" else 18, 0, 1])
        sig = np.asarray(ic.png_decode(data), np.float64) / 65535
        lin2020 = pq_to_nits(sig) / 203 if fmt == "png-pq" else hlg_to_scene(sig) / HLG_REF_WHITE
        return lin2020 @ BT2020_TO_709.T, 0.002
    if fmt in ("avif", "avif-hlg"):
        assert avif_nclx(data)[:3] == (9, 16 if fmt == "avif" else 18, 9)
        sig = np.asarray(ic.avif_decode(data), np.float64) / 1023
        lin2020 = pq_to_nits(sig) / 203 if fmt == "avif" else hlg_to_scene(sig) / HLG_REF_WHITE
        return lin2020 @ BT2020_TO_709.T, 0.15  # lossy AV1 (quality 90)
    if fmt == "uhdr":
        assert ic.ultrahdr_check(data)
        return np.asarray(ic.ultrahdr_decode(data), np.float64)[..., :3], 0.12  # 8-bit log gain map + JPEG
    raise AssertionError(fmt)


def hdr_range(fmt: str, ref: np.ndarray) -> np.ndarray:
    """What the format can hold of ``ref``: HLG ends at 1 / reference white (3.77x)."""
    return np.minimum(ref, 1 / HLG_REF_WHITE) if fmt in ("png-hlg", "avif-hlg") else ref


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("photo")
    h, w = 37, 51  # odd sizes
    y, x = np.mgrid[0:h, 0:w]
    lin = 0.04 + 0.8 * (x / w)[..., None] * np.array([1.0, 0.85, 0.7]) * (0.6 + 0.4 * y / h)[..., None]
    lin[(x - 38) ** 2 + (y - 12) ** 2 < 40] = 1.4  # clipped light source
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    p = d / "photo.png"
    Image.fromarray(np.round(np.clip(srgb, 0, 1) * 255).astype(np.uint8)).save(p)
    return p


@pytest.fixture(scope="module")
def reference(photo: Path, tmp_path_factory) -> np.ndarray:
    import OpenEXR

    out = tmp_path_factory.mktemp("ref") / "ref.exr"
    assert main(["predict", str(photo), "-m", METHOD, "-o", str(out), "--no-half", "--no-preview", "-q"]) == 0
    ch = OpenEXR.File(str(out)).channels()
    ref = np.asarray(ch["RGB"].pixels, np.float64) if "RGB" in ch else np.stack(
        [np.asarray(ch[c].pixels, np.float64) for c in "RGB"], axis=2)
    assert ref.max() > 2.0  # the highlight is expanded: the sweep checks HDR, not clipped SDR
    return ref


# ---------------------------------------------------------------------------------- the sweep
FORMATS = ["exr", "hdr", "tiff", "png16", "ntire", "png-pq", "png-hlg", "uhdr", "avif", "avif-hlg"]
HOLDS = {".exr": ["exr"], ".hdr": ["hdr"], ".pic": ["hdr"], ".rgbe": ["hdr"], ".tif": ["tiff"],
         ".tiff": ["tiff"], ".png": ["png16", "ntire", "png-pq", "png-hlg"], ".jpg": ["uhdr"],
         ".jpeg": ["uhdr"], ".avif": ["avif", "avif-hlg"]}
BY_EXTENSION = {".exr": "exr", ".hdr": "hdr", ".pic": "hdr", ".rgbe": "hdr", ".tif": "tiff", ".tiff": "tiff",
                ".png": "png16", ".jpg": "uhdr", ".jpeg": "uhdr", ".avif": "avif"}
EXTENSIONS = [*HOLDS, ".bmp", ".webp", ".gif", ".jxl", ".jpe", ".heic", ".npy", ".txt", ".v2"]
SUFFIX = {"exr": ".exr", "hdr": ".hdr", "tiff": ".tif", "png16": ".png", "ntire": ".png", "png-pq": ".pq.png",
          "png-hlg": ".hlg.png", "uhdr": ".uhdr.jpg", "avif": ".avif", "avif-hlg": ".hlg.avif"}


@needs_ic
@pytest.mark.parametrize("fmt", [None, *FORMATS])
def test_every_extension_format_pair_is_right_or_one_line_error(
    fmt: str | None, photo: Path, reference: np.ndarray, tmp_path: Path, capfd
) -> None:
    for ext in [*EXTENSIONS, "/"]:
        target = tmp_path / f"out{ext}" if ext != "/" else tmp_path / "folder"
        args = ["predict", str(photo), "-m", METHOD, "-o", str(target) + ("/" if ext == "/" else ""),
                "--no-preview", "-q"]
        rc = main(args + (["-f", fmt] if fmt else []))
        err = capfd.readouterr().err.strip().splitlines()
        if ext == "/":  # a folder: the format is --format's (default exr), the name the photo's
            expected_fmt = fmt or "exr"
            out = target / ("photo" + SUFFIX[expected_fmt])
        else:
            out = target
            expected_fmt = (fmt if fmt in HOLDS.get(ext, []) else None) if fmt else BY_EXTENSION.get(ext)
        if expected_fmt is None:
            assert rc == 1 and len(err) == 1 and err[0].startswith(f"hdrlift: error: {out}: "), (ext, fmt, err)
            assert not out.exists()
            continue
        assert rc == 0 and err == [], (ext, fmt, err)
        got, tol = decode_independently(out, expected_fmt)
        want = hdr_range(expected_fmt, reference)
        assert got.shape == want.shape, (ext, fmt)
        lit = want.min(axis=2) > 0.02  # below that 8-bit/log encodings are coarser than 0.1 stop
        stops = np.abs(np.log2(np.maximum(got[lit], 1e-6) / want[lit]))
        assert np.percentile(stops, 99) <= tol and np.median(stops) <= tol / 2, (ext, fmt, stops.max())
        for p in tmp_path.rglob("*"):
            if p.is_file():
                p.unlink()


# ---------------------------------------------------------------------------------- the other rules
def test_input_is_never_overwritten_even_with_overwrite(photo: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "p.png"
    src.write_bytes(photo.read_bytes())
    before = src.read_bytes()
    for extra in ([], ["--overwrite"], ["-f", "ntire", "--overwrite"], ["-o", str(src), "--overwrite"]):
        assert main(["predict", str(src), "-m", "linear", "-f", "png16", *extra]) == 1
        assert src.read_bytes() == before
    err = capsys.readouterr().err
    assert "would replace the input" in err and "Traceback" not in err
    # a preview may not replace an input either: photo.preview.png given as an input of another photo
    other = tmp_path / "b.jpg"
    Image.open(photo).convert("RGB").save(other)
    prev = tmp_path / "b.preview.png"
    prev.write_bytes(photo.read_bytes())
    assert main(["predict", str(other), str(prev), "-m", "linear", "--overwrite", "-q"]) == 1
    assert prev.read_bytes() == photo.read_bytes()


def test_outputs_in_a_folder_are_not_taken_as_inputs(photo: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.open(photo).save(src / "photo.jpg", quality=95)
    for fmt in ("uhdr", "png-pq", "ntire"):  # written beside the input, then the folder is scanned again
        assert main(["predict", str(src), "-m", "linear", "-f", fmt, "-q"] + (["--no-preview"] if fmt != "uhdr"
                                                                               else [])) == 0
    assert main(["predict", str(src), "-m", "linear", "-f", "uhdr", "--skip-existing", "-q"]) == 0
    assert sorted(p.name for p in src.iterdir()) == [
        "photo.jpg", "photo.png", "photo.pq.png", "photo.preview.png", "photo.uhdr.jpg", "photo_alignratio.npy"]
    f = tmp_path / "plainfile"
    f.write_text("x")
    assert main(["predict", str(photo), "-m", "linear", "-o", str(f)]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err


def test_recursive_output_folder_keeps_structure(photo: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for sub in ("a", "b/c"):
        (src / sub).mkdir(parents=True)
        (src / sub / "same.png").write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    assert main(["predict", str(src), "-r", "-m", "linear", "-o", str(out), "-q"]) == 0
    assert (out / "a" / "same.exr").exists() and (out / "b" / "c" / "same.exr").exists()
    assert (out / "b" / "c" / "same.preview.png").exists()


def test_equal_names_from_two_folders_do_not_collide(photo: Path, tmp_path: Path, capsys) -> None:
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.png").write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "x" / "same.png"), str(tmp_path / "y" / "same.png"), "-m", "linear",
               "-o", str(out) + "/", "-q"])
    assert rc == 1  # the second input would reuse the first one's output name: refused, first written
    assert "also the output of" in capsys.readouterr().err
    assert (out / "same.exr").exists()


def test_file_output_with_several_inputs_and_flag_conflicts(photo: Path, tmp_path: Path, capsys) -> None:
    cases = [
        ([str(photo), "-o", str(tmp_path / "one.exr")], "-o names a file but there are 2 inputs"),
        (["-f", "exr", "--peak-nits", "1000"], "--peak-nits applies to"),
        (["-f", "uhdr", "--compression", "piz"], "--compression applies to EXR"),
        (["-f", "exr", "--bits", "12"], "--bits applies to avif"),
        (["-f", "uhdr", "--max-boost", "0.5"], "--max-boost must be >= 1"),
        (["-f", "avif", "--uhdr-fit", "scale"], "--uhdr-fit applies to uhdr"),
    ]
    for extra, msg in cases:
        assert main(["predict", str(photo), *extra, "-m", "linear"]) == 1, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (extra, err)


def test_no_file_is_left_when_a_write_fails(photo: Path, tmp_path: Path, monkeypatch) -> None:
    import hdrlift.io as io
    from hdrlift.errors import ImageWriteError

    def fail(path, *a, **k):
        raise ImageWriteError(f"{path}: cannot write (disk full)")

    monkeypatch.setattr(io, "write_preview", fail)
    out = tmp_path / "o"
    assert main(["predict", str(photo), "-m", "linear", "-o", str(out) + "/", "-f", "png16", "-q"]) == 1
    assert list(out.iterdir()) == []  # the PNG and its alignratio were removed again


def test_summary_line_and_quiet(photo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.exr"
    assert main(["predict", str(photo), "-m", "linear", "-o", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(rf"hdrlift: 1 written \(exr\) in \d+\.\d s -> {re.escape(str(out))}", err[-1]), err
    assert main(["predict", str(photo), "-m", "linear", "-o", str(tmp_path / "t.exr"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_exr_provenance_and_compression(photo: Path, tmp_path: Path) -> None:
    import OpenEXR

    sizes = {}
    for comp in ("zip", "piz", "dwaa", "none"):
        out = tmp_path / f"{comp}.exr"
        assert main(["predict", str(photo), "-m", "kovaleski", "-o", str(out), "--compression", comp,
                     "--no-preview", "-q"]) == 0
        h = OpenEXR.File(str(out), header_only=True).header()
        assert str(h["compression"]).split(".")[-1].split(":")[0] == \
            ("NO" if comp == "none" else comp.upper()) + "_COMPRESSION"
        assert h["hdrlift/method"] == "kovaleski" and h["hdrlift/input"] == photo.name
        assert h["hdrlift/version"] and h["whiteLuminance"] == pytest.approx(203.0)
        sizes[comp] = out.stat().st_size
    assert sizes["none"] > sizes["zip"]


def test_evaluate_reads_back_what_predict_wrote_as_png16(photo: Path, tmp_path: Path, capsys) -> None:
    """png16 predictions say what they hold, so evaluate scores them against the same HDR as identical."""
    import json

    from hdrlift.io import read_image

    pred, ref = tmp_path / "pred", tmp_path / "ref"
    assert main(["predict", str(photo), "-m", "kovaleski", "-o", str(pred) + "/", "-f", "png16", "-q"]) == 0
    assert main(["predict", str(photo), "-m", "kovaleski", "-o", str(ref) + "/", "--no-half", "-q",
                 "--no-preview"]) == 0
    png = read_image(pred / "photo.png")
    exr = read_image(ref / "photo.exr")
    assert np.abs(png - exr).max() <= exr.max() / 65535 + 1e-6  # read_image honours the marker: linear
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(pred), "--ref", str(ref), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["rows"]) == 1 and res["rows"][0]["psnr_mu"] > 60  # was 10.3 dB read as gamma 2.24


def test_tile_progress_bar_for_one_tiled_image(tmp_path: Path, capsys) -> None:
    img = (np.random.default_rng(0).random((16, 400, 3)) * 255).astype(np.uint8)  # wider than tile + context
    Image.fromarray(img).save(tmp_path / "big.png")
    assert main(["predict", str(tmp_path / "big.png"), "-m", "hdrunet", "--tile", "64", "--no-preview"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"big\.png \(hdrunet[^)]*\):.*\d+/\d+ \[", err), err[-500:]
    assert err.strip().splitlines()[-1].startswith("hdrlift: 1 written (exr)")


@needs_ic
def test_avif_12_bit(photo: Path, reference: np.ndarray, tmp_path: Path) -> None:
    for fmt, trc in (("avif", 16), ("avif-hlg", 18)):
        out = tmp_path / f"{fmt}.avif"
        assert main(["predict", str(photo), "-m", METHOD, "-o", str(out), "-f", fmt, "--bits", "12",
                     "--no-preview", "-q"]) == 0
        data = out.read_bytes()
        assert avif_nclx(data)[:3] == (9, trc, 9)
        code = np.asarray(ic.avif_decode(data), np.float64)
        assert code.max() > 1023  # 12-bit codes
        sig = code / 4095
        lin = (pq_to_nits(sig) / 203 if trc == 16 else hlg_to_scene(sig) / HLG_REF_WHITE) @ BT2020_TO_709.T
        want = hdr_range(fmt, reference)
        lit = want.min(axis=2) > 0.02
        assert np.median(np.abs(np.log2(np.maximum(lin[lit], 1e-6) / want[lit]))) < 0.05
