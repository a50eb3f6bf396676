"""Inference kernels (hdrlift.kernels): each equals the model's own forward (the reference) within the
tolerances the fast paths were held to; selection, gating, the Predictor / CLI / bench ``kernels`` option,
and the one warning of a failed native build."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hdrlift.errors import KernelError
from hdrlift.inference.methods import Method
from hdrlift.inference.predictor import Predictor
from hdrlift.kernels import CHOICES, Kernel, for_model, registered
from hdrlift.kernels.hdrunet import HDRUNetEval
from hdrlift.kernels.twostage import TwoStageEval
from hdrlift.kernels.uhd_bilateral import UHDFolded, UHDNative, UHDTiles, fused_params
from hdrlift.models import create_model
from hdrlift.models.hdrunet import HDRUNet
from hdrlift.models.twostage import TwoStageHDR
from hdrlift.nn import native


def _ldr(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _perturbed(model: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """Non-trivial weights (SFT maps, trunk residuals) and, for BatchNorms, random running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model


def _has_native() -> bool:
    return native.build("uhd_fullres").lib is not None


needs_native = pytest.mark.skipif(not _has_native(), reason="no C compiler: the native kernel is unavailable")


# --------------------------------------------------------------------------------------------- selection
def test_choices_are_the_apis_and_the_clis() -> None:
    from hdrlift.cli.main import build_parser
    from hdrlift.inference.api import KERNELS

    assert KERNELS == CHOICES == ("auto", "torch", "native", "plain")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for cmd in ("predict", "bench"):
        opt = next(a for a in sub.choices[cmd]._actions if "--kernels" in a.option_strings)
        assert tuple(opt.choices) == CHOICES and opt.default == "auto"


@pytest.mark.parametrize("name, auto, torch_, native_", [
    ("hdrunet_tiny", "hdrunet.eval", "hdrunet.eval", None),
    ("twostage_tiny", "twostage.eval", "twostage.eval", None),
    ("uhd_bilateral_tiny", "uhd_bilateral.native" if _has_native() else "uhd_bilateral.tiles",
     "uhd_bilateral.tiles", "uhd_bilateral.native" if _has_native() else None),
    ("duhdr_tiny", "plain", "plain", None),
    ("ensemble_tiny", "ensemble.members", "ensemble.members", None),
])
def test_for_model_picks_per_choice(name: str, auto: str, torch_: str, native_: str | None) -> None:
    m = create_model(name).eval()
    assert for_model(m, "cpu", "fp32", "auto").name == auto
    assert for_model(m, "cpu", "fp32", "torch").name == torch_
    plain = for_model(m, "cpu", "fp32", "plain")
    assert type(plain) is Kernel and plain.name == "plain" and plain.kind == "plain"
    if native_ is None:
        with pytest.raises(KernelError, match="native") as exc:
            for_model(m, "cpu", "fp32", "native")
        assert "\n" not in str(exc.value)
    else:
        assert for_model(m, "cpu", "fp32", "native").name == native_
    # a GPU gets no CPU kernel (for_model does not touch the device: no GPU needed here)
    gpu = for_model(m, torch.device("cuda"), "fp16", "auto")
    assert gpu.name == {"uhd": "uhd_bilateral.folded", "ens": "ensemble.members"}.get(name[:3], "plain")
    assert gpu.dtype == torch.float32  # reduced precision on CUDA is the caller's autocast


def test_unknown_choice_and_exact_class_registry() -> None:
    m = create_model("hdrunet_tiny").eval()
    with pytest.raises(KernelError, match="not one of"):
        for_model(m, "cpu", "fp32", "fast")
    with pytest.raises(KernelError, match="not one of"):
        Predictor(Method(name="m", kind="network", fn=m, model=m), device="cpu", kernels="fast")

    class Variant(HDRUNet):  # a subclass may change the network: no kernel of its parent
        pass

    v = Variant(nf=8, blocks=[1, 1, 1]).eval()
    assert registered(v) == [] and for_model(v).name == "plain"
    assert registered(m) == [HDRUNetEval]


