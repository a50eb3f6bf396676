"""Tests of hdrlift.io: round trips, LDR variants, EXR variants, errors, atomic writes, previews."""

from __future__ import annotations

import io as _io
import os
import subprocess
import sys

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from hdrlift.errors import ImageReadError, ImageSizeError, ImageWriteError
from hdrlift.io import (
    alignratio_path,
    check_size,
    is_hdr_path,
    read_image,
    read_image_info,
    read_ntire,
    tonemap_preview,
    write_exr,
    write_image,
    write_ntire,
    write_png16,
    write_preview,
    write_rgbe,
)
from hdrlift.io import png16 as png16_mod
from hdrlift.io import rgbe as rgbe_mod


def _hdr(h=12, w=17, seed=0, peak=50.0):
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) ** 3 * peak).astype(np.float32)


def _srgb_to_lin(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


# ----------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_exr_round_trip(tmp_path, dtype):
    img = _hdr()
    p = tmp_path / "a.exr"
    write_exr(p, img, dtype=dtype)
    back, info = read_image_info(p)
    assert back.dtype == np.float32 and back.shape == img.shape and info.is_hdr
    if dtype == "float":
        np.testing.assert_array_equal(back, img)
        assert info.bit_depth == 32
    else:
        np.testing.assert_allclose(back, img.astype(np.float16).astype(np.float32), rtol=0, atol=0)
        assert info.bit_depth == 16


def test_exr_half_clamps_overflow_and_keeps_alpha(tmp_path):
    img = np.ones((4, 5, 4), np.float32)
    img[0, 0, 0] = 1e6
    img[..., 3] = 0.25
    write_image(tmp_path / "a.exr", img)
    back = read_image(tmp_path / "a.exr", alpha="keep")
    assert back.shape == (4, 5, 4) and np.isfinite(back).all() and back[0, 0, 0] == 65504.0
    assert np.allclose(back[..., 3], 0.25)
    assert read_image(tmp_path / "a.exr").shape == (4, 5, 3)


@pytest.mark.parametrize("use_imagecodecs", [True, False])
def test_rgbe_round_trip(tmp_path, monkeypatch, use_imagecodecs):
    if not use_imagecodecs:
        monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails -> numpy codec
    img = _hdr(9, 40) + 0.01
    write_rgbe(tmp_path / "a.hdr", img)
    back = read_image(tmp_path / "a.hdr")
    assert back.shape == img.shape
    rel = np.abs(back - img) / img.max(axis=2, keepdims=True)
    assert rel.max() < 1.0 / 128 + 1e-6  # 8-bit mantissa shared by the pixel


def _rgbe_file(layout, h, w, pixels_rgbe):
    """Flat (uncompressed) RGBE file with the given size line; pixels in file order."""
    head = f"#?RADIANCE\nEXPOSURE=2.0\nFORMAT=32-bit_rle_rgbe\n\n{layout}\n".encode()
    return head + pixels_rgbe.astype(np.uint8).tobytes()


def test_rgbe_flat_and_orientations(tmp_path):
    h, w = 3, 5
    vals = np.arange(h * w, dtype=np.float32).reshape(h, w) + 1.0  # distinct per pixel, exact in RGBE
    img = np.repeat(vals[:, :, None], 3, axis=2)
    rgbe = rgbe_mod.float_to_rgbe(img)
    cases = {
        f"-Y {h} +X {w}": rgbe,
        f"+Y {h} +X {w}": rgbe[::-1],
        f"-Y {h} -X {w}": rgbe[:, ::-1],
        f"+X {w} -Y {h}": np.swapaxes(rgbe, 0, 1),
        f"-X {w} +Y {h}": np.swapaxes(rgbe[::-1, ::-1], 0, 1),
    }
    for i, (layout, data) in enumerate(cases.items()):
        p = tmp_path / f"o{i}.hdr"
        p.write_bytes(_rgbe_file(layout, h, w, data))
        back = read_image(p)  # EXPOSURE is ignored (values as stored)
        np.testing.assert_array_equal(back, img, err_msg=layout)


def test_rgbe_numpy_decoder_matches_rle_writer(tmp_path, monkeypatch):
    img = _hdr(6, 300, seed=3)
    img[2, 10:200] = 5.0  # long runs
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    write_rgbe(tmp_path / "a.hdr", img)
    data = (tmp_path / "a.hdr").read_bytes()
    assert b"-Y 6 +X 300\n\x02\x02\x01\x2c" in data  # new-style RLE scanline header
    back = read_image(tmp_path / "a.hdr")
    np.testing.assert_array_equal(back, rgbe_mod.rgbe_to_float(rgbe_mod.float_to_rgbe(img)))


def test_png16_round_trip_exact(tmp_path):
    rng = np.random.default_rng(1)
    u16 = rng.integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    write_png16(tmp_path / "a.png", u16)
    back, info = read_image_info(tmp_path / "a.png")
    assert info.bit_depth == 16
    np.testing.assert_array_equal(np.round(back * 65535).astype(np.uint16), u16)
    img01 = rng.random((5, 6, 3)).astype(np.float32)
    write_image(tmp_path / "b.png", img01, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "b.png"), np.round(img01 * 65535) / 65535, atol=1e-7)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_numpy_decoder_all_filters(channels):
    ic = pytest.importorskip("imagecodecs")
    rng = np.random.default_rng(channels)
    u16 = np.cumsum(rng.integers(0, 3000, (11, 13, channels)), axis=1).astype(np.uint16)
    arr = u16[:, :, 0] if channels == 1 else u16
    for filt in (16, 32, 64, 128, 248):  # none, sub, up, average, paeth / adaptive
        data = bytes(ic.png_encode(arr, filter=filt))
        np.testing.assert_array_equal(png16_mod.decode_png16_numpy(data, "x.png"), u16)
    np.testing.assert_array_equal(
        np.asarray(ic.png_decode(png16_mod.encode_png16(u16))).reshape(u16.shape), u16
    )


