"""Training: every recipe steps on tiny models, exact resume, crash-safe checkpoints, DDP with gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_hdr_scene

from hdrlift.errors import ConfigError, DataError
from hdrlift.train.config import config_from_dict, load_config
from hdrlift.train.state import last_checkpoint
from hdrlift.train.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hdr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hdrlift.io import write_exr

    d = tmp_path_factory.mktemp("hdr")
    for i in range(3):
        write_exr(d / f"scene{i}.exr", make_hdr_scene(48, 64, seed=i), dtype="float")
    (d / "train.txt").write_text("scene0.exr\nscene1.exr\n")
    (d / "val.txt").write_text("scene2.exr\n")
    return d


def _cfg(hdr_dir: Path, out: Path, method: str, model: str, steps: int = 2, **extra) -> dict:
    d = {
        "method": method,
        "model": {"name": model},
        "data": {"root": str(hdr_dir), "train_split": str(hdr_dir / "train.txt"),
                 "val_split": str(hdr_dir / "val.txt"), "patch": 32, "batch": 2, "workers": 0,
                 "val_max_side": 48, "val_exposures": [0.0]},
        "steps": steps, "val_every": steps, "ckpt_every": steps, "log_every": 1,
        "out_dir": str(out), "tensorboard": False, "threads": 1,
    }
    d.update(extra)
    return d


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    ck = last_checkpoint(run)
    assert ck is not None
    return load_file(str(ck / "model.safetensors"))


@pytest.mark.parametrize(
    "method,model", [("hdrunet", "hdrunet_tiny"), ("uhd_bilateral", "uhd_bilateral_tiny"),
                     ("twostage", "twostage_tiny"), ("duhdr", "duhdr_tiny")]
)
def test_each_recipe_trains_and_changes_weights(hdr_dir: Path, tmp_path: Path, method: str, model: str) -> None:
    from hdrlift.models import create_model

    torch.manual_seed(0)
    init = {k: v.clone() for k, v in create_model(model).state_dict().items()}
    run = train(config_from_dict(_cfg(hdr_dir, tmp_path / "run", method, model)), progress=False)
    w = _weights(run)
    changed = [k for k in w if k in init and w[k].dtype.is_floating_point and not torch.equal(w[k], init[k])]
    assert changed, "no parameter changed during training"
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    val = [r for r in log if r["kind"] == "val"]
    assert val and np.isfinite(val[-1]["psnr_mu"])
    assert all(np.isfinite(r["loss"]) for r in log if r["kind"] == "train")


def test_init_starts_from_another_runs_weights_and_mu_loss_trains(hdr_dir: Path, tmp_path: Path) -> None:
    from hdrlift.errors import ConfigError

    a = train(config_from_dict(_cfg(hdr_dir, tmp_path / "a", "hdrunet", "hdrunet_tiny", steps=2)), progress=False)
    cfg = _cfg(hdr_dir, tmp_path / "b", "hdrunet", "hdrunet_tiny", steps=1, init=str(a),
               loss={"mu_weight": 1.0}, optim={"lr": 1e-12})
    b = train(config_from_dict(cfg), progress=False)
    wa, wb = _weights(a), _weights(b)
    for k in wa:  # lr ~ 0: the fine-tuned run still holds run a's (best) weights
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-6, atol=1e-6)
    log = [json.loads(x) for x in (b / "log.jsonl").read_text().splitlines()]
    assert any("mu_l1" in r and r["mu_l1"] > 0 for r in log if r["kind"] == "train")
    bad = _cfg(hdr_dir, tmp_path / "c", "twostage", "twostage_tiny", steps=1, init=str(a))
    with pytest.raises(ConfigError, match="init"):
        train(config_from_dict(bad), progress=False)


@pytest.mark.parametrize("method,model", [("hdrunet", "hdrunet_tiny"), ("uhd_bilateral", "uhd_bilateral_tiny"),
                                          ("twostage", "twostage_tiny")])
def test_mu_kind_psnr_trains(hdr_dir: Path, tmp_path: Path, method: str, model: str) -> None:
    from hdrlift.errors import ConfigError

    cfg = _cfg(hdr_dir, tmp_path / "p", method, model, steps=1, loss={"mu_weight": 1.0, "mu_kind": "psnr"})
    run = train(config_from_dict(cfg), progress=False)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert any("mu_psnr" in r and -60 < r["mu_psnr"] < 0 for r in log if r["kind"] == "train")
    bad = _cfg(hdr_dir, tmp_path / "q", method, model, steps=1, loss={"mu_weight": 1.0, "mu_kind": "l3"})
    with pytest.raises(ConfigError, match="mu_kind"):
        train(config_from_dict(bad), progress=False)


@pytest.mark.parametrize("method,model", [("hdrunet", "hdrunet_tiny"), ("uhd_bilateral", "uhd_bilateral_tiny"),
                                          ("twostage", "twostage_tiny")])
def test_highlight_term_trains_and_is_logged(hdr_dir: Path, tmp_path: Path, method: str, model: str) -> None:
    """loss.clip_weight adds the Huber log2 loss on the clipped pixels (logged as clip_log); 0 = the paper."""
    cfg = _cfg(hdr_dir, tmp_path / "h", method, model, steps=2, loss={"clip_weight": 1.0, "clip_delta": 1.0})
    cfg["data"]["camera"] = {"exposure_stops": [2.0, 2.5]}  # over-exposed: every crop clips
    run = train(config_from_dict(cfg), progress=False)
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert train_rows and all(np.isfinite(r["clip_log"]) and r["clip_log"] > 0 for r in train_rows)
    plain = train(config_from_dict(_cfg(hdr_dir, tmp_path / "p", method, model, steps=1)), progress=False)
    assert not any("clip_log" in json.loads(x) for x in (plain / "log.jsonl").read_text().splitlines())


def test_resume_is_exact(hdr_dir: Path, tmp_path: Path) -> None:
    a = train(config_from_dict(_cfg(hdr_dir, tmp_path / "a", "hdrunet", "hdrunet_tiny", steps=4)), progress=False)
    cfg_b = config_from_dict(_cfg(hdr_dir, tmp_path / "b", "hdrunet", "hdrunet_tiny", steps=4))
    cfg_b.ckpt_every = 2
    b = train(cfg_b, progress=False, max_steps_this_run=2)
    assert json.loads((b / "last.json").read_text())["step"] == 2
    train(cfg_b, resume=b, progress=False)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_crash_during_checkpoint_keeps_last_good(hdr_dir: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = config_from_dict(_cfg(hdr_dir, tmp_path / "c", "hdrunet", "hdrunet_tiny", steps=4))
    cfg.ckpt_every = 2
    run = train(cfg, progress=False, max_steps_this_run=2)
    import hdrlift.train.state as state_mod

    real_save = torch.save

    def dying_save(obj, f, *a, **k):  # simulate SIGKILL halfway through writing train_state.pt
        f.write(b"partial")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(state_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, resume=run, progress=False)
    monkeypatch.setattr(state_mod.torch, "save", real_save)
    assert json.loads((run / "last.json").read_text())["step"] == 2
    assert last_checkpoint(run) is not None
    train(cfg, resume=run, progress=False)  # resumes from step 2 and finishes
    assert json.loads((run / "last.json").read_text())["step"] == 4


def test_sigkill_during_run_resumes(hdr_dir: Path, tmp_path: Path) -> None:
    """A real SIGKILL (os._exit inside the checkpoint writer) leaves a resumable run."""
    import yaml

    cfg = _cfg(hdr_dir, tmp_path / "k", "hdrunet", "hdrunet_tiny", steps=4)
    cfg["ckpt_every"] = 2
    cfile = tmp_path / "k.yaml"
    cfile.write_text(yaml.safe_dump(cfg))
    code = (
        "import os, torch, hdrlift.train.state as s\n"
        "real = torch.save\n"
        "n = {'c': 0}\n"
        "def save(obj, f, *a, **k):\n"
        "    n['c'] += 1\n"
        "    if n['c'] == 2:\n"
        "        f.write(b'xx'); f.flush(); os.kill(os.getpid(), 9)\n"
        "    return real(obj, f, *a, **k)\n"
        "s.torch.save = save\n"
        "from hdrlift.cli.main import main\n"
        f"main(['train', {str(cfile)!r}, '--no-progress'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == -9
    run = tmp_path / "k"
    assert json.loads((run / "last.json").read_text())["step"] == 2
    from hdrlift.cli.main import main

    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "last.json").read_text())["step"] == 4


def _child_error(stderr: str) -> str:
    """The workers' own error lines from a torchrun log (the launcher's summary comes last and would
    hide them in a tail)."""
    keys = ("Error", "error", "terminate", "what()", "Exception", "Traceback", "Signal")
    lines = [x for x in stderr.splitlines() if any(k in x for k in keys)]
    return "\n".join(lines[:40]) + "\n--- tail ---\n" + stderr[-1500:]


def test_ddp_two_cpu_processes_identical_weights(hdr_dir: Path, tmp_path: Path) -> None:
    import socket

    import yaml

    # gloo on loopback: resolving the hostname may pick an address family or interface the
    # listener does not use (pytorch/gloo#503). A worker killed by SIGABRT inside gloo's own
    # connection setup (pytorch/gloo#514, a race in the C++ listener) is retried once; any
    # Python error in hdrlift exits with code 1 and fails at once.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    for attempt in range(2):
        run = tmp_path / f"ddp{attempt}"  # a fresh run directory per attempt
        cfile = tmp_path / f"ddp{attempt}.yaml"
        cfile.write_text(yaml.safe_dump(_cfg(hdr_dir, run, "hdrunet", "hdrunet_tiny", steps=3)))
        with socket.socket() as sock:  # a free port, so repeated or parallel runs never collide
            sock.bind(("127.0.0.1", 0))
            port = str(sock.getsockname()[1])
        r = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
             "--master-port", port,
             "-m", "hdrlift", "train", str(cfile), "--no-progress", "--device", "cpu"],
            capture_output=True, text=True, timeout=600, env=env, cwd=str(REPO),
        )
        if r.returncode == 0 or "exitcode  : -6" not in r.stderr or attempt == 1:
            break
        print("gloo worker aborted; retrying once:\n" + _child_error(r.stderr))
    assert r.returncode == 0, _child_error(r.stderr)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    chk = [x for x in log if x["kind"] == "ddp_check"]
    assert chk and chk[-1]["world"] == 2
    sums = chk[-1]["param_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]


def test_bad_training_file_is_named_and_skipped(hdr_dir: Path, tmp_path: Path, caplog) -> None:
    from hdrlift.data import HDRFolder

    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"not an exr")
    ds = HDRFolder([hdr_dir / "scene0.exr", bad], on_bad="skip")
    assert len(ds.images) == 1
    assert "bad.exr" in caplog.text
    with pytest.raises(DataError, match="bad.exr"):
        HDRFolder([hdr_dir / "scene0.exr", bad], on_bad="error")


def test_unknown_config_key_lists_valid(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("method: hdrunet\noptim: {lrr: 1}\n")
    with pytest.raises(ConfigError, match="lrr.*valid:.*lr"):
        load_config(f)
    with pytest.raises(ConfigError, match="not key=value"):
        load_config(None, ["steps"])


def test_samples_are_replayable(hdr_dir: Path) -> None:
    from hdrlift.data import HDRFolder

    ds = HDRFolder([hdr_dir / "scene0.exr", hdr_dir / "scene1.exr"], seed=3)
    a, b = ds[5], ds[5]
    assert torch.equal(a["ldr"], b["ldr"]) and torch.equal(a["hdr"], b["hdr"])
    assert not torch.equal(ds[6]["ldr"], a["ldr"])
    assert a["ldr"].shape == (3, 128, 128) and float(a["ldr"].max()) <= 1.0


def test_lr_schedule_milestones_and_decay(hdr_dir: Path, tmp_path: Path) -> None:
    from hdrlift.train.recipes import build_recipe

    cfg = config_from_dict(_cfg(hdr_dir, tmp_path / "s", "hdrunet", "hdrunet_tiny", steps=100,
                                optim={"lr": 1e-3, "milestones": [10], "gamma": 0.5, "decay_start": 0.5,
                                       "decay_min": 0.1}))
    r = build_recipe(cfg, torch.device("cpu"))
    assert r.lr_factor(0) == 1.0 and r.lr_factor(10) == 0.5
    assert r.lr_factor(50) == 0.5 and abs(r.lr_factor(100) - 0.05) < 1e-9
    assert abs(r.lr_factor(75) - 0.5 * 0.55) < 1e-9


def test_camera_targets_are_the_clean_encoding_and_its_inverse_curve(hdr_dir: Path) -> None:
    from hdrlift.data import HDRFolder
    from hdrlift.data.hdr_folder import ICRF_SAMPLES
    from hdrlift.models.duhdr_parts import apply_curves

    plain = HDRFolder([hdr_dir / "scene0.exr"], seed=4)
    ds = HDRFolder([hdr_dir / "scene0.exr"], seed=4, camera_targets=True)
    s = ds[2]
    assert set(s) == {"ldr", "hdr", "ldr_n", "icrf"}
    assert torch.equal(s["ldr"], plain[2]["ldr"]) and torch.equal(s["hdr"], plain[2]["hdr"])
    curve = s["icrf"]
    assert curve.shape == (ICRF_SAMPLES,) and bool((curve[1:] >= curve[:-1]).all())
    assert abs(float(curve[0])) < 1e-6 and abs(float(curve[-1]) - 1.0) < 1e-6
    # the inverse curve undoes the encoding of the noise-free clipped target
    back = apply_curves(s["ldr_n"][None], curve[None])[0]
    assert float((back - s["hdr"].clamp(0, 1)).abs().max()) < 2e-3
    # the 8-bit input differs from the clean encoding only by noise, quantisation and JPEG
    assert 0 < float((s["ldr"] - s["ldr_n"]).abs().mean()) < 0.05


def test_init_skip_keeps_fresh_submodules(hdr_dir: Path, tmp_path: Path) -> None:
    from hdrlift.errors import ConfigError
    from hdrlift.models import create_model
    from hdrlift.train.trainer import init_weights

    a = train(config_from_dict(_cfg(hdr_dir, tmp_path / "a", "duhdr", "duhdr_tiny", steps=2)), progress=False)
    wa = _weights(a)
    torch.manual_seed(1)
    m = create_model("duhdr_tiny")
    fresh = {k: v.clone() for k, v in m.state_dict().items()}
    init_weights(m, str(a), skip=["dnet"])
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, fresh[k] if k.startswith("dnet.") else wa[k], rtol=0, atol=0)
    assert any(not torch.equal(wa[k], fresh[k]) for k in wa if k.startswith("innet."))
    with pytest.raises(ConfigError, match="init_skip"):
        init_weights(m, str(a), skip=["nonexistent"])


def test_duhdr_recipe_uses_camera_targets(hdr_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(hdr_dir, tmp_path / "d", "duhdr", "duhdr_tiny", steps=2,
               loss={"crf_curve": 1.0, "stages": [["dnet_individual", 0.5, 1e-4], ["crf_individual", 0.5, 1e-4]]})
    cfg["data"]["camera_targets"] = True
    run = train(config_from_dict(cfg), progress=False)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in log if r["kind"] == "train"]
    assert any(r.get("curve", 0) > 0 for r in train_rows)


TRAIN_CONFIGS = sorted((REPO / "configs" / "train").glob("*.yaml"))
HISTORY_CONFIGS = sorted((REPO / "docs" / "history" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAIN_CONFIGS + HISTORY_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_shipped_training_configs_load(path: Path) -> None:
    """Every config in configs/train and docs/history/configs passes the whole check (sections and the
    recipe's loss keys)."""
    from hdrlift.train.recipes import check_config, get_recipe

    cfg = load_config(path)
    loss = check_config(cfg, where=str(path))
    assert cfg.steps > 0 and isinstance(loss, get_recipe(cfg.method).Loss)
    for key, value in cfg.loss.items():  # every key given reached the typed section
        assert getattr(loss, key) == (tuple(value) if isinstance(getattr(loss, key), tuple) else value), key


def test_configs_train_run_from_a_clean_clone() -> None:
    """configs/train: the papers' recipes, the GPU recipes and exactly one recipe per shipped weight (the file its
    meta.recipe names); every init: is empty or a shipped weight, never a path into runs/."""
    import json

    from hdrlift.checkpoint import WEIGHTS_DIR, pretrained_names, resolve

    names = {p.name for p in TRAIN_CONFIGS}
    metas = {w: json.loads((WEIGHTS_DIR / w / "config.json").read_text())["meta"] for w in pretrained_names()}
    trained = [w for w, m in metas.items() if "members" not in m]  # an ensemble has its members' recipes
    recipes = {metas[w]["recipe"] for w in trained}
    assert len(recipes) == len(trained) and {Path(r).name for r in recipes} <= names
    for w, m in metas.items():  # an ensemble's members are shipped weights with their own recipe
        for member in m.get("members", []):
            assert member["source"] in trained and member["recipe"] == metas[member["source"]]["recipe"], w
    papers = {f"{m}.yaml" for m in ("hdrunet", "twostage", "uhd_bilateral", "duhdr")}
    gpu = {f"{m}_gpu.yaml" for m in ("hdrunet", "twostage", "uhd_bilateral", "duhdr")}
    datasets = {"hdrunet_ntire.yaml", "twostage_ntire.yaml", "uhd_bilateral_sice.yaml", "uhd_bilateral_fivek.yaml",
                "duhdr_hdrreal.yaml"}
    assert names == papers | gpu | datasets | {Path(r).name for r in recipes}
    from hdrlift.models import create_model
    from hdrlift.train.trainer import init_weights

    for p in TRAIN_CONFIGS:
        cfg = load_config(p)
        assert "runs/" not in cfg.init, p
        if cfg.init:  # resolves in a clean clone and fits the configured model (init_skip included)
            assert cfg.init in pretrained_names() and resolve(cfg.init).is_dir(), p
            init_weights(create_model(cfg.model.name, **cfg.model.hparams), cfg.init, skip=cfg.init_skip)
    assert not {p.name for p in HISTORY_CONFIGS} & names


@pytest.mark.parametrize("method", ["hdrunet", "uhd_bilateral", "twostage", "duhdr"])
def test_unknown_loss_key_is_one_line_error_listing_valid_keys(method: str) -> None:
    from hdrlift.train.recipes import check_config, get_recipe

    cfg = config_from_dict({"method": method, "model": {"name": f"{method}_tiny"}, "loss": {"mu_weigth": 1.0}})
    with pytest.raises(ConfigError) as info:
        check_config(cfg, where="c.yaml")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("c.yaml: loss: unknown key(s) mu_weigth; valid: ")
    valid = msg.split("valid: ")[1].split(", ")
    assert valid == sorted(f.name for f in __import__("dataclasses").fields(get_recipe(method).Loss))
    with pytest.raises(ConfigError, match="mu_weigth"):  # building the recipe checks it too, before any model
        get_recipe(method)(cfg, torch.device("cpu"))


@pytest.mark.parametrize("method,loss,match", [
    ("hdrunet", {"kind": "l2"}, "loss.kind must be one of tanh_l1, l1"),
    ("hdrunet", {"mu_weight": "x"}, "loss.mu_weight must be a number"),
    ("uhd_bilateral", {"mask_source": "both"}, "loss.mask_source must be one of output, input"),
    ("twostage", {"labels": "fuzzy"}, "loss.labels must be one of hard, soft, noisy"),
    ("twostage", {"d_width": 0}, "loss.d_width must be >= 1"),
    ("twostage", {"clip_delta": 0.0}, "loss.clip_delta must be > 0"),
    ("hdrunet", {"clip_weight": -1.0}, "loss.mu_weight and loss.clip_weight must be >= 0"),
    ("duhdr", {"oo_loss": "l3"}, "loss.oo_loss must be one of l2, released, mu"),
    ("duhdr", {"stages": [["dnet", 1.0]]}, "unknown DuHDR stage 'dnet'"),
    ("duhdr", {"stages": [["oonet"]]}, r"loss.stages\[0\] must be"),
    ("duhdr", {"vgg_layers": "relu1_2"}, "loss.vgg_layers must be a list"),
])
def test_bad_loss_values_are_config_errors(method: str, loss: dict, match: str) -> None:
    from hdrlift.train.recipes import check_config

    with pytest.raises(ConfigError, match=match):
        check_config(config_from_dict({"method": method, "loss": loss}))


def test_loss_option_values_match_the_losses() -> None:
    """The recipes' declared choices are exactly those the loss functions accept."""
    import typing

    from hdrlift.losses.basic import mu_loss
    from hdrlift.losses.duhdr import loss_oo, truncate
    from hdrlift.losses.gan import LABEL_MODES
    from hdrlift.losses.msssim import VARIANTS
    from hdrlift.train.recipes.base import MuKind
    from hdrlift.train.recipes.duhdr import DuHDRRecipeLoss
    from hdrlift.train.recipes.twostage import TwoStageLoss

    hints = typing.get_type_hints(TwoStageLoss)
    assert typing.get_args(hints["msssim_variant"]) == VARIANTS
    assert typing.get_args(hints["labels"]) == LABEL_MODES
    x = torch.rand(1, 3, 16, 16)
    for kind in typing.get_args(MuKind):
        assert torch.isfinite(mu_loss(x, x + 0.1, kind))
    dh = typing.get_type_hints(DuHDRRecipeLoss)
    for mode in typing.get_args(dh["oo_loss"]):
        assert torch.isfinite(loss_oo(x, x + 0.1, mode))
    for mode in typing.get_args(dh["truncation"]):
        assert truncate(x, mode).shape == x.shape


def test_cli_train_reports_a_loss_typo_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hdrlift.cli.main import main

    f = tmp_path / "c.yaml"
    f.write_text(f"method: twostage\nmodel: {{name: twostage_tiny}}\nloss: {{w_gann: 1}}\nout_dir: {tmp_path / 'r'}\n")
    assert main(["train", str(f)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{f}: loss: unknown key(s) w_gann; valid: clip_delta, clip_weight, d_width, labels," in err
    assert not (tmp_path / "r").exists()


def test_camera_target_options_need_the_camera(hdr_dir: Path, tmp_path: Path) -> None:
    from hdrlift.data import build_train_dataset
    from hdrlift.train.recipes import build_recipe

    cfg = config_from_dict(_cfg(hdr_dir, tmp_path / "e", "duhdr", "duhdr_tiny", loss={"dn_mu": 1.0}))
    with pytest.raises(ConfigError, match="data.camera_targets"):
        build_recipe(cfg, torch.device("cpu"))
    bad = _cfg(hdr_dir, tmp_path / "f", "duhdr", "duhdr_tiny")
    bad["data"].update(kind="ntire", camera_targets=True)
    with pytest.raises(ConfigError, match="hdr_folder"):
        build_train_dataset(config_from_dict(bad))


def test_ship_weights_validates_a_step_the_run_did_not(hdr_dir: Path, tmp_path: Path) -> None:
    """scripts/ship_weights.py (run as a subprocess: tests do not import scripts/): a checkpoint without
    in-training validation gets the run's validation."""
    from hdrlift.checkpoint import load_model

    run = train(config_from_dict(_cfg(hdr_dir, tmp_path / "run", "twostage", "twostage_tiny", steps=4,
                                      val_every=4, ckpt_every=2)), progress=False)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [4]
    for step in (2, 4):
        r = subprocess.run([sys.executable, str(REPO / "scripts" / "ship_weights.py"), str(run), "--name",
                            f"twostage.s{step}", "--checkpoint", f"step-{step:07d}", "--weights-dir",
                            str(tmp_path / "weights")], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr
    meta2 = load_model(tmp_path / "weights" / "twostage.s2").checkpoint_config["meta"]
    meta4 = load_model(tmp_path / "weights" / "twostage.s4").checkpoint_config["meta"]
    logged = next(r for r in log if r["kind"] == "val")
    assert meta4["val"]["psnr_mu"] == pytest.approx(logged["psnr_mu"]) and "val_note" not in meta4
    assert np.isfinite(meta2["val"]["psnr_mu"]) and meta2["val_note"].startswith("the run's in-training validation")
    assert meta2["val"]["psnr_mu"] != meta4["val"]["psnr_mu"]
    assert meta2["best_step"] == meta4["best_step"] == 4
    assert meta2["best_psnr_mu"] == pytest.approx(logged["psnr_mu"])  # the run's best, not the shipped step's


@pytest.mark.parametrize(("preview_every", "want"), [(0, [2, 4]), (1, [1, 2, 3, 4])])
def test_preview_images_follow_preview_every(hdr_dir: Path, tmp_path: Path, monkeypatch, preview_every: int,
                                            want: list[int]) -> None:
    """``preview_every`` (0 = with validation, every ``val_every`` steps) is when the preview images are logged."""
    import hdrlift.train.trainer as trainer_mod

    seen: list[int] = []
    monkeypatch.setattr(trainer_mod._Logger, "images", lambda self, step, *a: seen.append(step))
    cfg = config_from_dict(_cfg(hdr_dir, tmp_path / "pv", "hdrunet", "hdrunet_tiny", steps=4,
                                preview_every=preview_every))
    cfg.val_every = 2
    train(cfg, progress=False)
    assert seen == want
