"""hdrlift.models.ensemble: the weighted mean of member networks, its size requirements, what it refuses, and
scripts/make_ensemble.py (members copied bit for bit, the first member's blend declared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hdrlift.checkpoint import load_model, save_model
from hdrlift.errors import ModelError
from hdrlift.inference.strategies import size_requirements
from hdrlift.models import create_model

ROOT = Path(__file__).resolve().parents[1]
TINY = [{"name": "twostage_tiny", "hparams": {}}, {"name": "hdrunet_tiny", "hparams": {}}]


def _x(h: int = 23, w: int = 31) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(3))


def test_output_is_the_weighted_mean_of_the_members() -> None:
    torch.manual_seed(0)
    ens = create_model("ensemble", members=TINY, weights=[3.0, 1.0]).eval()
    assert ens.weights == [0.75, 0.25]
    x = _x()
    with torch.no_grad():
        a, b = (m(x).clamp(min=0) for m in ens.members)
        y = ens(x)
    torch.testing.assert_close(y, 0.75 * a + 0.25 * b)
    assert not torch.allclose(a, b)  # (two different networks: the test would not see a wrong weighting else)


def test_size_requirements_are_the_members_largest_field_and_lcm_multiple() -> None:
    ens = create_model("ensemble", members=TINY)
    fields = [size_requirements(m).receptive_field for m in ens.members]
    req = size_requirements(ens)
    assert req.receptive_field == max(fields) > 0
    assert req.multiple == 4  # twostage 1, hdrunet 4


@pytest.mark.parametrize("members, weights, words", [
    ([{"name": "twostage_tiny"}], None, "at least two"),
    ([{"name": "twostage_tiny"}, {"name": "uhd_bilateral_tiny"}], None, "not fully convolutional"),
    ([{"name": "twostage_tiny"}, {"name": "duhdr_tiny"}], None, "not fully convolutional"),
    ([{"name": "twostage_tiny"}, {"name": "ensemble_tiny"}], None, "cannot be an ensemble"),
    (TINY, [1.0], "weights must be 2"),
    (TINY, [0.0, 0.0], "weights must be 2"),
    (TINY, [1.0, -1.0], "weights must be 2"),
    ([{"hparams": {}}, {"name": "hdrunet_tiny"}], None, "member 0 must be"),
])
def test_bad_ensembles_are_refused_in_one_line(members, weights, words) -> None:
    with pytest.raises(ModelError, match=words) as exc:
        create_model("ensemble", members=members, weights=weights)
    assert "\n" not in str(exc.value)


def test_make_ensemble_copies_the_members_and_declares_the_first_blend(tmp_path: Path) -> None:
    torch.manual_seed(1)
    blend = {"tau": 0.9, "mid": 0.0, "sigma": 1.0, "detail": 1.0, "highlight": 0.3}
    dirs = []
    for i, m in enumerate(TINY):
        net = create_model(m["name"])
        dirs.append(str(save_model(net, tmp_path / f"m{i}", meta={"output_blend": blend} if i == 0 else {})))
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_ensemble.py"), "--members", ",".join(dirs),
                        "--name", "ensemble.test", "--dtype", "fp32", "--weights-dir", str(weights_dir)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    out = weights_dir / "ensemble.test"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "golden.json", "model.safetensors"]
    assert not [p for p in weights_dir.iterdir() if p.name.startswith(".")]  # no staging folder left
    ens = load_model(out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["meta"]["output_blend"] == blend and [m["source"] for m in cfg["meta"]["members"]] == dirs
    x = _x()
    with torch.no_grad():
        want = 0.5 * load_model(dirs[0])(x).clamp(min=0) + 0.5 * load_model(dirs[1])(x).clamp(min=0)
        assert torch.equal(ens(x), want)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_ensemble.py"), "--members",
                          f"{dirs[0]},{tmp_path / 'missing'}", "--name", "ensemble.bad", "--weights-dir",
                          str(weights_dir)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "missing" in bad.stderr
    assert not (weights_dir / "ensemble.bad").exists()
