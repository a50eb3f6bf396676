"""Tiled inference: exactness for local models, global-context adapters, memory-budget tile size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hdrlift.errors import HdrliftError
from hdrlift.inference.memory import (
    LiveBytes,
    MemoryModel,
    model_memory,
    parse_memory,
    peak_bytes,
    tile_for_budget,
)
from hdrlift.inference.methods import Method
from hdrlift.inference.predictor import Predictor
from hdrlift.inference.strategies import context_fns, run_large, run_tiled, size_requirements
from hdrlift.inference.tiling import tile_count, tiled_apply
from hdrlift.models import create_model


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(1, 3, 2 * h, 2 * w, generator=g), 2)


def _convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 5, padding=2), nn.ReLU(),
                         nn.Conv2d(8, 3, 3, padding=1)).eval()


@pytest.mark.parametrize("multiple", [1, 4])
def test_plain_convnet_tiled_equals_untiled(multiple: int) -> None:
    net = _convnet()  # receptive field 1 + 2 + 1 = 4
    x = _image(70, 90)
    assert tile_count(70, 90, 16, 4, multiple=multiple) > 4
    with torch.no_grad():
        ref = net(x)
        out = tiled_apply(lambda t, off: net(t), x, tile=16, context=4, multiple=multiple)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_too_small_context_is_detected() -> None:
    net = _convnet()
    x = _image(70, 90)
    with torch.no_grad():
        ref = net(x)
        out = tiled_apply(lambda t, off: net(t), x, tile=16, context=0, blend=0)
    assert (out - ref).abs().max() > 1e-3  # the test above can fail


def test_output_buffer_channels_last_view() -> None:
    net = _convnet()
    x = _image(50, 61)
    res = np.full((50, 61, 3), np.nan, np.float32)
    buf = torch.from_numpy(res).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref = net(x)
        out = tiled_apply(lambda t, off: net(t), x, tile=16, context=4, out=buf)
    assert out.data_ptr() == buf.data_ptr() and not np.isnan(res).any()
    torch.testing.assert_close(torch.from_numpy(res).permute(2, 0, 1)[None], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["hdrunet_tiny", "twostage_tiny"])
def test_local_models_tiled_equals_untiled(name: str) -> None:
    model = create_model(name).eval()
    size = size_requirements(model)
    x = _image(100, 140)
    assert tile_count(100, 140, 32, size.receptive_field, multiple=size.multiple) > 1
    with torch.inference_mode():
        ref = model(x)
        out = run_tiled(model, x, 32)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_receptive_field_follows_instance_hparams() -> None:
    small = create_model("hdrunet", nf=8, blocks=[1, 1, 1])
    big = create_model("hdrunet", nf=8, blocks=[2, 4, 2])
    assert size_requirements(big).receptive_field > size_requirements(small).receptive_field
    assert size_requirements(small).multiple == 4


def test_uhd_bilateral_tiles_use_global_grids() -> None:
    model = create_model("uhd_bilateral_tiny").eval()
    assert context_fns(model) is not None
    x = _image(100, 140)
    with torch.inference_mode():
        ref = model(x)
        out = run_tiled(model, x, 32)
        ses = run_large(model, x, 32, strategy="ses")  # grids per tile: differs
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert (ses - ref).abs().max() > 1e-3


def test_duhdr_tiles_share_one_crf() -> None:
    model = create_model("duhdr_tiny").eval()
    x = _image(128, 192)
    calls = []
    orig = model.estimate_crf
    model.estimate_crf = lambda t: calls.append(t.shape) or orig(t)  # type: ignore[method-assign]
    with torch.inference_mode():
        crf = orig(x)
        ref = model(x, crf=crf)
        out = run_tiled(model, x, 48)
    assert len(calls) == 1 and tuple(calls[0][-2:]) == (128, 192)
    # per-tile squeeze-excitation and the U-Nets' large receptive fields make duhdr approximate
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-3)


def test_parse_memory() -> None:
    assert parse_memory("2GB") == 2 * 10**9
    assert parse_memory("1.5 GiB") == int(1.5 * 2**30)
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory("800m") == 800 * 10**6
    assert parse_memory(1000) == 1000
    from hdrlift.errors import ConfigError

    for bad in ("", "2XB", "-1GB", "0"):
        with pytest.raises(ConfigError):
            parse_memory(bad)


def test_live_bytes_tracks_peak_and_frees() -> None:
    def work() -> torch.Tensor:
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 8 MB live
        del a, b
        return torch.zeros(250, 1000)  # 1 MB

    with torch.inference_mode():
        assert peak_bytes(work) == 8_000_000
    mode = LiveBytes()
    with mode:
        t = torch.ones(1000)
        v = t[10:20] * 1
        del t, v
    assert mode.live == 0 and mode.peak == 4000 + 40


def test_model_memory_scales_with_pixels() -> None:
    model = create_model("twostage_tiny").eval()
    mem = model_memory(model)
    assert mem.per_pixel > 0
    x = _image(96, 160)
    with torch.inference_mode():
        measured = peak_bytes(lambda: model(x))
    assert 0.5 * measured < mem.bytes_for(96, 160) < 2.0 * measured


def test_tile_for_budget() -> None:
    mem = MemoryModel(fixed=1e6, per_pixel=1000.0)
    assert tile_for_budget(mem, 100, 100, 10**9, context=8) == 0  # whole image fits
    tiles = [tile_for_budget(mem, 4000, 6000, b, context=8, multiple=4) for b in (10**9, 2 * 10**9, 4 * 10**9)]
    assert tiles[0] < tiles[1] < tiles[2] and all(t % 4 == 0 for t in tiles)
    t = tiles[0]
    side = t + 2 * 16 + 16
    assert 1.25 * (1e6 + 1000.0 * side * side) + 24 * 4000 * 6000 <= 10**9


def test_predictor_max_memory_tiles_and_matches() -> None:
    model = create_model("hdrunet_tiny").eval()
    method = Method(name="hdrunet_tiny", kind="network", fn=model, model=model)
    img = _image(260, 300)[0].permute(1, 2, 0).numpy()
    small = Predictor(method, device="cpu", max_memory="4MB")
    whole = Predictor(method, device="cpu", tile=0)
    assert small.tile_for(260, 300) > 0 and whole.tile_for(260, 300) == 0
    assert Predictor(method, device="cpu").tile_for(260, 300) == 0  # 1 GB default: fits
    a, b = small(img), whole(img)
    assert a.shape == (260, 300, 3) and a.dtype == np.float32 and a.flags.c_contiguous
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["hdrunet_tiny", "twostage_tiny", "uhd_bilateral_tiny", "duhdr_tiny", "ensemble_tiny"])
def test_cpu_bf16_precision_close_to_fp32(name: str) -> None:
    from hdrlift.metrics.ntire import psnr_mu

    torch.manual_seed(0)
    model = create_model(name).eval()
    ref_model = create_model(name).eval()
    ref_model.load_state_dict(model.state_dict())
    img = _image(96, 130)[0].permute(1, 2, 0).numpy()
    ref = Predictor(Method(name=name, kind="network", fn=ref_model, model=ref_model), device="cpu", tile=0)(img)
    method = Method(name=name, kind="network", fn=model, model=model)
    pred = Predictor(method, device="cpu", precision="bf16", tile=0)
    assert pred.net is pred.kernel and pred.kernel.model is model
    if name.startswith("uhd_bilateral"):  # only its VGG trunk: the fused float32 full-res path is faster
        assert next(model.parameters()).dtype == torch.float32 and pred.kernel.dtype == torch.float32
        assert pred.kernel.vgg_dtype == torch.bfloat16
    elif name.startswith("ensemble"):  # each member's kernel casts its own network; the mean stays float32
        assert all(next(m.parameters()).dtype == torch.bfloat16 for m in model.members)
        assert pred.kernel.dtype == torch.float32 and pred.kernel.name == "ensemble.members"
    else:  # the whole network, cast at the kernel's boundary
        assert next(model.parameters()).dtype == torch.bfloat16 and pred.kernel.dtype == torch.bfloat16
    out = pred(img)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert psnr_mu(ref, out) > 35.0, psnr_mu(ref, out)
    tiled = Predictor(method, device="cpu", precision="bf16", tile=48)(img)  # global context + tiles in bf16
    assert psnr_mu(ref, tiled) > 30.0


def test_cpu_bf16_global_part_of_a_large_image() -> None:
    """duhdr's camera-curve estimate down-scales an image larger than CRF_ESTIMATE_SIDE (antialiased, which
    has no bfloat16 kernel): in bf16 it runs, close to float32 (session 17: a 4K photo failed)."""
    from hdrlift.metrics.ntire import psnr_mu
    from hdrlift.models.duhdr import CRF_ESTIMATE_SIDE

    torch.manual_seed(0)
    model, ref_model = create_model("duhdr_tiny").eval(), create_model("duhdr_tiny").eval()
    ref_model.load_state_dict(model.state_dict())
    img = _image(40, CRF_ESTIMATE_SIDE + 88)[0].permute(1, 2, 0).numpy()
    ref = Predictor(Method(name="d", kind="network", fn=ref_model, model=ref_model), device="cpu", tile=48)(img)
    out = Predictor(Method(name="d", kind="network", fn=model, model=model), device="cpu", precision="bf16",
                    tile=48)(img)
    assert psnr_mu(ref, out) > 30.0


def test_cpu_fp16_is_refused() -> None:
    model = create_model("hdrunet_tiny").eval()
    with pytest.raises(HdrliftError, match="fp16"):
        Predictor(Method(name="t", kind="network", fn=model, model=model), device="cpu", precision="fp16")


def test_region_mode_tiles_equal_untiled() -> None:
    net = _convnet()
    x = _image(70, 90)
    boxes = []

    def fn(t: torch.Tensor, off: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
        boxes.append(box)
        return net(t)[..., box[0] : box[1], box[2] : box[3]]

    with torch.no_grad():
        ref = net(x)
        out = tiled_apply(fn, x, tile=16, context=4, multiple=4, region=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert len(boxes) > 4 and all(b[1] - b[0] < 70 and b[3] - b[2] < 90 for b in boxes)


