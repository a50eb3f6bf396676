"""Colour in: embedded ICC profiles, EXIF colour space and EXR chromaticities are honoured on read.

The Display-P3 profile is built here byte by byte (ICC.1:2022 matrix/TRC display profile); the expected
values come from LittleCMS (``PIL.ImageCms``) with that profile and from the published P3 / Adobe RGB ->
sRGB matrices, not from hdrlift's own colour code.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from hdrlift.io import read_image, read_image_info

# Linear Display P3 -> linear sRGB and Adobe RGB (1998) -> linear sRGB (both D65), as published.
P3_TO_SRGB = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]])
ADOBE_TO_SRGB = np.array([[1.3982, -0.3982, 0.0], [0.0, 1.0, 0.0], [0.0, -0.0429, 1.0429]])
# Display P3 primaries adapted to the D50 PCS (Bradford), as in Apple's "Display P3" profile.
P3_D50 = np.array([[0.5151, 0.2919, 0.1571], [0.2412, 0.6922, 0.0666], [-0.0011, 0.0419, 0.7841]])


def s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def mluc(text: str) -> bytes:
    s = text.encode("utf-16-be")
    return b"mluc" + b"\0" * 4 + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(s), 28) + s


def display_p3_profile() -> bytes:
    xyz = lambda v: b"XYZ " + b"\0" * 4 + b"".join(s15(c) for c in v)  # noqa: E731
    para = b"para" + b"\0" * 4 + struct.pack(">HH", 3, 0) + b"".join(
        s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    tags = [(b"desc", mluc("Display P3 (test)")), (b"cprt", mluc("public domain")),
            (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(P3_D50[:, 0])), (b"gXYZ", xyz(P3_D50[:, 1])),
            (b"bXYZ", xyz(P3_D50[:, 2])), (b"rTRC", para), (b"gTRC", para), (b"bTRC", para)]
    table, data = b"", b""
    off = 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", off + len(data), len(body))
        data += body
    size = off + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x04300000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 8
              + b"\0" * 8 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"lcms" + b"\0" * 44)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def srgb_decode(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v):
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


@pytest.fixture
def p3_photo() -> np.ndarray:
    """8-bit P3-encoded colours: a grey ramp, in-gamut colours and saturated P3 red/green."""
    rng = np.random.default_rng(2)
    img = (rng.random((24, 32, 3)) * 0.7 + 0.15) * 255
    img[:4] = np.linspace(0, 255, 32)[None, :, None]
    img[4:6, :8] = (255, 0, 0)
    img[4:6, 8:16] = (0, 255, 0)
    return np.round(img).astype(np.uint8)


def test_display_p3_png_and_jpeg_are_read_as_srgb(p3_photo: np.ndarray, tmp_path: Path) -> None:
    icc = display_p3_profile()
    lcms = ImageCms.profileToProfile(Image.fromarray(p3_photo), ImageCms.ImageCmsProfile(
        __import__("io").BytesIO(icc)), ImageCms.createProfile("sRGB"), outputMode="RGB")
    ref_lcms = np.asarray(lcms).astype(np.float64) / 255
    ref_matrix = srgb_encode(srgb_decode(p3_photo / 255.0) @ P3_TO_SRGB.T)
    assert np.abs(ref_lcms - ref_matrix).max() < 2.5 / 255  # the two references agree
    Image.fromarray(p3_photo).save(tmp_path / "p3.png", icc_profile=icc)
    img, info = read_image_info(tmp_path / "p3.png")
    assert info.colour_source == "icc:Display P3 (test)"
    assert np.abs(img - ref_matrix).max() < 1.5 / 255
    assert np.abs(img - ref_lcms).max() < 2.5 / 255
    assert np.abs(p3_photo / 255 - ref_matrix).max() > 0.1  # what reading it as sRGB got wrong
    Image.fromarray(p3_photo).save(tmp_path / "p3.jpg", icc_profile=icc, quality=100, subsampling=0)
    jpg = read_image(tmp_path / "p3.jpg")
    assert np.abs(jpg - ref_matrix).mean() < 1.5 / 255


def test_display_p3_16bit_png(p3_photo: np.ndarray, tmp_path: Path) -> None:
    """16-bit files are converted at full precision (matrix + curve of the profile)."""
    import imagecodecs

    u16 = p3_photo.astype(np.uint16) * 257
    data = imagecodecs.png_encode(u16)
    icc = display_p3_profile()
    import zlib

    chunk_body = b"P3\0\0" + zlib.compress(icc)
    chunk = struct.pack(">I", len(chunk_body)) + b"iCCP" + chunk_body + struct.pack(">I", zlib.crc32(
        b"iCCP" + chunk_body))
    data = data[:33] + chunk + data[33:]  # after IHDR
    (tmp_path / "p3_16.png").write_bytes(data)
    img = read_image(tmp_path / "p3_16.png")
    ref = srgb_encode(srgb_decode(u16 / 65535.0) @ P3_TO_SRGB.T)
    assert np.abs(img - ref).max() < 4e-3  # (the 4-digit published matrix vs the profile's s15.16 values)


def test_p3_photo_round_trips_through_predict(p3_photo: np.ndarray, tmp_path: Path) -> None:
    """P3 photo -> predict (linear operator) -> Rec.709 EXR -> back to P3 == the photo's linear P3."""
    from hdrlift.cli.main import main

    icc = display_p3_profile()
    Image.fromarray(p3_photo).save(tmp_path / "p3.png", icc_profile=icc)
    assert main(["predict", str(tmp_path / "p3.png"), "-m", "linear", "-o", str(tmp_path / "o.exr"),
                 "--no-half", "-q", "--no-preview"]) == 0
    exr709 = read_image(tmp_path / "o.exr")
    back_p3 = exr709 @ np.linalg.inv(P3_TO_SRGB).T
    want = srgb_decode(p3_photo / 255.0)
    in_gamut = np.all((want @ P3_TO_SRGB.T >= 0) & (want @ P3_TO_SRGB.T <= 1), axis=2)
    assert in_gamut.mean() > 0.8
    assert np.abs(back_p3[in_gamut] - want[in_gamut]).max() < 0.01


