"""A fifth architecture needs one module and a registry entry, no change to ``hdrlift.inference``.

The toy (``tests/toy_model.py``, written like a module of ``hdrlift/models/``) is registered through the
public registry API and run through the public prediction API (from a checkpoint directory), tiled
prediction, ONNX export and the bench's case runner and arithmetic model. The generic contract checks
run on it as well (tests/test_model_contract.py).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import toy_model

import hdrlift
from hdrlift.checkpoint import save_model
from hdrlift.errors import ModelError
from hdrlift.models import (
    ModelSpec,
    SizeRequirements,
    create_model,
    get_spec,
    list_models,
    register,
    temporary_registration,
    unregister,
)

INFERENCE = Path(hdrlift.__file__).parent / "inference"


@pytest.fixture
def toy() -> Iterator[None]:
    with temporary_registration(*toy_model.SPECS):
        yield


@pytest.fixture
def toy_ckpt(toy: None, tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(create_model("toy_tiny"), tmp_path / "toy_ckpt")


def _image(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def test_registration_is_public_and_temporary() -> None:
    before = [s.name for s in list_models()]
    with temporary_registration(*toy_model.SPECS):
        assert {"toy", "toy_tiny"} <= {s.name for s in list_models()}
        assert get_spec("toy_tiny").cls is toy_model.ToyHDR
        with pytest.raises(ModelError, match="already registered"):
            register(toy_model.SPECS[0])
    assert [s.name for s in list_models()] == before
    with pytest.raises(ModelError, match="unknown model"):
        unregister("toy")
    bad = ModelSpec(name="other", cls=toy_model.ToyHDR, paper="", description="", domain="",
                    size=SizeRequirements())
    with pytest.raises(ModelError, match="arch"):  # the runtime finds a model's spec by its arch
        register(bad)
    with pytest.raises(ModelError, match="HDRModel"):
        register(ModelSpec(name="x", cls=torch.nn.Conv2d, paper="", description="", domain="",  # type: ignore[arg-type]
                           size=SizeRequirements()))
    register(toy_model.SPECS[0])
    try:
        assert create_model("toy", width=2).hparams == {"width": 2, "gain": 2.0}
    finally:
        assert unregister("toy") is toy_model.SPECS[0]


def test_predict_through_the_public_api(toy_ckpt: Path) -> None:
    img = _image(45, 61)
    hdr = hdrlift.reconstruct(img, method=str(toy_ckpt), device="cpu", tile=0, precision="fp32")
    model = hdrlift.create_model(str(toy_ckpt))
    with torch.no_grad():
        ref = model(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert hdr.shape == img.shape and hdr.dtype == np.float32
    np.testing.assert_allclose(hdr, ref, rtol=1e-6, atol=1e-6)
    assert float(hdr.max()) > 1.0  # the toy expands: 1 + gain * softplus(...) > 1


def test_tiled_prediction_uses_the_declared_context(toy_ckpt: Path) -> None:
    from hdrlift.inference.predictor import Predictor
    from hdrlift.inference.strategies import context_fns, tile_context

    img = _image(70, 90)
    full = Predictor(str(toy_ckpt), device="cpu", tile=0, precision="fp32")(img)
    pred = Predictor(str(toy_ckpt), device="cpu", tile=16, precision="fp32")
    assert tile_context(pred.method.model) == 2 and context_fns(pred.method.model) is not None
    tiled = pred(img)
    assert pred.last_tile == 16
    np.testing.assert_allclose(tiled, full, rtol=1e-5, atol=1e-6)
    # a tile alone (its own mean colour) differs: the global part really is the whole image's
    alone = Predictor(str(toy_ckpt), device="cpu", tile=0, precision="fp32")(img[:16, :16])
    assert float(np.abs(alone - full[:16, :16]).max()) > 1e-4


def test_onnx_export_reads_the_declared_requirements(toy_ckpt: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from hdrlift.tools.export import export_onnx

    info = export_onnx(str(toy_ckpt), tmp_path / "toy.onnx", size=(24, 40), opset=17)
    assert info["arch"] == "toy" and info["opset"] == 18  # raised to ToyHDR.export_requirements.min_opset
    assert info["dynamic_axes"] == ["batch", "height", "width"]
    assert info["verified_sizes"] == ["24x40", "31x45"] and info["max_abs_diff"] < 1e-4


def test_bench_case_and_arithmetic(toy: None) -> None:
    from hdrlift.tools.bench import mac_model, run_case

    model = create_model("toy_tiny")
    fixed, per_px = mac_model(model)
    assert fixed == pytest.approx(0.0, abs=1e-6)
    assert per_px == pytest.approx(3 * 9 * 4 + 4 * 9 * 3)  # conv 3->4 and 4->3, 3x3: MACs per pixel
    row = run_case("toy_tiny", 64, 96, runs=1, tile=32, precision="fp32")
    assert row["tile"] == 32 and row["tiles"] > 1 and row["tile_overhead"] > 1.0
    assert row["median_s"] > 0 and row["precision"] == "fp32"
    assert row["blend"] == "none"  # a fresh model declares no blend
    blended = run_case("toy_tiny", 64, 96, runs=1, tile=32, precision="fp32", blend="0.9,0,1,0.5,0.3")
    assert blended["blend"] == "0.9,0,1,0.5,0.3"


def test_the_contract_defaults_apply_to_what_the_toy_does_not_declare(toy: None) -> None:
    from hdrlift.inference.methods import Method
    from hdrlift.inference.predictor import Predictor

    model = create_model("toy_tiny").eval()
    assert model.export_module() is model
    assert model.cpu_bf16 == "network" and not model.cpu_channels_last and not model.accepts_out
    img = _image(20, 24)
    ref = Predictor(Method(name="toy", kind="network", fn=model, model=model), device="cpu", tile=0,
                    precision="fp32")(img)
    low = copy.deepcopy(model)  # the kernel converts the model it is given
    pred = Predictor(Method(name="toy", kind="network", fn=low, model=low), device="cpu", tile=0, precision="bf16")
    assert pred.kernel is not None and pred.kernel.bf16 == "whole" and pred.kernel.dtype == torch.bfloat16
    assert next(low.parameters()).dtype == torch.bfloat16  # the whole network in bfloat16, float32 at the boundary
    np.testing.assert_allclose(pred(img), ref, rtol=0.05, atol=0.02)


def _code_strings(path: Path) -> Iterator[tuple[int, str]]:
    """String literals of a module that are not docstrings (docs may name models; code may not)."""
    tree = ast.parse(path.read_text())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_inference_code_names_no_architecture() -> None:
    archs = {s.cls.arch for s in list_models()}
    word = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, sorted(archs))) + r")(?![A-Za-z0-9])")
    found = [f"{p.name}:{line}: {text[:60]!r}" for p in sorted(INFERENCE.glob("*.py"))
             for line, text in _code_strings(p) if word.search(text)]
    assert len(list(INFERENCE.glob("*.py"))) > 5
    assert not found, found
