"""Every shipped weight loads (safetensors, no pickle) and reproduces its golden output."""

from __future__ import annotations

import json

import pytest
import torch

from hdrlift.checkpoint import WEIGHTS_DIR, golden_input, load_model, pretrained_names

NAMES = pretrained_names()


def test_weights_dir_is_consistent() -> None:
    dfile = WEIGHTS_DIR / "default.json"
    if dfile.exists():
        assert json.loads(dfile.read_text())["default"] in NAMES
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.rglob("*") if p.is_file())
    assert total < 40e6, f"shipped weights total {total / 1e6:.1f} MB (limit 40 MB)"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_weight_golden(name: str) -> None:
    model = load_model(name)
    gold = json.loads((WEIGHTS_DIR / name / "golden.json").read_text())
    with torch.inference_mode():
        y = model(golden_input())
    assert list(y.shape) == gold["shape"]
    assert torch.isfinite(y).all() and float(y.min()) >= 0
    flat = y.flatten()[:: max(y.numel() // 64, 1)]
    # uhd_bilateral: the AdaIN statistics and the Tucker decomposition amplify the convolution's float
    # rounding (which depends on oneDNN's blocking choice) to ~1e-4 relative in the grids; a clean
    # clone measured up to 8e-4 relative on these samples. Wrong weights differ by orders more.
    rtol, atol = (2e-3, 2e-4) if name.startswith("uhd_bilateral") else (1e-4, 1e-5)
    assert torch.allclose(flat, torch.tensor(gold["samples"]), rtol=rtol, atol=atol)
    cfg = model.checkpoint_config
    # model card data present: the in-training validation, or (an ensemble of shipped weights, not trained
    # itself) the generalisation suite's figures
    assert cfg["meta"].get("val", {}).get("psnr_mu") is not None or cfg["meta"].get("suite")