# --------------------------------------------------------------------------------------------- hdrunet
@pytest.mark.parametrize(
    "hp", [dict(nf=8, blocks=[1, 1, 1]), dict(nf=8, blocks=[0, 2, 1], act="leakyrelu", condition="gradient"),
           dict(nf=64, blocks=[2, 8, 2])]
)
def test_hdrunet_kernel_equals_forward(hp: dict) -> None:
    torch.manual_seed(0)
    model = _perturbed(HDRUNet(**hp))
    x = _ldr(2, 3, 37, 54, seed=4)
    model.train()
    ref = model.forward_gamma(x)  # the module graph, autograd on
    assert ref.requires_grad
    model.eval()
    k = HDRUNetEval(model)
    with torch.no_grad():
        out = k.forward_gamma(x)
        hdr = k(x)
        ref_hdr = model(x)
    assert not out.requires_grad and out.shape == ref.shape
    scale = ref.abs().max()
    assert (out - ref.detach()).abs().max() <= 1e-5 * scale
    # linear = gamma ** 2.24 multiplies a relative error by 2.24 (and the perturbed wide net reaches 1e21):
    # the float32 rounding the gamma check allows, not a looser kernel
    assert (hdr - ref_hdr).abs().max() <= 2.24 * 1e-5 * ref_hdr.abs().max()


@pytest.mark.parametrize("hp, size, box", [(dict(nf=8, blocks=[1, 1, 1]), (180, 212), (83, 101, 90, 117)),
                                           (dict(nf=64, blocks=[2, 8, 2]), (256, 240), (121, 137, 100, 130))])
def test_hdrunet_region_equals_cropped_forward(hp: dict, size: tuple[int, int], box: tuple) -> None:
    torch.manual_seed(0)
    model = _perturbed(HDRUNet(**hp)).eval()
    x = _ldr(1, 3, *size, seed=5)
    t, b, l, r = box
    k = for_model(model)
    with torch.no_grad():
        full = model(x)
        part = k.forward_region(x, box)
    assert part.shape == (1, 3, b - t, r - l)
    assert (part - full[..., t:b, l:r]).abs().max() <= 1e-5 * full.abs().max()


# --------------------------------------------------------------------------------------------- twostage
@pytest.mark.parametrize("hp", [dict(nf=8, gc=4, n_blocks1=1, n_blocks2=1),
                                dict(nf=8, gc=4, n_blocks1=2, n_blocks2=0, residual="released"),
                                dict(nf=64, gc=32, n_blocks1=2, n_blocks2=1)])
def test_twostage_kernel_equals_forward(hp: dict) -> None:
    torch.manual_seed(0)
    model = TwoStageHDR(**hp)
    x = _ldr(2, 3, 41, 35, seed=1)
    model.train()
    ref = model.forward_gamma(x)
    assert ref.requires_grad
    model.eval()
    k = TwoStageEval(model)
    with torch.no_grad():
        out = k.forward_gamma(x)
        part = k.forward_gamma(x, (11, 30, 5, 33))
        region = k.forward_region(x, (11, 30, 5, 33))
        ref_hdr = model(x)
    assert out.shape == ref.shape and not out.requires_grad
    scale = ref.abs().max()
    assert (out - ref.detach()).abs().max() <= 1e-5 * scale
    assert (part - ref.detach()[..., 11:30, 5:33]).abs().max() <= 1e-5 * scale
    assert (region - ref_hdr[..., 11:30, 5:33]).abs().max() <= 1e-5 * ref_hdr.abs().max()


def test_full_models_region_tiles_equal_untiled() -> None:
    from hdrlift.inference.strategies import context_fns, run_tiled, size_requirements
    from hdrlift.inference.tiling import tile_count

    for name, shape, tile in (("hdrunet", (300, 330), 96), ("twostage", (100, 120), 24)):
        model = create_model(name, nf=16).eval()  # full depth (receptive field), narrow for speed
        k = for_model(model)
        assert callable(getattr(k, "forward_region", None)) and context_fns(k) is None
        assert not hasattr(model, "forward_region")  # region tiles are the kernel's, not the model's
        size = size_requirements(k)
        assert size.receptive_field == model.receptive_field
        x = _ldr(1, 3, *shape, seed=6)
        assert tile_count(*shape, tile, size.receptive_field, multiple=size.multiple) > 1
        with torch.inference_mode():
            ref = model(x)
            out = run_tiled(k, x, tile)
        assert (out - ref).abs().max() <= 1e-5 * ref.abs().max(), name


# --------------------------------------------------------------------------------------------- uhd_bilateral
def _uhd(name: str, seed: int = 11) -> torch.nn.Module:
    torch.manual_seed(seed)
    return _perturbed(create_model(name), seed + 1).eval()


