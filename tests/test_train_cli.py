"""``train``: runs in this process (``train.run``), config composition, and the real
``python -m ras_lightning.train`` CLI (one smoke run here; the rest under ``-m slow``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import compose_config, run_cli, run_command, tiny_train, tiny_train_args


def test_fast_dev_run(demo_root: Path, tmp_path: Path) -> None:
    # the console script's smoke test: a real `python -m ras_lightning.train` process
    res = run_cli("train", *tiny_train_args(demo_root, tmp_path / "run", "debug=fast_dev_run"))
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test/DEMO-TE/max_f"] <= 1 and 0 <= metrics["test/DEMO-TE/mae"] <= 1
    assert "train/loss" in metrics


def test_short_run_writes_checkpoints_metrics_and_logs(demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny_train(
        demo_root,
        run,
        "model=ras_v1",
        "model.pretrained_backbone=false",
        "data.image_size=32",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
        "trainer.log_every_n_steps=1",
        best=True,
    )
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and any(n.startswith("best-epoch") for n in ckpts), ckpts
    metrics = json.loads((run / "metrics.json").read_text())
    for key in (
        "val/DEMO-VAL/max_f",
        "val/DEMO-VAL/mae",
        "test/DEMO-TE/max_f",
        "test/DEMO-TE/mae",
        "train/loss",
    ):
        assert key in metrics, key
    with open(run / "csv" / "metrics.csv") as f:
        header = next(csv.reader(f))
    # v1 has five side outputs, named as in the paper
    assert {f"train/loss_side{i}" for i in range(1, 6)} <= set(header)
    # the end-of-training test's per-image rows: one per tested image (a batch of 6)
    assert (run / "test_per_image.csv").read_text().count("\nDEMO-TE,run,") == 6


def test_bad_data_root_is_one_clear_line(tmp_path: Path) -> None:
    args = [f"data.root={tmp_path / 'missing'}", "data.demo=false"]
    with pytest.raises(DataError) as err:
        run_command("train", *args, run_dir=tmp_path / "run")
    assert str(err.value) == f"data.root: no such folder: {tmp_path / 'missing'}"


@pytest.mark.slow
def test_bad_data_root_is_one_clear_line_from_the_cli(tmp_path: Path) -> None:
    res = run_cli(
        "train",
        f"data.root={tmp_path / 'missing'}",
        "data.demo=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: data.root: no such folder: {tmp_path / 'missing'}"]


def test_default_config_is_the_cpu_demo_run() -> None:
    cfg = compose_config(return_hydra_config=True)
    assert cfg.data.train_set == "DEMO-TR" and cfg.data.demo is True
    assert cfg.model.version == "v2" and cfg.model.pretrained_backbone is False
    assert cfg.optimizer._target_ == "torch.optim.Adam"


@pytest.mark.parametrize("model,version", [("ras_v1", "v1"), ("ras_v2", "v2")])
def test_model_group_switches_version(model: str, version: str) -> None:
    cfg = compose_config(
        f"model={model}", "optimizer.lr=0.123", "data.batch_size=3", return_hydra_config=True
    )
    assert cfg.model.version == version
    assert cfg.optimizer.lr == 0.123 and cfg.data.batch_size == 3


@pytest.mark.slow
def test_cfg_job_prints_resolved_config() -> None:
    res = run_cli("train", "--cfg", "job", "model=ras_v1")
    assert res.returncode == 0, res.stderr
    assert "version: v1" in res.stdout and "train_set: DEMO-TR" in res.stdout


def test_composed_model_node_instantiates_backbone_and_loss() -> None:
    from hydra.utils import instantiate

    from ras_lightning.training.losses import bce_loss
    from ras_lightning.training.module import RASModule

    cfg = compose_config("model/backbone=resnet18", "model/loss=bce", "optimizer.lr=0.02")
    assert cfg.model.net.backbone.name == "resnet18" and cfg.model.version == "v2"
    module = instantiate(cfg.model)
    assert isinstance(module, RASModule)
    assert module.net.backbone_name == "resnet18" and module.net.version == "v2"
    assert module.net.ra2.convert.in_channels == 64  # resnet18's stride-4 width, read from it
    assert module.loss.func is bce_loss
    opt = module.configure_optimizers()["optimizer"]  # the top-level optimizer node, wired in
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["lr"] == 0.02
    # model.version reaches the network; the default loss is the authors' BCE + IoU
    v1 = instantiate(compose_config("model.version=v1").model)
    assert v1.net.version == "v1" and v1.loss.func.__name__ == "bce_iou_loss"


def test_bad_model_settings_are_one_line_naming_the_key(demo_root: Path, tmp_path: Path) -> None:
    for override, expected in (
        ("model.version=v3", "model.version must be 'v1' or 'v2', got 'v3'"),
        (
            f"model.pretrained_backbone={tmp_path / 'nope.pth'}",
            f"model.pretrained_backbone: no such file: {tmp_path / 'nope.pth'}",
        ),
    ):
        with pytest.raises(UserError) as err:
            tiny_train(demo_root, tmp_path / "run", override)
        assert str(err.value) == expected


def test_resnet18_run_checkpoint_loads_into_a_resnet18_ras(tiny_ckpt: Path) -> None:
    # the session's tiny run trained model/backbone=resnet18 (v2)
    from ras_lightning.models.weights import load_weights

    hp = torch.load(tiny_ckpt, map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hp["backbone"] == "resnet18" and hp["version"] == "v2"
    weights = load_weights(tiny_ckpt)
    assert weights.net.backbone_name == "resnet18" and weights.source == "checkpoint"
    state = torch.load(tiny_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert torch.equal(weights.net.ra4.convert.weight, state["net.ra4.convert.weight"])
    assert weights.net.ra4.convert.in_channels == 256  # resnet18's stride-16 width