def test_png16_read_without_imagecodecs(tmp_path, monkeypatch):
    u16 = np.random.default_rng(2).integers(0, 65536, (5, 4, 4), dtype=np.uint16)
    write_png16(tmp_path / "a.png", u16)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    back = read_image(tmp_path / "a.png", alpha="keep")
    np.testing.assert_array_equal(np.round(back * 65535).astype(np.uint16), u16)


def test_ntire_round_trip_exact_to_recipe(tmp_path):
    img = _hdr(6, 8, seed=4, peak=3.0)
    p = tmp_path / "0003_gt.png"
    npy = write_ntire(p, img)
    assert os.path.basename(npy) == "0003_alignratio.npy"
    assert alignratio_path(tmp_path / "0003.png") == str(tmp_path / "0003_alignratio.npy")
    ratio = np.load(npy)
    assert ratio == np.float32(65535) / img.max() and ratio.dtype == np.float32
    png = np.round(img * ratio).astype(np.uint16)
    # RGB order on disk: Pillow reads the first channel as R (8-bit view of the 16-bit file)
    pil = np.asarray(Image.open(p).convert("RGB")).astype(int)
    assert np.abs(pil - (png >> 8)).max() <= 1
    back = read_ntire(p)
    np.testing.assert_array_equal(back, png / np.float32(ratio))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, img, atol=img.max() / 65535)
    with pytest.raises(ImageWriteError, match="exists"):
        write_ntire(p, img)


def test_8bit_round_trip(tmp_path):
    u8 = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", u8)
    back, info = read_image_info(tmp_path / "a.png")
    assert info.bit_depth == 8 and not info.is_hdr and info.format == "png"
    np.testing.assert_array_equal(np.round(back * 255).astype(np.uint8), u8)
    write_image(tmp_path / "a.jpg", u8.astype(np.float32) / 255)
    assert read_image(tmp_path / "a.jpg").shape == (6, 7, 3)


def test_float_tiff_is_linear_hdr(tmp_path):
    img = _hdr(5, 6)
    write_image(tmp_path / "a.tif", img)
    back, info = read_image_info(tmp_path / "a.tif")
    assert info.is_hdr and info.bit_depth == 32
    np.testing.assert_array_equal(back, img)
    u16 = np.random.default_rng(6).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    write_image(tmp_path / "b.tif", u16)
    back, info = read_image_info(tmp_path / "b.tif")
    assert not info.is_hdr and info.bit_depth == 16
    np.testing.assert_array_equal(np.round(back * 65535).astype(np.uint16), u16)


