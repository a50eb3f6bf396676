"""Ultra HDR (gain-map) JPEG: the photo is the SDR base, and the HDR comes back at every headroom.

Two decoders that are not the writer read the files: libultrahdr (``imagecodecs.ultrahdr_decode`` with
the display boost) and the decoder below, written from the Ultra HDR v1.0 / ISO 21496-1 equations
(it reads the MPF index, the ``hdrgm`` XMP and the ISO box itself).
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdrlift.cli.main import main

ic = pytest.importorskip("imagecodecs")


# ---------------------------------------------------------------------------------- spec-side decoder
def segments(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        (n,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((data[pos + 1], data[pos + 4 : pos + 2 + n]))
        pos += 2 + n
    return out


def mpf_images(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each image in the MPF index (offsets from the start of the file)."""
    pos = 2
    while True:
        (n,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if data[pos + 1] == 0xE2 and data[pos + 4 : pos + 8] == b"MPF\0":
            tiff = pos + 8
            break
        pos += 2 + n
    assert data[tiff : tiff + 4] == b"MM\0*"
    ifd = tiff + struct.unpack(">I", data[tiff + 4 : tiff + 8])[0]
    entries = {}
    for i in range(struct.unpack(">H", data[ifd : ifd + 2])[0]):
        tag, typ, count, val = struct.unpack(">HHII", data[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
        entries[tag] = (count, val)
    count, off = entries[0xB002]
    imgs = []
    for k in range(count // 16):
        _attr, size, offset, _d1, _d2 = struct.unpack(">IIIHH", data[tiff + off + 16 * k : tiff + off + 16 * k + 16])
        imgs.append((0 if k == 0 else tiff + offset, size))
    return imgs


def xmp_fields(jpeg: bytes) -> dict[str, str]:
    for marker, body in segments(jpeg):
        if marker == 0xE1 and body.startswith(b"http://ns.adobe.com/xap/1.0/\0"):
            return dict(re.findall(r'hdrgm:(\w+)="([^"]*)"', body.decode()))
    return {}


def iso_values(jpeg: bytes) -> dict[str, float]:
    for marker, body in segments(jpeg):
        if marker == 0xE2 and body.startswith(b"urn:iso:std:iso:ts:21496:-1\0"):
            b = body[28:]
            if len(b) == 4:
                return {"version_only": 1.0}
            flags = b[4]
            assert not flags & 0x08  # hdrlift writes one denominator per value
            bh_n, bh_d, ah_n, ah_d = struct.unpack(">IIII", b[5:21])
            v = struct.unpack(">iIiIIIiIiI", b[21:61])
            return {"HDRCapacityMin": bh_n / bh_d, "HDRCapacityMax": ah_n / ah_d, "GainMapMin": v[0] / v[1],
                    "GainMapMax": v[2] / v[3], "Gamma": v[4] / v[5], "OffsetSDR": v[6] / v[7],
                    "OffsetHDR": v[8] / v[9], "multichannel": float(bool(flags & 0x80))}
    return {}


def spec_decode(data: bytes, headroom: float) -> np.ndarray:
    """Ultra HDR v1.0 'Decode' equations: HDR = (SDR + k_sdr) * 2 ** (log_boost * W) - k_hdr."""
    (p_off, p_size), (g_off, g_size) = mpf_images(data)
    primary, gm = data[p_off : p_off + p_size], data[g_off : g_off + g_size]
    f = {k: float(v) for k, v in xmp_fields(gm).items() if k not in ("Version", "BaseRenditionIsHDR")}
    sdr = np.asarray(Image.open(io.BytesIO(primary)).convert("RGB"), np.float64) / 255
    sdr = np.where(sdr <= 0.04045, sdr / 12.92, ((sdr + 0.055) / 1.055) ** 2.4)
    g = np.asarray(Image.open(io.BytesIO(gm)), np.float64) / 255
    g = g[..., None] if g.ndim == 2 else g
    log_boost = f["GainMapMin"] + (f["GainMapMax"] - f["GainMapMin"]) * g ** (1 / f["Gamma"])
    w = np.clip((np.log2(headroom) - f["HDRCapacityMin"]) / (f["HDRCapacityMax"] - f["HDRCapacityMin"]), 0, 1)
    return (sdr + f["OffsetSDR"]) * 2 ** (log_boost * w) - f["OffsetHDR"]


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> tuple[Path, np.ndarray, Path]:
    """A JPEG photo (q90, odd size, textured, a clipped light) and the EXR + Ultra HDR predicted from it."""
    import OpenEXR

    d = tmp_path_factory.mktemp("uhdr")
    rng = np.random.default_rng(5)
    h, w = 95, 131
    y, x = np.mgrid[0:h, 0:w]
    lin = 0.03 + 0.75 * (x / w)[..., None] * np.array([1.0, 0.8, 0.6]) * (0.5 + 0.5 * np.sin(y / 7)[..., None] ** 2)
    lin *= np.exp(rng.normal(0, 0.03, lin.shape))
    lin[(x - 100) ** 2 + (y - 30) ** 2 < 120] = 1.5
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    photo = d / "photo.jpg"
    Image.fromarray(np.round(np.clip(srgb, 0, 1) * 255).astype(np.uint8)).save(photo, quality=90)
    exr, uhdr = d / "ref.exr", d / "photo.uhdr.jpg"
    assert main(["predict", str(photo), "-m", "landis", "-o", str(exr), "--no-half", "--no-preview", "-q"]) == 0
    assert main(["predict", str(photo), "-m", "landis", "-o", str(uhdr), "--no-preview", "-q"]) == 0
    ch = OpenEXR.File(str(exr)).channels()
    ref = np.asarray(ch["RGB"].pixels, np.float64) if "RGB" in ch else np.stack(
        [np.asarray(ch[c].pixels, np.float64) for c in "RGB"], axis=2)
    return photo, ref, uhdr


def stops(got: np.ndarray, want: np.ndarray, headroom: float) -> np.ndarray:
    """|log2| error of what a display with ``headroom`` shows, over mid-tones and highlights."""
    want = np.minimum(want, headroom)
    lit = want.min(axis=2) >= 0.05
    return np.abs(np.log2(np.maximum(np.minimum(got, headroom)[lit], 1e-6) / want[lit]))


# ---------------------------------------------------------------------------------- tests
def test_base_is_the_photo_at_its_exact_size(shot) -> None:
    photo, ref, uhdr = shot
    data = uhdr.read_bytes()
    base = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)
    orig = np.asarray(Image.open(photo).convert("RGB"), np.float64)
    assert base.shape == orig.shape == ref.shape == (95, 131, 3)  # odd sizes kept
    assert np.abs(base - orig).mean() <= 1.0  # (the photo's own JPEG is reused: 0)
    assert ic.ultrahdr_decode(data).shape[:2] == (95, 131)


@pytest.mark.parametrize("headroom", [1.0, 2.0, 4.0, 8.0, "peak"])
def test_round_trip_at_display_headroom(shot, headroom) -> None:
    _photo, ref, uhdr = shot
    data = uhdr.read_bytes()
    hmax = float(ref.max()) if headroom == "peak" else float(headroom)
    if headroom == "peak":
        assert hmax > 8.0  # the content's peak is a headroom of its own (landis: 10x)
    lib = np.asarray(ic.ultrahdr_decode(data, boost=hmax), np.float64)[..., :3]
    spec = spec_decode(data, hmax)
    want = ref
    if hmax == 1.0:  # an SDR display shows the SDR rendition: the photo itself, not the EXR clipped at 1
        s = np.asarray(Image.open(_photo).convert("RGB"), np.float64) / 255
        want = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    for got in (lib, spec):
        e = stops(got, want, hmax)
        assert np.percentile(e, 99) <= 0.1 and np.median(e) <= 0.03, (headroom, np.percentile(e, 99), e.max())
    if hmax > 1:  # highlights reach the display's peak (or the content's), not a fraction of it
        assert np.minimum(lib, hmax).max() >= 0.95 * min(hmax, ref.max())
    lit = want.min(axis=2) >= 0.05  # the two decoders agree (their JPEG decoders differ by a code value)
    assert np.percentile(np.abs(np.log2(np.maximum(lib[lit], 1e-3) / np.maximum(spec[lit], 1e-3))), 99) < 0.05


def test_metadata_hdrgm_xmp_and_iso_agree(shot) -> None:
    _photo, ref, uhdr = shot
    data = uhdr.read_bytes()
    (p_off, p_size), (g_off, g_size) = mpf_images(data)
    assert p_off == 0 and g_off == p_size and g_off + g_size == len(data)
    assert data[g_off : g_off + 2] == b"\xff\xd8"
    primary_xmp = xmp_fields(data[:p_size])
    assert primary_xmp["Version"] == "1.0"
    assert f'Item:Length="{g_size}"' in data[:p_size].decode("latin-1")
    assert iso_values(data[:p_size]) == {"version_only": 1.0}
    gm = data[g_off:]
    x = xmp_fields(gm)
    iso = iso_values(gm)
    assert x["BaseRenditionIsHDR"] == "False"
    for k in ("GainMapMin", "GainMapMax", "Gamma", "OffsetSDR", "OffsetHDR", "HDRCapacityMin", "HDRCapacityMax"):
        assert float(x[k]) == pytest.approx(iso[k], abs=1e-6), k
    # the headroom comes from the content: the largest log2 (hdr + k) / (base + k) over the image
    s = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64) / 255
    base = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    gain = np.log2((ref + 1 / 64) / (base + 1 / 64))
    assert float(x["GainMapMax"]) == pytest.approx(gain.max(), abs=0.01)
    assert float(x["GainMapMin"]) == pytest.approx(gain.min(), abs=0.01)


@pytest.mark.parametrize("flag", [["--max-boost", "2"], ["--peak-nits", "406"]])
def test_peak_controls_limit_the_boost(shot, tmp_path: Path, flag) -> None:
    photo, ref, _ = shot
    out = tmp_path / "b.jpg"
    assert main(["predict", str(photo), "-m", "landis", "-o", str(out), "--no-preview", "-q", *flag]) == 0
    lib = np.asarray(ic.ultrahdr_decode(out.read_bytes(), boost=8.0), np.float64)[..., :3]
    assert lib.max() <= 2.0 * 2**0.1  # within 0.1 stop of the requested peak
    e = stops(lib, np.minimum(ref, 2.0), 8.0)
    assert np.percentile(e, 99) <= 0.1


def test_an_ultra_hdr_photo_as_input_gets_one_new_gain_map(shot, tmp_path: Path) -> None:
    """A gain-map JPEG given as the photo: its old XMP/MPF/gain map are not carried into the base."""
    from hdrlift.io.gainmap import encode_uhdr

    _photo, ref, uhdr = shot
    old = uhdr.read_bytes()
    sdr = np.asarray(Image.open(io.BytesIO(old)).convert("RGB"))
    data, meta = encode_uhdr(np.minimum(ref, 3.0), sdr, photo_jpeg=old)
    assert meta["base"] == "photo"
    assert len(mpf_images(data)) == 2 and data.count(b"MPF\0") == 1
    assert sum(1 for m, b in segments(data) if m == 0xE1 and b"hdrgm" in b) == 1
    lib = np.asarray(ic.ultrahdr_decode(data, boost=4.0), np.float64)[..., :3]
    assert np.percentile(stops(lib, np.minimum(ref, 3.0), 4.0), 99) <= 0.1


def test_hdr_only_input_and_bad_arguments(tmp_path: Path) -> None:
    from hdrlift.errors import ImageWriteError
    from hdrlift.io import write_uhdr

    hdr = np.full((6, 9, 3), 0.5, np.float32)
    hdr[2:4, 3:6] = 5.0
    meta = write_uhdr(tmp_path / "a.jpg", hdr)  # no photo: the base is the HDR clipped at 1
    lib = np.asarray(ic.ultrahdr_decode((tmp_path / "a.jpg").read_bytes(), boost=8.0), np.float64)[..., :3]
    assert lib.shape == (6, 9, 3) and abs(np.log2(lib[3, 4].mean() / 5.0)) < 0.1 and meta["peak"] == 5.0
    with pytest.raises(ImageWriteError, match="max boost must be >= 1"):
        write_uhdr(tmp_path / "b.jpg", hdr, max_boost=0.5)
    with pytest.raises(ImageWriteError, match="SDR base is 3x3"):
        write_uhdr(tmp_path / "c.jpg", hdr, sdr=np.zeros((3, 3, 3), np.uint8))
    assert not (tmp_path / "b.jpg").exists() and not (tmp_path / "c.jpg").exists()


@pytest.mark.parametrize("subsampling", [0, 2])  # 4:4:4 (reused byte for byte), 4:2:0 (re-encoded 4:4:4)
def test_photo_reuse_and_colour_edges(tmp_path: Path, subsampling: int) -> None:
    """Saturated colour edges beside dark pixels and a bright sky: chroma upsampling must not matter."""
    import OpenEXR

    h, w = 64, 96
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.where((x // 6) % 2 == 0, 230, 20)
    img[..., 2] = np.where((x // 6) % 2 == 1, 220, 30)
    img[..., 1] = 40
    img[: h // 3] = (250, 252, 255)  # near-clipped sky: expanded by the operator
    img[h // 3 : h // 3 + 6] = 12  # dark band next to it
    photo = tmp_path / "edges.jpg"
    Image.fromarray(img).save(photo, quality=92, subsampling=subsampling)
    out, exr = tmp_path / "e.jpg", tmp_path / "e.exr"
    assert main(["predict", str(photo), "-m", "landis", "-o", str(out), "--no-preview", "-q"]) == 0
    assert main(["predict", str(photo), "-m", "landis", "-o", str(exr), "--no-half", "--no-preview", "-q"]) == 0
    ch = OpenEXR.File(str(exr)).channels()
    ref = np.asarray(ch["RGB"].pixels, np.float64) if "RGB" in ch else np.stack(
        [np.asarray(ch[c].pixels, np.float64) for c in "RGB"], axis=2)
    data = out.read_bytes()
    from hdrlift.io.gainmap import strip_jpeg

    photo_bytes = photo.read_bytes()
    scan = strip_jpeg(photo_bytes)
    assert (scan[scan.index(b"\xff\xda") :] in data) == (subsampling == 0)  # the coded photo itself, or not
    base = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)
    assert np.abs(base - np.asarray(Image.open(photo).convert("RGB"), np.float64)).mean() <= 1.0
    for hmax in (2.0, 8.0):
        lib = np.asarray(ic.ultrahdr_decode(data, boost=hmax), np.float64)[..., :3]
        e = stops(lib, ref, hmax)
        assert np.percentile(e, 99) <= 0.1, (subsampling, hmax, np.percentile(e, 99))


def test_uhdr_fit_scale_compresses_instead_of_clipping(shot, tmp_path: Path) -> None:
    photo, ref, _ = shot
    out = tmp_path / "s.jpg"
    assert main(["predict", str(photo), "-m", "landis", "-o", str(out), "--uhdr-fit", "scale", "--no-preview",
                 "-q"]) == 0
    data = out.read_bytes()
    x = xmp_fields(data[mpf_images(data)[1][0] :])
    assert float(x["HDRCapacityMax"]) == pytest.approx(float(x["GainMapMax"]), abs=1e-6)
    peak = float(ref.max())
    full = np.asarray(ic.ultrahdr_decode(data, boost=peak), np.float64)[..., :3]
    assert np.percentile(stops(full, ref, peak), 99) <= 0.1  # exact at the content's headroom
    two = np.asarray(ic.ultrahdr_decode(data, boost=2.0), np.float64)[..., :3]
    assert two.max() <= 2.0 * 2**0.1  # scaled into the display's headroom, not beyond
    bright = ref.min(axis=2) > 4.0
    assert bright.any() and (two[bright] < 2.0).mean() > 0.5  # compressed, not all clipped at 2


CHROMIUM_PAGE = """<html><body><pre id="o">pending</pre><script>
const o = document.getElementById('o');
const jobs = JOBS;
const res = {};
let n = 0;
for (const [key, src, stops, mode] of jobs) {
  const img = new Image();
  img.onload = () => {
    try {
      const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
      const ctx = c.getContext('2d', {colorSpace: 'srgb-linear', colorType: 'float16', toneMapping: {mode}});
      ctx.globalHDRHeadroom = stops;
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height, {pixelFormat: 'rgba-float32', storageFormat: 'float32'});
      res[key] = {w: c.width, h: c.height, type: d.data.constructor.name, data: Array.from(d.data)};
    } catch (e) { res[key] = {error: String(e)}; }
    if (++n === jobs.length) o.textContent = JSON.stringify(res);
  };
  img.onerror = () => {
    res[key] = {error: 'cannot decode ' + src};
    if (++n === jobs.length) o.textContent = JSON.stringify(res);
  };
  img.src = src;
}
</script></body></html>"""


@pytest.mark.skipif(__import__("shutil").which("chromium") is None, reason="needs a chromium binary")
def test_chromium_renders_uhdr_avif_and_cicp_png(shot, tmp_path: Path) -> None:
    """Chromium's own decoders (canvas HDR: float16 linear canvas with ``globalHDRHeadroom``)."""
    import json
    import shutil
    import subprocess

    photo, ref, uhdr = shot
    shutil.copy(uhdr, tmp_path / "u.jpg")
    for fmt, name in (("avif", "a.avif"), ("png-pq", "p.png")):
        assert main(["predict", str(photo), "-m", "landis", "-f", fmt, "-o", str(tmp_path / name), "--no-preview",
                     "-q"]) == 0
    jobs = [[f"u{s}", "u.jpg", s, "standard"] for s in (0, 1, 2, 3)] + [["avif", "a.avif", 6, "extended"],
                                                                         ["png", "p.png", 6, "extended"]]
    (tmp_path / "page.html").write_text(CHROMIUM_PAGE.replace("JOBS", json.dumps(jobs)))
    cmd = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
           "--enable-experimental-web-platform-features",
           "--enable-blink-features=CanvasFloatingPoint,CanvasHDR,CanvasGlobalHDRHeadroom",
           "--virtual-time-budget=30000", "--dump-dom", (tmp_path / "page.html").as_uri()]
    try:
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"chromium did not run: {e}")
    text = dom[dom.find('<pre id="o">') + 12 : dom.find("</pre>")] if "</pre>" in dom else "pending"
    if text == "pending":
        pytest.skip("chromium ran no script here")
    res = json.loads(text)
    s = np.asarray(Image.open(photo).convert("RGB"), np.float64) / 255
    photo_lin = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    for key, r in res.items():
        assert "error" not in r, (key, r)
        if r["type"] != "Float32Array":
            pytest.skip("this chromium has no float canvas")
        got = np.asarray(r["data"], np.float64).reshape(r["h"], r["w"], 4)[..., :3]
        assert got.shape == ref.shape
        if key.startswith("u"):
            hmax = 2.0 ** int(key[1:])
            want = photo_lin if hmax == 1 else ref
            e, tol = stops(got, want, hmax), 0.1
        else:
            e, tol = stops(got, ref, float(ref.max())), 0.2 if key == "avif" else 0.02  # AVIF is lossy
        assert np.percentile(e, 99) <= tol, (key, np.percentile(e, 99))
