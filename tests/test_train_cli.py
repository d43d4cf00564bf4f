"""The real ``python -m ras_lightning.train`` CLI in subprocesses, plus config composition."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import compose_config, run_cli, tiny_train_args


def test_fast_dev_run(demo_root: Path, tmp_path: Path) -> None:
    res = run_cli("train", *tiny_train_args(demo_root, tmp_path / "run", "debug=fast_dev_run"))
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test/DEMO-TE/max_f"] <= 1 and 0 <= metrics["test/DEMO-TE/mae"] <= 1
    assert "train/loss" in metrics


def test_short_run_writes_checkpoints_metrics_and_logs(demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = run_cli(
        "train",
        *tiny_train_args(
            demo_root,
            run,
            "model=ras_v1",
            "model.pretrained_backbone=false",
            "trainer.max_epochs=2",
            "+trainer.limit_train_batches=2",
            "trainer.log_every_n_steps=1",
        ),
    )
    assert res.returncode == 0, res.stderr[-3000:]
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


def test_bad_data_root_is_one_clear_line(tmp_path: Path) -> None:
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


def test_cfg_job_prints_resolved_config() -> None:
    res = run_cli("train", "--cfg", "job", "model=ras_v1")
    assert res.returncode == 0, res.stderr
    assert "version: v1" in res.stdout and "train_set: DEMO-TR" in res.stdout
