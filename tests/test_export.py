"""ONNX export of the tiny variants of all four architectures; onnxruntime output == PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hdrlift.models import create_model

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from hdrlift.nn.tucker import jacobi_projector  # noqa: E402
from hdrlift.tools.export import export_onnx  # noqa: E402

# (name, max abs diff allowed per unit of the output's maximum)
CASES = [("hdrunet_tiny", 1e-3), ("twostage_tiny", 1e-4), ("duhdr_tiny", 2e-3), ("uhd_bilateral_tiny", 2e-3)]


@pytest.mark.parametrize("name,tol", CASES)
def test_export_matches_pytorch(name: str, tol: float, tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    out = tmp_path / f"{name}.onnx"
    info = export_onnx(model, out, size=(64, 96))
    assert out.is_file() and info["path"] == str(out)
    assert {"height", "width"} <= set(info["dynamic_axes"])
    assert info["verified_sizes"] == ["64x96", "71x101"]
    assert not model.training  # the exporter must not leave BatchNorm in training mode
    # a third size, not seen at export
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 45, 130, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ref = model(x).numpy()
    got = sess.run(["hdr"], {"ldr": x.numpy()})[0]
    assert got.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))  # float32 rounding grows with the output range
    assert info["max_abs_diff"] < tol * scale
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=tol * scale)


def test_export_by_name(tmp_path) -> None:
    info = export_onnx("twostage_tiny", tmp_path / "t.onnx", size=(32, 40), opset=17)
    assert info["arch"] == "twostage" and info["opset"] == 17 and "batch" in info["dynamic_axes"]
    assert info["params"] == create_model("twostage_tiny").num_parameters()


def test_jacobi_projector_matches_eigh() -> None:
    from hdrlift.nn.tucker import subspace_projector

    g = torch.Generator().manual_seed(0)
    for n, r in ((16, 8), (8, 4), (7, 3)):
        x = torch.randn(2, 5, n, 3 * n, generator=g, dtype=torch.float64)
        x = x * torch.logspace(0, -2, n, dtype=torch.float64)[:, None]
        gram = x @ x.transpose(-1, -2)
        torch.testing.assert_close(jacobi_projector(gram, r), subspace_projector(gram, r), rtol=0, atol=1e-9)


def test_declared_symbolics_are_registered_for_one_export_only() -> None:
    import io
    import warnings

    from hdrlift.nn.export import EXPM1, registered_symbolics

    class Expm1(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.expm1(x)

    def export() -> bytes:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Expm1(), (torch.rand(1, 3),), buf, dynamo=False, opset_version=17)
        return buf.getvalue()

    with registered_symbolics([EXPM1]):
        assert export()
    with pytest.raises(Exception):  # noqa: B017 - no ONNX Expm1: the exporter refuses (its error type varies)
        export()
