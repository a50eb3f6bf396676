"""``hdrlift view``: the page's content, the command line, and the page driven in headless Chromium.

The browser test needs a Chromium (Debian package ``chromium``; .ci/run installs it) and skips
cleanly without one. Its screenshots are kept in ``out/test-artifacts/`` (or ``$HDRLIFT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import hdrlift.io as hio
from hdrlift.cli.main import main
from hdrlift.view.page import downscale, image_figures, load_item, render_page, srgb_decode_u8

ROOT = Path(__file__).resolve().parents[1]


def srgb8(lin: np.ndarray) -> np.ndarray:
    """Linear -> 8-bit sRGB codes (the reference the screenshots are checked against)."""
    x = np.clip(np.asarray(lin, np.float64), 0.0, 1.0)
    return np.round(255 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)).astype(int)


def ramp_pair(tmp_path: Path, h: int = 256, w: int = 320) -> tuple[Path, Path, np.ndarray]:
    """A vertical ramp of grey from 2^-6 (top) to 2^4 (bottom) as the 'result' and its clipped 8-bit photo."""
    v = 2.0 ** np.linspace(-6.0, 4.0, h, dtype=np.float32)
    hdr = np.repeat(np.repeat(v[:, None, None], w, axis=1), 3, axis=2).astype(np.float32)
    photo = srgb8(np.minimum(hdr, 1.0)).astype(np.uint8)
    res, ph = tmp_path / "ramp.exr", tmp_path / "ramp.png"
    hio.write_image(res, hdr, exr_dtype="float")
    hio.write_image(ph, photo)
    return res, ph, v


def page_data(html: str) -> dict:
    m = re.search(r'<script id="hdrlift-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no data block in the page"
    return json.loads(m.group(1))


def unpack(b64: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(b64)), dtype=dtype).reshape(shape)


# ---------------------------------------------------------------- page content (no browser)


def test_figures_of_a_known_image() -> None:
    hdr = np.full((10, 10, 3), 0.25, np.float32)
    hdr[0, :5] = 4.0  # 5 pixels two stops above the clipping level
    photo = np.full((10, 10, 3), 137, np.uint8)
    photo[0, :8] = 255  # 8 pixels clipped in the photo, 5 of them at 4.0 and 3 at 0.25
    f = image_figures(hdr, photo)
    assert f["above_clip_pct"] == pytest.approx(5.0)
    assert f["photo_clipped_pct"] == pytest.approx(8.0)
    assert f["peak_stops"] == pytest.approx(2.0)
    assert f["median_stops"] == pytest.approx(-2.0, abs=1e-3)
    assert f["clipped_gain_stops"] == pytest.approx((5 * 2.0 + 3 * -2.0) / 8, abs=1e-3)
    assert image_figures(hdr, None)["photo_clipped_pct"] is None


def test_downscale_is_an_area_mean_in_linear_light() -> None:
    a = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    d = downscale(a, 2)
    assert d.shape == (2, 3, 3)
    np.testing.assert_allclose(d[1, 2], a[2:4, 4:6].mean(axis=(0, 1)))
    lut = srgb_decode_u8()
    assert lut[0] == 0 and lut[255] == pytest.approx(1.0) and lut[188] == pytest.approx(0.5, abs=0.005)


def test_page_embeds_the_linear_data_and_needs_no_network(tmp_path: Path) -> None:
    res, ph, v = ramp_pair(tmp_path, 64, 48)
    html = render_page([load_item(res, ph)], "t")
    data = page_data(html)
    it = data["items"][0]
    assert (it["width"], it["height"]) == (48, 64)
    hdr = unpack(it["hdr"], "<f2", (64, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(hdr[:, 0, 0], v, rtol=1e-3)  # half floats of the linear values, above 1.0 too
    assert hdr.max() == pytest.approx(16.0)
    photo = unpack(it["photo"], "u1", (64, 48, 3))
    assert photo.max() == 255 and photo[-1, 0, 0] == 255
    # self-contained: no external script, style, image or font
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)
    assert "@import" not in html and "url(http" not in html
    assert "</script>" not in json.dumps(data)  # the data block cannot end early


def test_large_results_are_reduced_for_the_page(tmp_path: Path) -> None:
    hdr = np.full((40, 100, 3), 2.0, np.float32)
    hio.write_image(tmp_path / "big.exr", hdr)
    it = load_item(tmp_path / "big.exr", max_side=30)
    assert it.hdr.shape == (10, 25, 3) and (it.width, it.height) == (100, 40)
    assert it.figures["above_clip_pct"] == pytest.approx(100.0)


def test_cli_view_writes_a_page_and_refuses_to_replace_it(tmp_path: Path, capsys) -> None:
    res, ph, _ = ramp_pair(tmp_path, 32, 40)
    assert main(["view", str(res), str(ph)]) == 0
    page = tmp_path / "ramp.view.html"
    assert page.is_file() and "wrote" in capsys.readouterr().out
    before = page.read_bytes()
    assert main(["view", str(res), str(ph)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ramp.view.html: exists" in err
    assert page.read_bytes() == before
    assert main(["view", str(res), "-o", str(tmp_path / "x.html"), "--overwrite"]) == 0
    # the photo beside the result is found by name
    assert page_data((tmp_path / "x.html").read_text())["items"][0]["photo"] is not None


@pytest.mark.parametrize("case", ["ldr_as_result", "photo_size", "missing"])
def test_cli_view_errors_are_one_line(tmp_path: Path, capsys, case: str) -> None:
    res, ph, _ = ramp_pair(tmp_path, 32, 40)
    if case == "ldr_as_result":
        argv, word = ["view", str(ph)], "not an HDR result"
    elif case == "photo_size":
        hio.write_image(tmp_path / "small.png", np.zeros((8, 8, 3), np.uint8))
        argv, word = ["view", str(res), str(tmp_path / "small.png")], "photo is 8x8 but"
    else:
        argv, word = ["view", str(tmp_path / "nope.exr")], "nope.exr: no such file"
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert word in err and err.count("\n") == 0 and "Traceback" not in err
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*tmp*"))


def test_cli_report_over_a_batch(tmp_path: Path, capsys) -> None:
    out, photos = tmp_path / "out", tmp_path / "photos"
    out.mkdir()
    photos.mkdir()
    for name, gain in (("a", 1.0), ("b", 3.0)):
        hdr = np.full((16, 24, 3), 0.5 * gain, np.float32)
        hio.write_image(out / f"{name}.exr", hdr)
        hio.write_image(out / f"{name}.preview.png", np.zeros((16, 24, 3), np.uint8))
        hio.write_image(photos / f"{name}.png", srgb8(np.minimum(hdr, 1.0)).astype(np.uint8))
    (out / "broken.exr").write_bytes(b"not an exr")
    assert main(["view", "--report", str(out), "--photos", str(photos)]) == 1  # one bad file: reported, others go on
    err = capsys.readouterr().err
    assert "broken.exr" in err
    data = page_data((out / "report.html").read_text())
    assert data["report"] is True
    assert [it["name"] for it in data["items"]] == ["a", "b"]
    assert data["items"][1]["figures"]["above_clip_pct"] == pytest.approx(100.0)
    assert data["items"][0]["figures"]["above_clip_pct"] == 0.0
    assert all(it["photo"] and it["thumbs"]["photo"].startswith("data:image/jpeg") for it in data["items"])


def test_view_does_not_import_torch() -> None:
    code = ("import sys, hdrlift.cli.commands.view, hdrlift.view.page, hdrlift.view.api, hdrlift.view.browser; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ---------------------------------------------------------------- in a real browser

from hdrlift.view.browser import Chromium, find_chromium  # noqa: E402


def artifacts_dir() -> Path:
    import os

    d = Path(os.environ.get("HDRLIFT_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def shot(b: Chromium, name: str) -> np.ndarray:
    """Screenshot of the canvas (CSS pixel = image pixel), saved as an artefact; (H, W, 3) int."""
    from PIL import Image

    r = b.rect("#canvas")
    png = b.screenshot({"x": round(r["x"]), "y": round(r["y"]), "width": round(r["width"]),
                        "height": round(r["height"])})
    (artifacts_dir() / f"viewer_{name}.png").write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def set_exposure(b: Chromium, ev: float) -> None:
    """Move the exposure slider as a user does: drag its thumb, then arrow keys (0.1 stop each) to ``ev``."""
    r = b.rect("#exposure")
    cur = float(b.evaluate("document.getElementById('exposure').value"))
    x = r["x"] + 8 + (r["width"] - 16) * (cur + 8) / 16  # thumb centre (about)
    y = r["y"] + r["height"] / 2
    b.drag(x, y, x + (r["width"] - 16) * (ev - cur) / 16, y)
    for _ in range(200):
        now = round(float(b.evaluate("document.getElementById('exposure').value")), 1)
        if now == round(ev, 1):
            break
        b.key(*(("ArrowRight", 39) if now < ev else ("ArrowLeft", 37)))
    assert b.evaluate("document.documentElement.dataset.hdrliftEv") == f"{ev:.2f}"


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium installed (apt-get install chromium)")
def test_viewer_in_headless_chromium(tmp_path: Path) -> None:
    res, ph, v = ramp_pair(tmp_path)
    page = tmp_path / "ramp.view.html"
    has_uhdr = True
    try:  # an Ultra HDR JPEG beside the result is shown too (needs the optional imagecodecs)
        hio.write_image(tmp_path / "ramp.uhdr.jpg", hio.read_image(res))
    except Exception:
        has_uhdr = False
    assert main(["view", str(res), str(ph), "-o", str(page)]) == 0
    with Chromium(width=1000, height=900) as b:
        b.open(page)
        b.wait_ready()
        assert b.evaluate("document.getElementById('status').textContent") == ""
        if has_uhdr:
            assert b.wait_for("document.getElementById('uhdr-img').naturalWidth") == 320
            assert b.evaluate("document.getElementById('uhdr').hidden") is False
        w = round(b.rect("#canvas")["width"])
        assert w == 320  # shown at its own size: screenshot pixels are image pixels
        left, right = slice(40, 120), slice(200, 280)  # photo side and result side of the wipe at 0.5
        v = v.copy()
        v[:32] = np.nan  # rows under the 'photo' / 'HDR result' labels are not compared

        def side(img: np.ndarray, cols: slice) -> np.ndarray:
            return np.median(img[:, cols, 1], axis=1)

        s0 = shot(b, "ev+0")
        set_exposure(b, 2.0)
        s2 = shot(b, "ev+2")
        set_exposure(b, -2.0)
        sm2 = shot(b, "ev-2")

        # +2 stops: every unclipped tone of the result is 4x brighter in linear light (checked on the codes)
        dark = (v > 0.02) & (v < 0.2)
        assert (side(s2, right)[dark] > side(s0, right)[dark] + 10).all()
        np.testing.assert_allclose(side(s2, right)[dark], srgb8(4 * v[dark]), atol=3)
        np.testing.assert_allclose(side(s0, right)[v < 0.9], srgb8(v[v < 0.9]), atol=3)
        # at 0 stops the photo and the result agree below the clipping level
        np.testing.assert_allclose(side(s0, left)[v < 0.9], side(s0, right)[v < 0.9], atol=3)
        # -2 stops: the result shows its values above 1.0 (2.0 -> 0.5 -> code 188, 3.5 -> 0.875);
        # the wipe's photo side has only the clipped 1.0 -> 0.25 -> code 137
        hi = (v > 1.2) & (v < 3.5)
        np.testing.assert_allclose(side(sm2, right)[hi], srgb8(v[hi] / 4), atol=3)
        np.testing.assert_allclose(side(sm2, left)[hi], 137, atol=2)
        assert side(sm2, right)[hi].max() - side(sm2, right)[hi].min() > 60

        # drag the wipe to a quarter of the width: columns 80-160 now show the result
        r = b.rect("#canvas")
        y = r["y"] + r["height"] * 0.9
        b.drag(r["x"] + r["width"] * 0.5, y, r["x"] + r["width"] * 0.25, y)
        assert abs(float(b.evaluate("document.documentElement.dataset.hdrliftWipe")) - 0.25) < 0.01
        sw = shot(b, "wipe0.25")
        np.testing.assert_allclose(side(sw, slice(90, 150))[hi], srgb8(v[hi] / 4), atol=3)
        np.testing.assert_allclose(side(sw, slice(10, 70))[hi], 137, atol=2)

        # false colour: what is above the clipping level (v > 1) is painted, the rest is grey
        b.evaluate("document.getElementById('falsecolour').click()")
        sf = shot(b, "falsecolour")
        band2 = (v > 4.4) & (v < 7.5)  # 2-3 stops above: red (230, 30, 30)
        np.testing.assert_allclose(np.median(sf[band2][:, 200:280], axis=(0, 1)), [230, 30, 30], atol=3)
        band0 = (v > 1.1) & (v < 1.9)  # 0-1 stop above: yellow (255, 230, 0)
        np.testing.assert_allclose(np.median(sf[band0][:, 200:280], axis=(0, 1)), [255, 230, 0], atol=3)
        grey = sf[v < 0.95][:, 200:280]
        assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 2 and grey.max() > 100
        np.testing.assert_allclose(np.median(sf[hi][:, 10:70], axis=(0, 1)), [0, 200, 255], atol=3)  # clipped photo
