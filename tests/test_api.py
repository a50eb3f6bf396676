"""The Python API: numpy HWC and torch CHW/BCHW in, the same kind out, batches and lists, identical to
``hdrlift predict``; create_model(name, pretrained=True); errors that name parameters; doctests."""

from __future__ import annotations

import doctest
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

import hdrlift
import hdrlift.inference.api as api
from hdrlift.cli.main import main
from hdrlift.errors import HdrliftError, ImageWriteError, ModelError

NET = "hdrunet"  # a shipped network: the path through tiling/precision that photos take


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from conftest import make_hdr_scene

    hdr = make_hdr_scene(40, 56, seed=3) * 2.0
    x = np.clip(hdr, 0, 1)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255).astype(np.uint8)


def test_numpy_single_and_batch(photo: np.ndarray) -> None:
    one = hdrlift.reconstruct(photo, method=NET)
    assert isinstance(one, np.ndarray) and one.shape == (40, 56, 3) and one.dtype == np.float32
    assert one.min() >= 0 and one.max() > 1.0  # clipped highlights reconstructed above the clipping level
    other = photo[::-1].copy()
    batch = hdrlift.reconstruct(np.stack([photo, other]), method=NET)
    assert batch.shape == (2, 40, 56, 3)
    np.testing.assert_array_equal(batch[0], one)
    np.testing.assert_array_equal(batch[1], hdrlift.reconstruct(other, method=NET))
    f = hdrlift.reconstruct(photo.astype(np.float32) / 255.0, method=NET)
    np.testing.assert_allclose(f, one, rtol=1e-5, atol=1e-6)


def test_torch_chw_and_bchw_give_the_same_numbers(photo: np.ndarray) -> None:
    ref = hdrlift.reconstruct(photo, method=NET)
    chw = torch.from_numpy(photo).permute(2, 0, 1).float() / 255.0
    out = hdrlift.reconstruct(chw, method=NET)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 40, 56) and out.dtype == torch.float32
    assert out.device == chw.device
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), ref, rtol=1e-5, atol=1e-6)
    u8 = hdrlift.reconstruct(torch.from_numpy(photo).permute(2, 0, 1), method=NET)  # uint8 codes
    np.testing.assert_array_equal(u8.permute(1, 2, 0).numpy(), ref)
    bchw = torch.stack([chw, chw.flip(1)])
    b = hdrlift.reconstruct(bchw, method=NET)
    assert b.shape == (2, 3, 40, 56)
    np.testing.assert_allclose(b[0].permute(1, 2, 0).numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b[1], hdrlift.reconstruct(chw.flip(1), method=NET), rtol=1e-5, atol=1e-6)


def test_lists_of_mixed_inputs(photo: np.ndarray, tmp_path: Path) -> None:
    hdrlift.write_image(tmp_path / "p.png", photo)
    small = photo[:20, :30]
    res = hdrlift.reconstruct([tmp_path / "p.png", small, torch.from_numpy(small).permute(2, 0, 1)],
                              method="landis")
    assert isinstance(res, list) and [type(r) for r in res] == [np.ndarray, np.ndarray, torch.Tensor]
    assert res[0].shape == (40, 56, 3) and res[1].shape == (20, 30, 3) and res[2].shape == (3, 20, 30)
    np.testing.assert_array_equal(res[2].permute(1, 2, 0).numpy(), res[1])


