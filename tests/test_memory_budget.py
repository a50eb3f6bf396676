"""Process-level memory budget (``--max-memory``), heap release between tiles, ``auto`` precision."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from hdrlift.inference import precision as prec
from hdrlift.inference.memory import MIN_TILE, current_rss, release_memory, tensor_budget
from hdrlift.inference.methods import Method
from hdrlift.inference.predictor import Predictor
from hdrlift.models import create_model


def _method(name: str) -> Method:
    model = create_model(name).eval()
    return Method(name=name, kind="network", fn=model, model=model)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_current_rss_tracks_allocations() -> None:
    # in a fresh process: in this one, memory that earlier tests freed may still be resident and be reused
    code = (
        "import torch\n"
        "from hdrlift.inference.memory import current_rss\n"
        "before = current_rss()\n"
        "big = torch.ones(64 * 2**20 // 4)\n"  # 64 MiB, touched
        "print(before, current_rss())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    before, grown = (int(v) for v in out.stdout.split())
    assert before > 20e6  # interpreter + torch
    assert grown - before > 48 * 2**20
    assert current_rss() is not None
    release_memory()


def test_tensor_budget_subtracts_the_process() -> None:
    rss = current_rss()
    b = tensor_budget(3 * 10**9, "cpu")
    if rss is not None:
        assert abs((3 * 10**9 - b) - rss) < 200e6
    assert tensor_budget(10**9, "cuda") == 10**9  # GPU memory: the whole budget is for tensors


def test_budget_below_footprint_uses_smallest_tile(caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hdrlift.inference import memory

    monkeypatch.setattr(memory, "_PROCESS_SCOPE", True)  # the command line's scope: the whole process
    pred = Predictor(_method("hdrunet_tiny"), device="cpu", max_memory="10MB", precision="fp32")
    with caplog.at_level(logging.WARNING):
        assert pred.tile_for(400, 500) == MIN_TILE
    assert "below what the process already holds" in caplog.text
    roomy = Predictor(_method("hdrunet_tiny"), device="cpu", max_memory="8GB", precision="fp32")
    assert roomy.tile_for(400, 500) == 0


def test_auto_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    model = create_model("hdrunet_tiny").eval()
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert prec.resolve_precision("auto", "cpu", model) == "bf16"
    assert prec.resolve_precision("auto", "cuda", model) == "fp32"
    assert prec.resolve_precision("fp32", "cpu", model) == "fp32"
    uhd = create_model("uhd_bilateral_tiny").eval()
    assert prec.resolve_precision("auto", "cpu", uhd) == "bf16"  # its VGG trunk only (the kernel's "lowres")
    pred = Predictor(Method(name="u", kind="network", fn=uhd, model=uhd), device="cpu", precision="auto")
    assert pred.kernel.model is uhd and pred.kernel.vgg_dtype == torch.bfloat16
    assert next(uhd.parameters()).dtype == torch.float32  # the shared model itself is not changed
    other = Predictor(Method(name="u", kind="network", fn=uhd, model=uhd), device="cpu", precision="fp32")
    assert other.kernel.vgg_dtype == torch.float32 and pred.kernel.vgg_dtype == torch.bfloat16
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)
    assert prec.resolve_precision("auto", "cpu", model) == "fp32"
    assert Predictor(Method(name="m", kind="network", fn=model, model=model), device="cpu",
                     precision="auto").precision == "fp32"


def test_auto_precision_predictor_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    pred = Predictor(_method("hdrunet_tiny"), device="cpu", precision="auto")
    assert pred.precision == "bf16"
    img = np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)
    out = pred(img)
    assert out.shape == (40, 56, 3) and out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("name", ["hdrunet_tiny", "twostage_tiny"])
def test_user_cpu_autocast_falls_back_to_the_module_graph(name: str) -> None:
    """Under a caller's ``torch.autocast("cpu")`` the eval kernels (direct GEMMs that autocast does not
    cast) step aside; the module graph runs in bfloat16 and stays close to float32."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x).float()
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= 0.05 * ref.abs().max()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_release_if_above() -> None:
    from hdrlift.inference.memory import release_if_above

    assert release_if_above(float("inf")) is False
    assert release_if_above(0.0) is True


def test_run_large_reports_every_tile() -> None:
    from hdrlift.inference.strategies import run_large, size_requirements, tile_context
    from hdrlift.inference.tiling import tile_count

    model = create_model("hdrunet_tiny").eval()
    x = torch.rand(1, 3, 300, 340)
    calls: list[tuple[int, int]] = []
    size = size_requirements(model)
    with torch.inference_mode():
        run_large(model, x, 128, size, progress=lambda d, t: calls.append((d, t)))
    n = tile_count(300, 340, 128, tile_context(model), multiple=size.multiple)
    assert n > 1 and calls == [(i + 1, n) for i in range(n)]


@pytest.mark.parametrize("kind", ["u8", "u16", "f32", "gray", "rgba"])
def test_device_input_conversion_matches_the_host_one(kind: str) -> None:
    """The GPU path converts 8-bit input on the device; the result equals :func:`to_float01`'s
    (checked here with the CPU as the device)."""
    from hdrlift.inference.predictor import _float01_on, to_float01

    rng = np.random.default_rng(3)
    img = {"u8": rng.integers(0, 256, (9, 11, 3), dtype=np.uint8),
           "u16": rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16),
           "f32": rng.normal(0.5, 0.5, (9, 11, 3)).astype(np.float32),
           "gray": rng.integers(0, 256, (9, 11), dtype=np.uint8),
           "rgba": rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)}[kind]
    t = _float01_on(img, torch.device("cpu"))
    assert t.shape == (1, 3, 9, 11) and t.dtype == torch.float32
    ref = to_float01(img)[..., :3]
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), ref, rtol=1e-6, atol=1e-7)


def test_default_max_memory_on_the_cpu_is_the_process_budget() -> None:
    from hdrlift.inference.memory import DEFAULT_MAX_MEMORY, default_max_memory

    assert default_max_memory("cpu") == DEFAULT_MAX_MEMORY
    assert Predictor(_method("hdrunet_tiny"), device="cpu").max_memory == DEFAULT_MAX_MEMORY


def test_resident_input_is_not_counted_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decoded float input is already in the RSS when a run picks its tile: counting it again as a
    full-resolution buffer shrank 24-megapixel tiles to the minimum (1504 tiles, 4x slower)."""
    import hdrlift.inference.memory as mem

    pred = Predictor(_method("hdrunet_tiny"), device="cpu", precision="fp32")
    h, w = 1200, 1800
    need = mem.full_res_bytes(h, w)
    monkeypatch.setattr(mem, "tensor_budget", lambda *a, **k: need - 1)  # RSS already holds the input
    assert pred.tile_for(h, w) == mem.MIN_TILE
    resident = 3 * 4 * h * w
    assert pred.tile_for(h, w, resident=resident) > mem.MIN_TILE
    pred(np.zeros((64, 80, 3), np.uint8))
    assert pred.last_tile == 0  # what the run used
