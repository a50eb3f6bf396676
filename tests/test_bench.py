"""``hdrlift bench`` helpers: size parsing, MAC counting, one tiny case in a subprocess."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hdrlift.errors import ConfigError
from hdrlift.tools.bench import bench_image, compare_strategies, count_macs, mac_model, parse_sizes, run_bench


def test_parse_sizes() -> None:
    assert parse_sizes("512,1080p,4k,6000x4000") == [
        ("512", 512, 512), ("1080p", 1080, 1920), ("4k", 2160, 3840), ("6000x4000", 6000, 4000)]
    assert parse_sizes(" 64 ,32x48") == [("64", 64, 64), ("32x48", 32, 48)]
    for bad in ("", "abc", "12x", "0"):
        with pytest.raises(ConfigError):
            parse_sizes(bad)


def test_count_macs_conv_and_linear() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=4),
                        nn.Conv2d(8, 4, 1, stride=2))
    macs = count_macs(net, torch.rand(1, 3, 10, 12))
    assert macs == 8 * 120 * 3 * 9 + 8 * 120 * 2 * 9 + 4 * 30 * 8
    assert count_macs(nn.Linear(5, 7), torch.rand(2, 5)) == 2 * 7 * 5
    fixed, per_px = mac_model(net)
    assert fixed == pytest.approx(0.0, abs=1.0) and per_px == pytest.approx(8 * 27 + 8 * 18 + 4 * 8 / 4)


def test_bench_image() -> None:
    img = bench_image(40, 50)
    assert img.shape == (40, 50, 3) and img.dtype == np.uint8 and (img == 255).any()


def test_run_bench_tiny_subprocess() -> None:
    rows = run_bench(["twostage_tiny", "no_such_model"], [("48x64", 48, 64)], runs=1, threads=1, timeout=300,
                     progress=False)
    assert len(rows) == 2 and "error" in rows[1]
    r = rows[0]
    assert "error" not in r, r.get("error")
    for key in ("model", "size", "median_s", "peak_rss_mb", "gmac", "gmac_per_s", "ratio_to_floor", "tile"):
        assert key in r
    assert r["median_s"] > 0 and 10 < r["peak_rss_mb"] < 4000 and r["gmac"] > 0
    assert r["kernel"] == "twostage.eval" and r["kernel_info"]["kind"] == "torch"


def test_bench_cli_bf16_and_budget(capsys) -> None:
    import json

    from hdrlift.cli.main import main

    assert main(["bench", "--models", "hdrunet_tiny", "--sizes", "48x64", "--runs", "1", "--precision", "bf16",
                 "--max-memory", "64MB", "--threads", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and "error" not in rows[0], rows
    assert rows[0]["precision"] == "bf16" and rows[0]["threads"] == 1 and rows[0]["median_s"] > 0


def test_compare_strategies_rows() -> None:
    ldr = bench_image(96, 128)
    rows = compare_strategies("twostage_tiny", ldr, tile=32, threads=1)
    by = {r["strategy"]: r for r in rows}
    assert set(by) == {"untiled", "tile", "deu", "ses"}
    assert by["tile"]["psnr_mu"] > 60.0  # exact up to float rounding
    assert by["deu"]["psnr_mu"] < by["tile"]["psnr_mu"]