def test_round_trip_identical_to_the_command_line(photo: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    hdrlift.write_image(src, photo)
    assert main(["predict", str(src), "-o", str(tmp_path / "cli.exr"), "--no-half", "--no-preview", "-q"]) == 0
    assert main(["predict", str(src), "-o", str(tmp_path / "half.exr"), "--no-preview", "-q"]) == 0
    cli = hdrlift.read_image(tmp_path / "cli.exr")
    from_path = hdrlift.reconstruct(src)  # method="default", as the command line
    np.testing.assert_array_equal(from_path, cli)
    np.testing.assert_array_equal(hdrlift.reconstruct(hdrlift.read_image(src)), cli)
    np.testing.assert_array_equal(from_path.astype(np.float16), hdrlift.read_image(tmp_path / "half.exr"))


def test_create_model_pretrained_and_not() -> None:
    from hdrlift.checkpoint import load_model, pretrained_names

    shipped = [n for n in pretrained_names() if n.startswith(f"{NET}.")][0]
    net = hdrlift.create_model(NET)  # pretrained=True by default
    ref = load_model(shipped)
    assert not net.training
    for (k, a), (_, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    assert torch.equal(next(iter(hdrlift.create_model(shipped).state_dict().values())),
                       next(iter(ref.state_dict().values())))
    fresh = hdrlift.create_model(NET, pretrained=False)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), ref.state_dict().values()))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert net(x).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("call, words", [
    (lambda: hdrlift.create_model("nope"), "name='nope'"),
    (lambda: hdrlift.create_model("hdrunet_tiny"), "name='hdrunet_tiny': no trained weights"),
    (lambda: hdrlift.create_model("hdrunet", hparams_x=1), "pretrained=False"),
    (lambda: hdrlift.reconstruct(np.zeros((3, 20, 30), np.float32)), "channels first"),
    (lambda: hdrlift.reconstruct(torch.zeros(20, 30, 3)), "channels last"),
    (lambda: hdrlift.reconstruct(np.zeros((1, 1, 3), np.uint8)), "at least 2x2"),
    (lambda: hdrlift.reconstruct(np.full((4, 4, 3), np.nan, np.float32)), "NaN"),
    (lambda: hdrlift.reconstruct(np.zeros((4, 4, 3), np.int64)), "dtype int64"),
    (lambda: hdrlift.reconstruct(np.zeros((4, 4, 3)), method="nope"), "method='nope'"),
    (lambda: hdrlift.reconstruct(np.zeros((4, 4, 3)), precision="fp8"), "precision='fp8'"),
    (lambda: hdrlift.reconstruct(np.zeros((4, 4, 3)), device="cpu", precision="fp16"), "precision='fp16'"),
    (lambda: hdrlift.reconstruct(np.zeros((4, 4, 3)), tile=-1), "tile=-1"),
    (lambda: hdrlift.reconstruct(12), "got int"),
    (lambda: hdrlift.reconstruct([]), "empty list"),
])
def test_api_errors_name_parameters_not_flags(call, words: str) -> None:
    with pytest.raises(HdrliftError) as e:
        call()
    msg = str(e.value)
    assert words in msg and "--" not in msg and "\n" not in msg


def test_write_image_error_speaks_of_the_parameter(tmp_path: Path) -> None:
    p = tmp_path / "a.exr"
    hdrlift.write_image(p, np.ones((4, 4, 3), np.float32))
    with pytest.raises(ImageWriteError, match=r"a\.exr: exists \(pass overwrite=True") as e:
        hdrlift.write_image(p, np.zeros((4, 4, 3), np.float32))
    assert "--" not in str(e.value)
    hdrlift.write_image(p, np.zeros((4, 4, 3), np.float32), overwrite=True)
    assert float(hdrlift.read_image(p).max()) == 0.0


def test_doctests_of_the_public_functions_run() -> None:
    for mod, least in ((hdrlift, 10), (api, 8)):
        r = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, verbose=False)
        assert r.failed == 0 and r.attempted >= least, (mod.__name__, r)


def test_typed_signatures_and_py_typed() -> None:
    for fn in (hdrlift.reconstruct, hdrlift.create_model, hdrlift.read_image, hdrlift.write_image,
               hdrlift.load_model, hdrlift.list_models):
        sig = inspect.signature(fn)
        assert "kwargs" not in sig.parameters or fn is hdrlift.write_image
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), fn
        assert sig.return_annotation not in (inspect.Signature.empty, "Any"), fn
    assert (Path(hdrlift.__file__).parent / "py.typed").is_file()
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"py.typed"' in text


def test_model_error_is_a_model_error() -> None:
    with pytest.raises(ModelError):
        hdrlift.create_model("nope")