# ----------------------------------------------------------------------------------------- LDR variants
def test_exif_orientation_6(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(tmp_path / "o.jpg", exif=exif, quality=95)
    img, info = read_image_info(tmp_path / "o.jpg")
    assert img.shape == (40, 20, 3)  # rotated 90 degrees clockwise
    assert info.orientation == 6 and info.orientation_applied
    assert img[5, 10, 0] > 0.9 and img[35, 10, 0] < 0.1  # red half is now on top


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(tmp_path, orientation):
    from PIL import ImageOps

    arr = np.random.default_rng(orientation).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(tmp_path / "o.png", exif=exif)
    ref = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "o.png") * 255).astype(np.uint8), ref)


def test_gray_palette_cmyk_rgba_gray16(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(g).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.shape == (3, 4, 3) and np.allclose(img[..., 0], g / 255) and np.allclose(img[..., 2], g / 255)

    rgb = np.random.default_rng(7).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).quantize(8).save(tmp_path / "p.png")
    ref = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")) / 255
    np.testing.assert_allclose(read_image(tmp_path / "p.png"), ref, atol=1e-6)

    Image.new("CMYK", (4, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    c = read_image(tmp_path / "c.jpg")
    assert c.shape == (3, 4, 3) and c[..., 0].mean() > 0.8 and c[..., 1:].mean() < 0.2  # red

    rgba = np.dstack([rgb, np.full((4, 5), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img, info = read_image_info(tmp_path / "a.png")
    assert img.shape == (4, 5, 3) and info.has_alpha
    img = read_image(tmp_path / "a.png", alpha="keep")
    assert img.shape == (4, 5, 4) and np.allclose(img[..., 3], 128 / 255)

    g16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    img, info = read_image_info(tmp_path / "g16.png")
    assert info.bit_depth == 16 and img.shape == (3, 4, 3)
    np.testing.assert_array_equal(np.round(img[..., 1] * 65535).astype(np.uint16), g16)


# ----------------------------------------------------------------------------------------- EXR variants
def _write_raw_exr(path, channels, header=None):
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    hdr.update(header or {})
    OpenEXR.File(hdr, channels).write(str(path))


def _yc_exr_bytes(y, ry, by):
    """A tiny uncompressed scanline EXR with Y + 2x2-subsampled RY/BY (the bindings cannot write these)."""
    import struct

    h, w = y.shape

    def attr(name, typ, payload):
        return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(payload)) + payload

    chlist = b""
    for name, s in (("BY", 2), ("RY", 2), ("Y", 1)):  # alphabetical, as OpenEXR stores them
        chlist += name.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, s, s)
    chlist += b"\0"
    box = struct.pack("<iiii", 0, 0, w - 1, h - 1)
    header = (
        attr("channels", "chlist", chlist)
        + attr("compression", "compression", b"\0")
        + attr("dataWindow", "box2i", box)
        + attr("displayWindow", "box2i", box)
        + attr("lineOrder", "lineOrder", b"\0")
        + attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
        + attr("screenWindowCenter", "v2f", struct.pack("<ff", 0, 0))
        + attr("screenWindowWidth", "float", struct.pack("<f", 1.0))
        + b"\0"
    )
    blocks = []
    for row in range(h):
        data = b""
        if row % 2 == 0:
            data += by[row // 2].astype("<f2").tobytes() + ry[row // 2].astype("<f2").tobytes()
        data += y[row].astype("<f2").tobytes()
        blocks.append(struct.pack("<ii", row, len(data)) + data)
    start = 8 + len(header) + 8 * h
    offsets, pos = [], start
    for b in blocks:
        offsets.append(pos)
        pos += len(b)
    return b"\x76\x2f\x31\x01" + b"\x02\0\0\0" + header + struct.pack(f"<{h}Q", *offsets) + b"".join(blocks)


def test_exr_luminance_chroma(tmp_path):
    h, w = 8, 10
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[...] = (0.8, 0.4, 0.2)  # constant colour: chroma upsampling is exact
    rgb[:, 5:] *= 2.0  # brightness edge in Y only
    y = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    ry = (rgb[::2, ::2, 0] - y[::2, ::2]) / y[::2, ::2]
    by = (rgb[::2, ::2, 2] - y[::2, ::2]) / y[::2, ::2]
    (tmp_path / "yc.exr").write_bytes(_yc_exr_bytes(y, ry, by))
    chans = OpenEXR.File(str(tmp_path / "yc.exr"), separate_channels=True).parts[0].channels
    assert chans["RY"].xSampling == 2 and chans["RY"].pixels.shape == (4, 5)
    img = read_image(tmp_path / "yc.exr")
    assert img.shape == (h, w, 3)
    np.testing.assert_allclose(img, rgb, rtol=3e-3, atol=1e-3)


def test_exr_luminance_only_and_tiled(tmp_path):
    y = np.linspace(0, 4, 6 * 7, dtype=np.float32).reshape(6, 7).astype(np.float16)
    _write_raw_exr(tmp_path / "y.exr", {"Y": y})
    img = read_image(tmp_path / "y.exr")
    assert img.shape == (6, 7, 3) and np.allclose(img[..., 0], y) and np.allclose(img[..., 2], y)

    rgb = _hdr(40, 50).astype(np.float16)
    # the bindings write one-level tiled files only (mip-mapped real files were checked by hand)
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 16, 16, OpenEXR.ONE_LEVEL
    _write_raw_exr(
        tmp_path / "t.exr",
        {"R": rgb[..., 0].copy(), "G": rgb[..., 1].copy(), "B": rgb[..., 2].copy()},
        {"type": OpenEXR.tiledimage, "tiles": tiles},
    )
    assert OpenEXR.File(str(tmp_path / "t.exr")).parts[0].header["type"] == OpenEXR.tiledimage
    np.testing.assert_array_equal(read_image(tmp_path / "t.exr"), rgb.astype(np.float32))


def test_exr_multiview(tmp_path):
    h, w = 4, 6
    ones = np.ones((h, w), np.float16)
    chans = {
        n: ones * v for n, v in [("R", 1), ("G", 1), ("B", 1), ("left.R", 2), ("left.G", 2), ("left.B", 2)]
    }
    _write_raw_exr(tmp_path / "mv.exr", chans, {"multiView": ["right", "left"]})
    assert np.allclose(read_image(tmp_path / "mv.exr"), 1.0)  # default view = unprefixed channels
    assert np.allclose(read_image(tmp_path / "mv.exr", view="left"), 2.0)
    assert np.allclose(read_image(tmp_path / "mv.exr", view="right"), 1.0)
    with pytest.raises(ImageReadError, match="mv.exr: no view 'top'"):
        read_image(tmp_path / "mv.exr", view="top")


def test_exr_nonfinite_and_negative(tmp_path):
    img = _hdr(4, 4)
    img[0, 0, 0] = -0.01
    write_exr(tmp_path / "n.exr", img, dtype="float")
    assert read_image(tmp_path / "n.exr").min() == 0.0  # lossy-codec negatives clamped
    r = img[..., 0].copy()
    r[1, 1] = np.nan
    _write_raw_exr(tmp_path / "nan.exr", {"R": r, "G": img[..., 1].copy(), "B": img[..., 2].copy()})
    with pytest.raises(ImageReadError, match=r"nan\.exr: contains 1 NaN/Inf"):
        read_image(tmp_path / "nan.exr")
    assert np.isnan(read_image(tmp_path / "nan.exr", allow_nonfinite=True)).sum() == 1


# ----------------------------------------------------------------------------------------- errors
def _expect_read_error(path, pattern, exc=ImageReadError):
    with pytest.raises(exc) as ei:
        read_image(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)), msg
    assert "\n" not in msg
    assert pattern in msg, msg


def test_bad_inputs_name_the_path(tmp_path):
    _expect_read_error(tmp_path / "missing.jpg", "no such file")
    (tmp_path / "d.png").mkdir()
    _expect_read_error(tmp_path / "d.png", "is a directory")
    (tmp_path / "empty.png").write_bytes(b"")
    _expect_read_error(tmp_path / "empty.png", "empty file (0 bytes)")
    (tmp_path / "text.jpg").write_text("hello, this is not a JPEG\n")
    _expect_read_error(tmp_path / "text.jpg", "not an image file")
    (tmp_path / "text.exr").write_text("hello\n")
    _expect_read_error(tmp_path / "text.exr", "not a readable OpenEXR file")
    (tmp_path / "text.hdr").write_text("hello\n")
    _expect_read_error(tmp_path / "text.hdr", "not a Radiance RGBE file")
    (tmp_path / "x.xyz").write_bytes(b"abc")
    _expect_read_error(tmp_path / "x.xyz", "unsupported file extension '.xyz'")


def test_truncated_files(tmp_path):
    rng = np.random.default_rng(8)
    arr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _expect_read_error(tmp_path / "t.jpg", "truncated")
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    (tmp_path / "t.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _expect_read_error(tmp_path / "t.png", "truncated")
    write_png16(tmp_path / "t16.png", arr.astype(np.uint16) * 257)
    data = (tmp_path / "t16.png").read_bytes()
    (tmp_path / "t16.png").write_bytes(data[: len(data) // 2])
    _expect_read_error(tmp_path / "t16.png", "PNG")
    write_rgbe(tmp_path / "t.hdr", _hdr(20, 30))
    data = (tmp_path / "t.hdr").read_bytes()
    (tmp_path / "t.hdr").write_bytes(data[: len(data) // 2])
    _expect_read_error(tmp_path / "t.hdr", "truncated")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path):
    p = tmp_path / "locked.png"
    Image.new("RGB", (4, 4)).save(p)
    p.chmod(0)
    try:
        _expect_read_error(p, "permission denied")
    finally:
        p.chmod(0o644)


def test_max_pixels_and_check_size(tmp_path):
    Image.new("RGB", (30, 20)).save(tmp_path / "big.png")
    _ = read_image(tmp_path / "big.png", max_pixels=600)
    with pytest.raises(
        ImageSizeError, match=r"big\.png: image is 30x20 = 600 pixels, more than max_pixels=599"
    ):
        read_image(tmp_path / "big.png", max_pixels=599)
    write_exr(tmp_path / "big.exr", np.ones((20, 30, 3), np.float32))
    with pytest.raises(ImageSizeError, match=r"big\.exr"):
        read_image(tmp_path / "big.exr", max_pixels=100)
    with pytest.raises(ImageSizeError, match=r"tiny\.png: image is 1x1 pixels"):
        check_size(np.zeros((1, 1, 3)), "tiny.png")
    check_size(np.zeros((2, 2, 3)), "ok.png")
    with pytest.raises(ImageSizeError, match="ok.png"):
        check_size(np.zeros((20, 30, 3)), "ok.png", max_pixels=10)


def test_decompression_bomb_is_clear(tmp_path, monkeypatch):
    Image.new("RGB", (64, 64)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    _expect_read_error(tmp_path / "bomb.png", "decompression-bomb", exc=ImageSizeError)


# ----------------------------------------------------------------------------------------- atomic writes
def test_atomic_write_refuses_overwrite_and_leaves_no_partial_file(tmp_path):
    p = tmp_path / "out.exr"
    write_image(p, _hdr())
    before = p.read_bytes()
    with pytest.raises(ImageWriteError, match=r"out\.exr: exists \(use --overwrite\)"):
        write_image(p, _hdr(seed=1))
    assert p.read_bytes() == before
    write_image(p, _hdr(seed=1), overwrite=True)
    assert p.read_bytes() != before
    bad = _hdr()
    bad[0, 0, 0] = np.nan
    for name in ("n.exr", "n.hdr", "n.png"):
        with pytest.raises(ImageWriteError, match=name):
            write_image(tmp_path / name, bad)
    with pytest.raises(ImageWriteError, match="unsupported output extension"):
        write_image(tmp_path / "x.xyz", _hdr())
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "nodir" / "x.exr", _hdr())
    assert sorted(os.listdir(tmp_path)) == ["out.exr"]


def test_atomic_write_failure_inside_writer_removes_temp(tmp_path, monkeypatch):
    def boom(self, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(OpenEXR.File, "write", boom)
    with pytest.raises(ImageWriteError, match=r"^.*f\.exr: cannot write \(disk full\)"):
        write_exr(tmp_path / "f.exr", _hdr())
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------------------- previews
def test_preview_matches_photo_below_half(tmp_path):
    rng = np.random.default_rng(9)
    photo8 = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    lin = _srgb_to_lin(photo8 / 255.0).astype(np.float32)
    hdr = lin.copy()
    hdr[lin > 0.5] = lin[lin > 0.5] * 8.0  # the model's highlights go well above 1
    prev = tonemap_preview(hdr)
    low = lin <= 0.5
    diff = prev.astype(int) - photo8.astype(int)
    assert np.abs(diff[low]).max() <= 2  # within a couple of levels, not darker
    assert prev[hdr > 3].min() > 200  # highlights roll off into the top
    # nothing above 1 -> exactly the photo
    np.testing.assert_array_equal(tonemap_preview(lin), photo8)
    np.testing.assert_array_equal(tonemap_preview(lin, method="clip"), photo8)
    mu = tonemap_preview(hdr, method="mu")
    assert mu.dtype == np.uint8 and mu.mean() > prev.mean() * 0.5
    darker = tonemap_preview(hdr, exposure=-2)
    assert darker.mean() < prev.mean()
    write_preview(tmp_path / "p.png", hdr)
    assert np.asarray(Image.open(tmp_path / "p.png")).shape == (32, 32, 3)


# ----------------------------------------------------------------------------------------- misc
def test_is_hdr_path():
    assert is_hdr_path("a.EXR") and is_hdr_path("b.hdr") and is_hdr_path("c.pic")
    assert not is_hdr_path("d.png") and not is_hdr_path("e.jpg") and not is_hdr_path("f.tif")


def test_import_does_not_pull_torch():
    code = "import hdrlift.io, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------------------- display formats
def test_ultrahdr_and_avif_pq(tmp_path, monkeypatch):
    ic = pytest.importorskip("imagecodecs")
    hdr = _hdr(15, 22, peak=4.0)  # odd size: written at exactly this size
    write_image(tmp_path / "a.uhdr.jpg", hdr)
    data = (tmp_path / "a.uhdr.jpg").read_bytes()
    assert ic.ultrahdr_check(data)
    back = np.asarray(ic.ultrahdr_decode(data)).astype(np.float32)
    assert back.shape[:2] == (15, 22) and back[..., :3].max() > 2.0  # highlights kept above SDR white
    write_image(tmp_path / "a.avif", hdr)
    dec = np.asarray(ic.avif_decode((tmp_path / "a.avif").read_bytes()))
    assert dec.shape[:2] == (15, 22) and dec.dtype == np.uint16 and dec.max() <= 1023
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    with pytest.raises(ImageWriteError, match=r"b\.avif: writing AVIF needs the optional 'imagecodecs'"):
        write_image(tmp_path / "b.avif", hdr)


def test_pq_encode_reference_points():
    from hdrlift.io import pq_encode

    np.testing.assert_allclose(
        pq_encode(np.array([0.0, 100.0, 1000.0, 10000.0])), [0.0, 0.5081, 0.7518, 1.0], atol=2e-4
    )


@pytest.mark.parametrize("method", ["reinhard", "mu", "clip"])
@pytest.mark.parametrize("exposure", [None, 1.0])
def test_preview_row_blocks_equal_whole_image(method: str, exposure: float | None) -> None:
    """tonemap_preview works in row blocks (memory); the result equals the whole-image formula."""
    from hdrlift.io.preview import shoulder, srgb_encode, tonemap_preview, white_point

    rng = np.random.default_rng(3)
    img = (rng.random((4100, 512, 3), dtype=np.float32) * 1.2) ** 3 * 4.0  # 3 blocks of 2048 rows
    img[4000:, :, 0] = 40.0  # the white point depends on the last block
    img[5, 5] = np.nan
    got = tonemap_preview(img, method, exposure)
    ref = np.nan_to_num(img, nan=0.0) * np.float32(2.0 ** (exposure or 0.0))
    if method == "reinhard":
        want = srgb_encode(shoulder(ref, white_point(ref)))
    elif method == "clip":
        want = srgb_encode(ref)
    else:
        want = np.log1p(5000.0 * np.minimum(ref / white_point(ref), 1.0)) / np.log1p(5000.0)
    want8 = np.round(np.clip(want, 0.0, 1.0) * 255.0).astype(np.uint8)
    assert got.shape == want8.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want8.astype(int)).max() <= 1
    assert np.mean(got != want8) < 1e-4
