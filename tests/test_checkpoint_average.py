"""Weight averaging of checkpoints (hdrlift.checkpoint.average_checkpoints, scripts/average_checkpoints.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hdrlift.checkpoint import average_checkpoints, load_model, save_model
from hdrlift.errors import ModelError
from hdrlift.models import create_model

ROOT = Path(__file__).resolve().parents[1]


def _ckpt(path: Path, seed: int, name: str = "hdrunet_tiny", step: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model(create_model(name), path, meta={"step": step})


def test_average_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    a, b, c = (_ckpt(tmp_path / f"step-{i}", seed=i, step=i) for i in range(3))
    out = average_checkpoints([a, b, c], tmp_path / "avg")
    avg, parts = load_model(out).state_dict(), [load_model(p).state_dict() for p in (a, b, c)]
    floats = [k for k, v in avg.items() if v.is_floating_point()]
    assert floats
    for k in floats:
        torch.testing.assert_close(avg[k], (parts[0][k] + parts[1][k] + parts[2][k]) / 3)
    assert any(not torch.equal(avg[k], parts[2][k]) for k in floats)
    meta = load_model(out).checkpoint_config["meta"]
    assert meta["step"] == 2 and meta["averaged_from"] == ["step-0", "step-1", "step-2"]


def test_average_refuses_one_checkpoint_and_mixed_architectures(tmp_path: Path) -> None:
    a = _ckpt(tmp_path / "a", 0)
    with pytest.raises(ModelError, match="at least two"):
        average_checkpoints([a], tmp_path / "o1")
    b = _ckpt(tmp_path / "b", 1, name="twostage_tiny")
    with pytest.raises(ModelError, match="differs"):
        average_checkpoints([a, b], tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_average_script_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """scripts/average_checkpoints.py, run as a user runs it (a subprocess; tests do not import scripts/)."""

    def script(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "average_checkpoints.py"), *args],
                              capture_output=True, text=True, timeout=300)

    run = tmp_path / "run"
    for i in (1000, 2000):
        _ckpt(run / "checkpoints" / f"step-{i:07d}", seed=i, step=i)
    r = script(str(run), "step-0001000", "step-0002000")
    assert r.returncode == 0, r.stderr
    out = run / "averaged" / "avg-1000-2000"
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["meta"]["averaged_from"] == ["step-0001000", "step-0002000"]
    r = script(str(run), "step-0001000", "step-0002000")
    assert r.returncode == 1 and "exists" in r.stderr
    r = script(str(run), "step-0001000", "step-0009999")
    assert r.returncode == 1 and "no such checkpoint" in r.stderr
