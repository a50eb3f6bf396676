"""The model contract, checked for every registered architecture (its ``*_tiny`` variant) and the toy.

Parametrised over the registry: a new architecture is covered as soon as it is registered. The toy
(``tests/toy_model.py``, registered for the test only) runs the same checks, which shows that a model
defined outside ``hdrlift/models`` and unknown to ``hdrlift.inference`` meets them.

Checks: shape, finiteness and sign of the output at odd sizes, batch independence; backward reaches
every trainable parameter the forward uses; hyper-parameters survive JSON and rebuild an equal model;
safetensors round trip gives identical outputs; tiled inference (Predictor, tile smaller than the
image) equals untiled; ONNX export verified against PyTorch.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Iterator

import pytest
import torch
import toy_model

from hdrlift.checkpoint import load_model, save_model
from hdrlift.inference.methods import Method
from hdrlift.inference.predictor import Predictor
from hdrlift.inference.strategies import context_fns, size_requirements, tile_context
from hdrlift.models import HDRModel, create_model, get_spec, list_models, temporary_registration

TINY = sorted(s.name for s in list_models() if s.name.endswith("_tiny"))
NAMES = [*TINY, "toy_tiny"]

#: parameter-name prefixes a model's ``forward`` does not use by design (they are trained through another
#: path): DuHDR's Nnet belongs to the secondary (training-only) path (models/duhdr.py docstring); CurveNet's
#: degradation branch is read by the blend (CurveNet.detail_weight), not by its forward
NOT_IN_FORWARD = {"duhdr": ("nnet.",), "curvenet": ("detail_",)}
#: tiled vs untiled, max abs difference per unit of the output's maximum. Models with a finite receptive
#: field (``SizeRequirements.receptive_field > 0``: tiles overlap by at least it, a global part is computed
#: once) are exact up to float rounding; a model without one (0: unknown/global, e.g. DuHDR whose OOnet
#: squeeze-excitation averages over each tile, docs/inference.md) is approximate by design
TILE_TOL_EXACT = 1e-5
TILE_TOL_APPROX = 2e-2
#: ONNX vs PyTorch, max abs difference per unit of the output's maximum (float32 rounding; Jacobi sweeps)
ONNX_TOL = 2e-3


def test_every_architecture_has_a_tiny_variant() -> None:
    archs = {s.cls.arch for s in list_models()}
    assert len(archs) >= 4
    assert archs == {get_spec(n).cls.arch for n in TINY}


@contextlib.contextmanager
def _registered(name: str) -> Iterator[None]:
    if name.startswith("toy"):
        with temporary_registration(*toy_model.SPECS):
            yield
    else:
        yield


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> Iterator[str]:
    with _registered(request.param):
        yield request.param


@functools.cache
def _built(name: str) -> HDRModel:
    torch.manual_seed(0)
    return create_model(name).eval()


def _model(name: str) -> HDRModel:
    """A fresh copy of the seeded random-init model (construction of duhdr_tiny takes ~1.5 s)."""
    return copy.deepcopy(_built(name))


def _ldr(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _method(model: HDRModel) -> Method:
    return Method(name="contract", kind="network", fn=model, model=model)


@pytest.mark.parametrize("size", [(37, 53), (16, 21)])
def test_output_contract_at_odd_sizes(name: str, size: tuple[int, int]) -> None:
    model = _model(name)
    x = _ldr(2, *size)
    with torch.no_grad():
        y = model(x)
        single = model(x[1:])
    assert y.shape == x.shape and y.dtype == torch.float32
    assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0.0
    scale = max(1.0, float(y.abs().max()))
    torch.testing.assert_close(single, y[1:], rtol=1e-4, atol=1e-5 * scale)  # samples are independent


def test_backward_reaches_every_trainable_parameter(name: str) -> None:
    model = _model(name).train()
    x = _ldr(2, 37, 53, seed=1)
    y = model(x)
    (y * torch.rand(y.shape, generator=torch.Generator().manual_seed(2))).mean().backward()
    skip = NOT_IN_FORWARD.get(model.arch, ())
    missing, frozen_with_grad = [], []
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            if p.grad is not None:
                frozen_with_grad.append(pname)
        elif not pname.startswith(skip):
            if p.grad is None:
                missing.append(pname)
            else:
                assert bool(torch.isfinite(p.grad).all()), pname
    assert not missing, f"no gradient reaches {missing[:5]}"
    assert not frozen_with_grad
    assert model.num_parameters(trainable_only=True) > 0


def test_hparams_json_round_trip_rebuilds_an_equal_model(name: str) -> None:
    model = _model(name)
    hparams = json.loads(json.dumps(model.hparams))
    assert hparams == model.hparams
    for rebuild_as in (name, model.arch):  # the variant, and the architecture as a checkpoint names it
        rebuilt = create_model(rebuild_as, **hparams).eval()
        assert type(rebuilt) is type(model) and rebuilt.hparams == model.hparams
        own, other = model.state_dict(), rebuilt.state_dict()
        assert list(own) == list(other)
        assert all(own[k].shape == other[k].shape and own[k].dtype == other[k].dtype for k in own)
    rebuilt.load_state_dict(model.state_dict())
    x = _ldr(1, 24, 40, seed=3)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_safetensors_round_trip_gives_identical_outputs(name: str, tmp_path) -> None:
    model = _model(name)
    loaded = load_model(save_model(model, tmp_path / "ckpt"))
    assert type(loaded) is type(model) and loaded.hparams == model.hparams and not loaded.training
    assert loaded.checkpoint_config is not None and loaded.checkpoint_config["arch"] == model.arch
    x = _ldr(1, 29, 35, seed=4)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_tiled_inference_equals_untiled(name: str) -> None:
    model = _model(name)
    context, tile = tile_context(model), 32
    x = _ldr(1, 2 * tile + 2 * context + 5, 2 * tile + 2 * context + 11, seed=5)  # >= 3 tiles per side
    full = Predictor(_method(model), device="cpu", tile=0, precision="fp32").predict_tensor(x)
    pred = Predictor(_method(model), device="cpu", tile=tile, precision="fp32")
    tiled = pred.predict_tensor(x)
    assert pred.last_tile == tile
    exact = size_requirements(model).receptive_field > 0 or size_requirements(model).pointwise
    tol = TILE_TOL_EXACT if exact else TILE_TOL_APPROX
    scale = max(1.0, float(full.abs().max()))
    assert float((tiled - full).abs().max()) <= tol * scale


POINTWISE = [n for n in TINY if get_spec(n).size.pointwise]


def test_some_registered_model_is_pointwise() -> None:
    assert POINTWISE, "no registered model declares SizeRequirements.pointwise: the claim below is untested"


@pytest.mark.parametrize("pw_name", POINTWISE)
def test_pointwise_claim_holds(pw_name: str) -> None:
    """``SizeRequirements.pointwise``: given the whole image's context, any row strip (and a lone pixel)
    decodes to exactly its part of the whole result; a changed pixel changes no other pixel."""
    model = _model(pw_name)
    assert size_requirements(model).pointwise
    fns = context_fns(model)
    assert fns is not None, "pointwise is declared given a global context: global_context/forward_with_context"
    x = _ldr(1, 23, 31, seed=6)
    with torch.no_grad():
        ctx = fns[0](x)
        full = fns[1](x, ctx, (0, 0), (23, 31))
        for top, n in ((0, 5), (5, 1), (6, 17)):
            part = fns[1](x[..., top : top + n, :], ctx, (top, 0), (23, 31))
            torch.testing.assert_close(part, full[..., top : top + n, :], rtol=1e-6, atol=1e-7)
        y = x.clone()
        y[..., 11, 13] = 1.0 - y[..., 11, 13]
        changed = (fns[1](y, ctx, (0, 0), (23, 31)) != full).any(dim=1)[0]
        assert changed.nonzero().tolist() in ([[11, 13]], [])


@pytest.mark.slow
def test_onnx_export_matches_pytorch(name: str, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from hdrlift.tools.export import export_onnx

    model = _model(name)
    req = model.export_requirements
    info = export_onnx(model, tmp_path / "m.onnx", size=(32, 40), opset=17)
    assert info["opset"] == max(17, req.min_opset)
    assert ("batch" in info["dynamic_axes"]) != req.static_batch
    assert info["verified_sizes"] == ["32x40", "39x45"]
    with torch.no_grad():
        scale = max(1.0, float(model(_ldr(1, 39, 45)).abs().max()))
    assert info["max_abs_diff"] < ONNX_TOL * scale
