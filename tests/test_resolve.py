"""The one owner of run-directory layout (hdrlift.rundir) and of name resolution (checkpoint.resolve_name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdrlift import rundir
from hdrlift.checkpoint import WEIGHTS_DIR, default_name, pretrained_names, resolve, resolve_name, save_model
from hdrlift.errors import ConfigError, ModelError


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory with checkpoints 2 (best) and 4 (last), as the trainer lays it out."""
    from hdrlift.models import create_model

    rd = tmp_path / "run"
    for step in (2, 4):
        save_model(create_model("hdrunet_tiny"), rundir.checkpoint_dir(rd, step), meta={"step": step})
    rundir.write_pointer(rd, "best", 2, rundir.checkpoint_dir(rd, 2), meta={"val": {}})
    rundir.write_pointer(rd, "last", 4, rundir.checkpoint_dir(rd, 4))
    return rd


def test_layout_names_round_trip(run: Path) -> None:
    assert rundir.checkpoint_name(500) == "step-0000500" and rundir.step_of("step-0000500") == 500
    assert rundir.step_of("averaged") == -1 and rundir.step_of(".tmp-step-0000002") == -1
    assert rundir.read_pointer(run, "last") == {"step": 4, "dir": "checkpoints/step-0000004"}
    assert rundir.read_pointer(run, "best")["meta"] == {"val": {}}
    assert rundir.kept_checkpoints(run) == [rundir.checkpoint_dir(run, 4), rundir.checkpoint_dir(run, 2)]
    assert rundir.is_run_dir(run) and not rundir.is_run_dir(rundir.checkpoint_dir(run, 2))
    assert rundir.pointed_checkpoint(run, "last", needs=rundir.TRAIN_STATE) is None  # not resumable


def test_select_checkpoint_by_word(run: Path) -> None:
    assert rundir.select_checkpoint(run, "best") == rundir.checkpoint_dir(run, 2)
    assert rundir.select_checkpoint(run, "last") == rundir.checkpoint_dir(run, 4)
    assert rundir.select_checkpoint(run, "step-0000004") == rundir.checkpoint_dir(run, 4)
    with pytest.raises(ConfigError, match="no step-0000003 checkpoint"):
        rundir.select_checkpoint(run, "step-0000003")
    with pytest.raises(ConfigError, match="expected best, last, step-N"):
        rundir.select_checkpoint(run, "newest")


def test_resolve_name_kinds(run: Path) -> None:
    assert resolve_name("kovaleski").kind == "operator"
    assert resolve_name("default").name == default_name()
    r = resolve_name(run)
    assert (r.kind, r.path) == ("checkpoint", rundir.checkpoint_dir(run, 2))  # a run means its best checkpoint
    (run / "best.json").unlink()
    assert resolve_name(run).path == rundir.checkpoint_dir(run, 4)  # ... else its last
    ck = rundir.checkpoint_dir(run, 4)
    assert resolve_name(ck).path == ck and resolve_name(ck / "config.json").path == ck
    tiny = resolve_name("hdrunet_tiny")
    assert (tiny.kind, tiny.path) == ("architecture", None)
    with pytest.raises(ModelError, match="no trained weights are shipped for 'hdrunet_tiny'"):
        resolve("hdrunet_tiny")
    with pytest.raises(ModelError, match="classical operator"):
        resolve("landis")
    for name in pretrained_names():
        assert resolve_name(name).path == WEIGHTS_DIR / name
        arch = resolve_name(name.split(".")[0])
        assert arch.kind == "architecture" and arch.path is not None and arch.path.name.startswith(name.split(".")[0])


def test_unknown_name_lists_every_kind(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        resolve_name("hdrnet")
    msg = str(info.value)
    assert "\n" not in msg and "operator (" in msg and "architecture (" in msg and "hdrunet_tiny" in msg
    empty_run = tmp_path / "r"
    empty_run.mkdir()
    (empty_run / "last.json").write_text('{"step": 1, "dir": "checkpoints/step-0000001"}')
    with pytest.raises(ModelError, match="training run without a loadable checkpoint"):
        resolve_name(empty_run)


def test_every_entry_point_shares_the_resolution(run: Path) -> None:
    """predict's method, hdrlift.create_model, load_model and a config's init: read a run the same way."""
    import torch

    import hdrlift
    from hdrlift.checkpoint import load_model
    from hdrlift.inference.methods import resolve_method
    from hdrlift.models import create_model
    from hdrlift.train.trainer import init_weights

    want = load_model(rundir.checkpoint_dir(run, 2)).state_dict()
    other = load_model(rundir.checkpoint_dir(run, 4)).state_dict()
    assert any(not torch.equal(want[k], other[k]) for k in want)  # best and last differ: the choice shows
    got = [resolve_method(str(run)).model.state_dict(), hdrlift.create_model(run).state_dict(),
           load_model(run).state_dict()]
    m = create_model("hdrunet_tiny")
    init_weights(m, str(run))
    got.append(m.state_dict())
    for sd in got:
        assert all(torch.equal(sd[k], want[k]) for k in want)