@pytest.mark.parametrize("kind", ["native", "tiles"])
@pytest.mark.parametrize("name,size", [("uhd_bilateral_tiny", (45, 70)), ("uhd_bilateral", (37, 300))])
def test_uhd_fused_kernels_equal_forward(name: str, size: tuple[int, int], kind: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "native" and not _has_native():
        pytest.skip("no C compiler: the native kernel is unavailable (the torch kernels are used)")
    m = _uhd(name)
    # several tiles, uneven last ones, halos inside the image
    k = UHDNative(m, tile=(8, 48)) if kind == "native" else UHDTiles(m, tile=(16, 32))
    calls = {"native": 0, "tile": 0}
    c_kernel, t_kernel = native.uhd_fullres, UHDTiles._tile
    monkeypatch.setattr(native, "uhd_fullres", lambda *a, **kw: calls.__setitem__("native", calls["native"] + 1)
                        or c_kernel(*a, **kw))
    monkeypatch.setattr(UHDTiles, "_tile", lambda *a: calls.__setitem__("tile", calls["tile"] + 1) or t_kernel(*a))
    x = _ldr(2, 3, *size, seed=13)
    with torch.enable_grad():  # the module graph (eval BatchNorm)
        grids_ref = m.predict_grids(x)
        ref = m.apply_grids(x, grids_ref).detach()
        ref_inner = m.apply_grids_inner(x, grids_ref).detach()
        grids_ref = grids_ref.detach()
    with torch.no_grad():
        assert k.blocked(x) is None
        tol = 1e-5 * ref.abs().max().item()
        torch.testing.assert_close(k.forward_with_context(x, grids_ref, (0, 0), size), ref, rtol=1e-5, atol=tol)
        torch.testing.assert_close(k.apply_grids_inner(x, grids_ref), ref_inner, rtol=1e-5, atol=1e-6)
        r0, c0 = 5, 9  # a tile of the image with its offset: tile-exact too
        crop = k.forward_with_context(x[..., r0:, c0:], grids_ref, (r0, c0), size)
        rf = m.receptive_field
        torch.testing.assert_close(crop[..., rf:, rf:], ref[..., r0 + rf:, c0 + rf:], rtol=1e-5, atol=tol)
        # grids: identical (in-place ReLUs only); the channels-last VGG option changes float rounding
        assert torch.equal(k.global_context(x), grids_ref)
        out = k(x)
        res = torch.full((2, size[0], size[1], 3), float("nan"))
        into = k(x, out=res.permute(0, 3, 1, 2))  # an HWC buffer, written in place
        assert into.data_ptr() == res.data_ptr()
        cl = type(k)(m, vgg_channels_last=True)
        torch.testing.assert_close(cl.global_context(x), grids_ref, rtol=0, atol=1e-3 * grids_ref.abs().max().item())
    # every region went through the kernel's own full-resolution code, never the other one's
    assert (calls["native"] > 0, calls["tile"] > 0) == ((True, False) if kind == "native" else (False, True))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    torch.testing.assert_close(res.permute(0, 3, 1, 2), out, rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [1 << 30, 200])
def test_uhd_folded_kernel_equals_forward(chunk: int) -> None:
    """BatchNorms folded, NCHW convs (the GPU's kernel), whole and in row chunks with a halo."""
    import hdrlift.kernels.uhd_bilateral as ku

    m = _uhd("uhd_bilateral_tiny", 51)
    k = UHDFolded(m, "cpu", chunk_pixels=chunk)
    assert k.options() == {"chunk_pixels": chunk} and UHDFolded(m, "cuda").chunk_pixels == UHDFolded.GPU_CHUNK
    x = _ldr(2, 3, 23, 37, seed=53)
    with torch.enable_grad():
        ref = m(x).detach()
        g = m.predict_grids(x).detach()
        crop_ref = m.apply_grids(x[..., 4:, 7:], g, (4, 7), (23, 37)).detach()
    calls = []
    orig = ku.folded_full_res
    ku.folded_full_res = lambda *a: calls.append(1) or orig(*a)
    try:
        with torch.no_grad():
            out = k(x)
            crop = k.forward_with_context(x[..., 4:, 7:], g, (4, 7), (23, 37))
    finally:
        ku.folded_full_res = orig
    assert calls and (len(calls) > 2) == (chunk < 23 * 37)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    torch.testing.assert_close(crop, crop_ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert k.blocked(x) is None  # autocast-safe (torch operators only)


@needs_native
def test_native_kernel_reads_and_writes_strided_hwc_views() -> None:
    """The native kernel takes (3, H, W) views of HWC arrays (the Predictor's input and result) and
    gives the same numbers as on planar tensors."""
    m = _uhd("uhd_bilateral_tiny", 21)
    hwc = _ldr(1, 3, 29, 53, seed=23)[0].permute(1, 2, 0).contiguous()  # (H, W, 3) storage
    x = hwc.permute(2, 0, 1)  # strided view
    assert not x.is_contiguous()
    with torch.no_grad():
        grids = m.predict_grids(x[None])[0]
    args = (grids, fused_params(m), (0, 0), (29, 53))
    planar = torch.empty(3, 29, 53)
    res = torch.full((29, 53, 3), float("nan"))
    scale = math.log1p(m.hdr_mu * m.hdr_max)
    native.uhd_fullres(x.contiguous(), *args, planar, True, scale, m.hdr_mu, (8, 24))
    native.uhd_fullres(x, *args, res.permute(2, 0, 1), True, scale, m.hdr_mu, (8, 24))
    assert torch.equal(res.permute(2, 0, 1), planar) and torch.isfinite(planar).all()
    with pytest.raises(ValueError, match="out must be"):
        native.uhd_fullres(x, *args, torch.empty(3, 29, 52), True, scale, m.hdr_mu)


@needs_native
def test_native_signature_is_declared_and_checked() -> None:
    import ctypes

    lib = native.build("uhd_fullres").lib
    assert lib.uhd_fullres.argtypes == [ctypes.POINTER(native.UhdArgs)] and lib.uhd_fullres.restype is ctypes.c_int
    assert lib.uhd_abi() == native.UHD_ABI and lib.uhd_args_size() == ctypes.sizeof(native.UhdArgs)
    bad = native.UhdArgs(ctypes.sizeof(native.UhdArgs) - 8)  # a struct of another layout is refused, not read
    assert lib.uhd_fullres(ctypes.byref(bad)) == -3
    with pytest.raises(ctypes.ArgumentError):
        lib.uhd_fullres(1, 2, 3)  # positional arguments of the old ABI no longer pass
    rec = native.build("uhd_fullres").record
    assert rec["flags"] == " ".join(native._FLAGS) and rec["compiler"] and "cpu" in rec


def test_native_refuses_models_outside_its_limits() -> None:
    m = create_model("uhd_bilateral_tiny", fusion_expand=1).eval()  # no expand conv: not the native layout
    why = UHDNative.supports(m, torch.device("cpu"), "fp32")
    assert why is not None and "fusion_expand" in why
    assert for_model(m, "cpu", "fp32", "auto").name == "uhd_bilateral.tiles"
    with pytest.raises(KernelError, match="fusion_expand"):
        for_model(m, "cpu", "fp32", "native")
    x = _ldr(1, 3, 20, 30, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(for_model(m)(x), m(x), rtol=1e-5, atol=1e-5)


def test_uhd_bf16_vgg_trunk_close_to_float32_and_follows_weight_updates() -> None:
    """``precision="bf16"`` on the CPU runs a bfloat16 copy of the VGG trunk (the model stays float32 and
    untouched); the copy is rebuilt when the weights change, and grids stay close to float32 ones."""
    m = _uhd("uhd_bilateral_tiny", 41)
    x = _ldr(1, 3, 48, 64, seed=42)
    k32, k16 = UHDTiles(m, "cpu", "fp32"), UHDTiles(m, "cpu", "bf16")
    assert k16.dtype == torch.float32 and k16.vgg_dtype == torch.bfloat16 and k32.vgg_dtype == torch.float32
    with torch.no_grad():
        ref = k32.global_context(x)
        low = k16.global_context(x)
        assert low.dtype == torch.float32 and not torch.equal(low, ref)
        torch.testing.assert_close(low, ref, rtol=0.05, atol=0.05 * ref.abs().max().item())
        first = k16._vgg_layers()
        assert k16._vgg_layers() is first  # cached while the weights do not change
        m.vgg.features[0].weight.mul_(1.5)
        assert k16._vgg_layers() is not first
        changed = k16.global_context(x)
        ref2 = k32.global_context(x)
    torch.testing.assert_close(changed, ref2, rtol=0.05, atol=0.05 * ref2.abs().max().item())
    assert next(m.parameters()).dtype == torch.float32 and "vgg" in k16.options()


# --------------------------------------------------------------------------------------------- gating
@pytest.mark.parametrize("name", ["hdrunet_tiny", "twostage_tiny", "uhd_bilateral_tiny"])
def test_runtime_facts_send_fast_kernels_to_the_forward(name: str) -> None:
    """Training mode, autograd, CPU autocast, forward hooks: a fast kernel runs the model's own forward
    (gradients flow, hooks see every module call); with none of them it runs itself."""
    m = _perturbed(create_model(name))
    k = for_model(m.eval(), "cpu", "fp32", "torch")
    assert k.kind == "torch"
    x = _ldr(1, 3, 24, 28, seed=7)
    with torch.no_grad():
        assert k.blocked(x) is None
        fast = k(x)
        ref = m(x)
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert "autocast" in k.blocked(x)
        assert "float64" in k.blocked(x.double())
    assert "autograd" in k.blocked(x)
    out = k(x)
    assert out.requires_grad  # the module graph ran
    out.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    m.train()
    with torch.no_grad():
        assert "training" in k.blocked(x)
    m.eval()
    seen = []
    handle = m.register_forward_hook(lambda mod, i, o: seen.append(1))
    try:
        with torch.no_grad():
            assert "hooks" in k.blocked(x)
            k(x)
        assert seen  # the hook observed the forward
    finally:
        handle.remove()


def test_ensemble_kernel_runs_each_members_kernel() -> None:
    """ensemble.members: the weighted mean of the members' own kernels (not their plain forwards), whole and
    per region; in bf16 each member's kernel casts its network; autograd or hooks: the ensemble's forward."""
    from hdrlift.kernels.ensemble import EnsembleMembers

    m = _perturbed(create_model("ensemble_tiny", weights=[0.3, 0.7]))
    k = for_model(m.eval(), "cpu", "fp32", "auto")
    assert isinstance(k, EnsembleMembers)
    assert [p.name for _, p in k.parts] == ["twostage.eval", "hdrunet.eval"]
    assert [w for w, _ in k.parts] == pytest.approx([0.3, 0.7])
    assert "twostage.eval float32 + hdrunet.eval float32" in k.describe()
    x = _ldr(1, 3, 52, 60, seed=3)
    box = (9, 33, 14, 47)
    with torch.no_grad():
        ref = m(x)
        torch.testing.assert_close(k(x), ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
        region = k.forward_region(x, box)
        torch.testing.assert_close(region, ref[..., 9:33, 14:47], rtol=1e-5, atol=1e-5 * ref.abs().max().item())
        calls: list[str] = []

        class Counted:  # the members' kernels run (not their models' forwards)
            def __init__(self, kern: Kernel) -> None:
                self.kern = kern

            def __call__(self, t: torch.Tensor) -> torch.Tensor:
                calls.append(self.kern.name)
                return self.kern(t)

        parts = k.parts
        k.parts = [(w, Counted(p)) for w, p in parts]
        k(x)
        assert calls == ["twostage.eval", "hdrunet.eval"]
        k.parts = parts
        seen: list[int] = []
        handle = m.members[1].register_forward_pre_hook(lambda mod, i: seen.append(1))
        assert "hooks" in (k.blocked(x) or "")  # hooks anywhere in the ensemble: its own forward runs
        torch.testing.assert_close(k(x), ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
        assert seen
        handle.remove()
    assert "autograd" in (k.blocked(x) or "")
    # bf16: each member's weights converted by its kernel; the ensemble's boundary float32
    m2 = create_model("ensemble_tiny")
    m2.load_state_dict(m.state_dict())
    with torch.no_grad():
        kb = for_model(m2.eval(), "cpu", "bf16", "auto")
        assert kb.dtype == torch.float32 and all(p.dtype == torch.bfloat16 for _, p in kb.parts)
        y = kb(x)
        assert y.dtype == torch.float32 and y.shape == ref.shape and bool(torch.isfinite(y).all())
        # (how close bf16 comes to float32: tests/test_tiling.py::test_cpu_bf16_precision_close_to_fp32)
    # a member kernel without regions (none on CUDA): no forward_region, the tiler crops
    gpu = for_model(create_model("ensemble_tiny").eval(), torch.device("cuda"), "fp32", "auto")
    assert gpu.name == "ensemble.members" and getattr(gpu, "forward_region", None) is None


def test_running_a_kernel_keeps_the_state_dict() -> None:
    m = _uhd("uhd_bilateral_tiny", 16)
    keys = {key: v.shape for key, v in m.state_dict().items()}
    with torch.no_grad():
        for k in (for_model(m, choice="auto"), UHDTiles(m, "cpu", "bf16"), UHDFolded(m)):
            k(_ldr(1, 3, 9, 11))
    assert {key: v.shape for key, v in m.state_dict().items()} == keys


# --------------------------------------------------------------------------------------------- Predictor
@pytest.mark.parametrize("name", ["hdrunet_tiny", "twostage_tiny", "uhd_bilateral_tiny", "duhdr_tiny", "ensemble_tiny"])
def test_predictor_kernels_agree_with_the_plain_forward(name: str) -> None:
    torch.manual_seed(0)
    m = create_model(name).eval()
    method = Method(name=name, kind="network", fn=m, model=m)
    img = _ldr(1, 3, 70, 90, seed=8)[0].permute(1, 2, 0).contiguous().numpy()
    ref_pred = Predictor(method, device="cpu", tile=0, precision="fp32", kernels="plain")
    assert ref_pred.kernel is not None and ref_pred.kernel.name == "plain"
    ref = ref_pred(img)
    for choice in ("auto", "torch"):
        for tile in (0, 40):  # whole image, and tiles (region tiles / global context through the kernel)
            pred = Predictor(method, device="cpu", tile=tile, precision="fp32", kernels=choice)
            assert pred.net is pred.kernel and pred.kernel.name in pred.describe()
            out = pred(img)
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * float(ref.max()))


def test_predictor_hands_its_result_buffer_to_kernels_that_accept_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU the uhd kernels (``accepts_out``) write the HWC result in place: no planar copy."""
    m = _uhd("uhd_bilateral_tiny", 24)
    img = _ldr(1, 3, 31, 40, seed=25)[0].permute(1, 2, 0).contiguous().numpy()
    with torch.no_grad():
        ref = m(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous())[0].permute(1, 2, 0).numpy()
    for choice in ("torch", "native") if _has_native() else ("torch",):
        pred = Predictor(Method(name="t", kind="network", fn=m, model=m), device="cpu", tile=0, precision="fp32",
                         kernels=choice)
        kernel_cls = type(pred.kernel)
        assert kernel_cls.accepts_out
        seen = []
        full_res = kernel_cls.full_res

        def spy(self, ldr, grids, offset, full_size, hdr, out=None, _orig=full_res, _seen=seen):
            _seen.append(out)
            return _orig(self, ldr, grids, offset, full_size, hdr, out)

        monkeypatch.setattr(kernel_cls, "full_res", spy)
        res = pred(img)
        monkeypatch.setattr(kernel_cls, "full_res", full_res)
        assert len(seen) == 1 and seen[0] is not None and not seen[0].is_contiguous()
        assert np.shares_memory(seen[0].numpy(), res)  # the result array itself, as a (1, 3, H, W) view
        np.testing.assert_allclose(res, np.maximum(ref, 0), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- CLI and bench
@pytest.fixture
def uhd_checkpoint(tmp_path: Path) -> Path:
    from hdrlift.checkpoint import save_model

    torch.manual_seed(0)
    return save_model(create_model("uhd_bilateral_tiny").eval(), tmp_path / "uhd_ck")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    from PIL import Image

    p = tmp_path / "photo.png"
    Image.fromarray((_ldr(1, 3, 40, 56, seed=9)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(p)
    return p


def test_predict_kernels_flag_and_verbose(uhd_checkpoint: Path, photo: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from hdrlift.cli.main import main
    from hdrlift.io import read_image

    outs = {}
    for choice in ("plain", "torch", "auto"):
        o = tmp_path / f"{choice}.exr"
        assert main(["predict", str(photo), "-m", str(uhd_checkpoint), "-o", str(o), "--kernels", choice, "-v",
                     "--no-preview", "--no-half", "--json", "--precision", "fp32"]) == 0  # (auto = bf16 on AMX CPUs)
        cap = capsys.readouterr()
        want = {"plain": "plain", "torch": "uhd_bilateral.tiles",
                "auto": "uhd_bilateral.native" if _has_native() else "uhd_bilateral.tiles"}[choice]
        assert f"kernel {want} (" in cap.err, cap.err
        assert "device cpu" in cap.err and "56x40" in cap.err
        assert json.loads(cap.out)["results"][0]["kernel"] == want
        outs[choice] = read_image(o)
    for choice in ("torch", "auto"):
        np.testing.assert_allclose(outs[choice], outs["plain"], rtol=1e-4, atol=1e-4 * float(outs["plain"].max()))


def test_predict_kernels_native_without_one_is_a_one_line_error(photo: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from hdrlift.checkpoint import save_model
    from hdrlift.cli.main import main

    ck = save_model(create_model("hdrunet_tiny").eval(), tmp_path / "hdrunet_ck")
    assert main(["predict", str(photo), "-m", str(ck), "-o", str(tmp_path / "o.exr"), "--kernels", "native"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hdrlift: error: kernels='native': hdrunet has no native kernel (only uhd_bilateral has one); "
                   "use kernels auto or torch"]


def test_bench_reports_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    from hdrlift.cli.main import main

    assert main(["bench", "--models", "uhd_bilateral_tiny,hdrunet_tiny", "--sizes", "40x56", "--runs", "1",
                 "--threads", "1", "--precision", "fp32", "--kernels", "torch", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r.get("kernel") for r in rows] == ["uhd_bilateral.tiles", "hdrunet.eval"], rows
    assert rows[0]["kernel_info"]["options"]["tile"] == "128x512" and rows[0]["kernels"] == "torch"
    assert main(["bench", "--models", "hdrunet_tiny", "--sizes", "40x56", "--runs", "1", "--threads", "1",
                 "--kernels", "native"]) == 0
    table = capsys.readouterr().out
    assert "error" in table and "hdrunet has no native kernel" in table  # the row's error, in the table


# --------------------------------------------------------------------------------------------- failed native build
@pytest.fixture
def broken_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A compiler that fails and an empty cache; the process-wide build and warning caches reset around it."""
    import hdrlift.kernels.base as kb

    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\necho 'cc: error: this compiler is broken' >&2\nexit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("HDRLIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HDRLIFT_NATIVE", "1")
    monkeypatch.setattr(kb, "_WARNED", set())
    native._load_cached.cache_clear()
    yield cc
    native._load_cached.cache_clear()


@pytest.mark.skipif(not native.enabled() or not Path("/proc/self/fd").exists(), reason="native kernels need Linux")
def test_failed_native_build_warns_once_and_auto_falls_back(broken_compiler: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    m = create_model("uhd_bilateral_tiny").eval()
    x = _ldr(1, 3, 20, 30, seed=3)
    with caplog.at_level(logging.WARNING):
        names = [for_model(m, "cpu", "fp32", "auto").name for _ in range(3)]
        pred = Predictor(Method(name="u", kind="network", fn=m, model=m), device="cpu", precision="fp32")
    assert names == ["uhd_bilateral.tiles"] * 3 and pred.kernel.name == "uhd_bilateral.tiles"
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 1, warns
    assert "uhd_bilateral.native is unavailable" in warns[0] and "this compiler is broken" in warns[0]
    assert "running uhd_bilateral.tiles" in warns[0]
    with pytest.raises(KernelError, match="this compiler is broken") as exc:
        for_model(m, "cpu", "fp32", "native")
    assert "\n" not in str(exc.value)
    with torch.no_grad():
        torch.testing.assert_close(pred.kernel(x), m(x), rtol=1e-5, atol=1e-5)


def test_failed_native_build_on_the_command_line(broken_compiler: Path, uhd_checkpoint: Path, photo: Path,
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``auto``: one WARNING line (shown by the CLI's logging) and the torch kernel; ``native``: one error line."""
    import subprocess
    import sys

    base = [sys.executable, "-m", "hdrlift", "predict", str(photo), "-m", str(uhd_checkpoint), "--no-preview", "-q"]
    r = subprocess.run(base + ["-o", str(tmp_path / "a.exr"), "-v"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warns) == 1 and "this compiler is broken" in warns[0], r.stderr
    assert "kernel uhd_bilateral.tiles" in r.stderr
    r = subprocess.run(base + ["-o", str(tmp_path / "n.exr"), "--kernels", "native"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"hdrlift: error: kernels='native': uhd_bilateral.native: building uhd_fullres with {broken_compiler} failed "
        "(cc: error: this compiler is broken); use kernels auto or torch"], r.stderr