def test_exif_adobe_rgb_jpeg(tmp_path: Path) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = (200, 60, 40)
    img[:, 4:] = (90, 160, 220)
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[0xA001] = 0xFFFF  # ColorSpace: uncalibrated
    sub[0xA005] = {0x0001: "R03"}  # interoperability index R03 = Adobe RGB (DCF option file)
    Image.fromarray(img).save(tmp_path / "a.jpg", exif=exif, quality=100, subsampling=0)
    got, info = read_image_info(tmp_path / "a.jpg")
    assert info.colour_source == "exif:adobe-rgb"
    ref = srgb_encode(((img / 255.0) ** (563 / 256)) @ ADOBE_TO_SRGB.T)
    assert np.abs(got - ref).max() < 2.5 / 255


def test_exif_uncalibrated_without_index_warns(tmp_path: Path, capsys) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA001] = 0xFFFF
    Image.fromarray(np.full((4, 4, 3), 80, np.uint8)).save(tmp_path / "u.jpg", exif=exif, quality=100)
    got, info = read_image_info(tmp_path / "u.jpg")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "uncalibrated" in err[0] and str(tmp_path / "u.jpg") in err[0]
    assert info.colour_source is None


def test_exr_chromaticities_are_honoured(tmp_path: Path) -> None:
    import OpenEXR

    lin_p3 = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32) * 4
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "chromaticities": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290)}
    OpenEXR.File(header, {c: np.ascontiguousarray(lin_p3[..., i]) for i, c in enumerate("RGB")}).write(
        str(tmp_path / "p3.exr"))
    got, info = read_image_info(tmp_path / "p3.exr")
    assert info.colour_source.startswith("exr:chromaticities")
    want = np.maximum(lin_p3 @ P3_TO_SRGB.T, 0)  # out-of-gamut negatives are clamped like all HDR reads
    assert np.abs(got - want).max() < 2e-3 * 4


def test_unusable_profile_warns_once_and_reads_as_srgb(tmp_path: Path, capsys) -> None:
    img = np.full((4, 4, 3), 100, np.uint8)
    bad = b"\0\0\0\x80" + b"junk" * 40
    Image.fromarray(img).save(tmp_path / "bad.png", icc_profile=bad)
    got, info = read_image_info(tmp_path / "bad.png")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"hdrlift: warning: {tmp_path / 'bad.png'}: embedded ICC profile")
    assert info.colour_source is None and np.allclose(got, 100 / 255)


def test_srgb_profile_is_a_no_op(tmp_path: Path) -> None:
    img = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(img).save(tmp_path / "s.png", icc_profile=srgb)
    got, info = read_image_info(tmp_path / "s.png")
    assert info.colour_source is None and np.array_equal(np.round(got * 255).astype(np.uint8), img)


def test_display_p3_16bit_tiff(p3_photo: np.ndarray, tmp_path: Path) -> None:
    import tifffile

    u16 = p3_photo.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "p3.tif", u16, photometric="rgb", iccprofile=display_p3_profile())
    img, info = read_image_info(tmp_path / "p3.tif")
    assert info.bit_depth == 16 and info.colour_source == "icc:Display P3 (test)"
    ref = srgb_encode(srgb_decode(u16 / 65535.0) @ P3_TO_SRGB.T)
    assert np.abs(img - ref).max() < 4e-3
