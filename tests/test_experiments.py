"""Experiment plumbing: resume, faults, W&B and seeds in this process (``train.run``);
SIGTERM, DDP (simulated) and Hydra sweeps through the real CLI, under ``-m slow``."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ras_lightning.training.schedules import Triangular
from tests.conftest import ECSSD_DIR, REPO, run_cli, run_command, tiny_train, tiny_train_args
from tests.wandb_records import logged_keys, read_records

LIMITS = [
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
]


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_resume_continues_step_epoch_and_schedule(demo_root: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"  # a 3-epoch run stopped after its first epoch
    small = ["data.image_size=32", *LIMITS]  # the loop is under test, not the network
    tiny_train(
        demo_root, first, "trainer.max_epochs=3", "test=false", "+trainer.max_steps=2", *small
    )
    ck = _ckpt(first / "checkpoints" / "last.ckpt")
    assert ck["global_step"] == 2 and ck["epoch"] == 0
    second = tmp_path / "second"
    tiny_train(
        demo_root,
        second,
        "trainer.max_epochs=3",
        "test=false",
        f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
        *small,
    )
    ck2 = _ckpt(second / "checkpoints" / "last.ckpt")
    assert ck2["global_step"] == 6 and ck2["epoch"] == 2
    assert ck2["optimizer_states"][0]["state"], "optimizer moments restored and carried on"
    # the lr of each resumed epoch follows the same cosine schedule (base 1e-3, 3 epochs)
    with open(second / "csv" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/lr")]
    lrs = {int(r["epoch"]): float(r["train/lr"]) for r in rows}
    assert set(lrs) == {1, 2}
    for epoch, lr in lrs.items():
        assert lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / 3)), rel=1e-5)


def test_non_finite_loss_stops_with_the_step(demo_root: Path, tmp_path: Path) -> None:
    # FloatingPointError: the entry point's one-line `error:` kinds (utils.errors.user_errors)
    with pytest.raises(FloatingPointError) as err:
        tiny_train(
            demo_root,
            tmp_path / "run",
            "optimizer.lr=1e30",
            "trainer.max_epochs=3",
            "data.image_size=32",
            *LIMITS,
        )
    line = str(err.value).splitlines()[0]
    assert "non-finite loss" in line and "global step" in line


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint(demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ras_lightning.train",
            *tiny_train_args(demo_root, run, "trainer.max_epochs=1000", *LIMITS),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert last.exists(), "no epoch finished"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert (run / "checkpoints" / "interrupted.ckpt").is_file(), err[-2000:]
    ck = _ckpt(run / "checkpoints" / "interrupted.ckpt")
    assert ck["global_step"] >= 2


@pytest.mark.slow
def test_ddp_sim_test_metrics_equal_single_process(demo_root: Path, tmp_path: Path) -> None:
    ddp = tmp_path / "ddp"
    res = run_cli(
        "train",
        *tiny_train_args(
            demo_root, ddp, "trainer=ddp_sim", "trainer.max_epochs=1", *LIMITS, best=True
        ),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m_ddp = json.loads((ddp / "metrics.json").read_text())
    best = sorted((ddp / "checkpoints").glob("best-*.ckpt"))
    assert best, list((ddp / "checkpoints").iterdir())
    single = tmp_path / "single"
    tiny_train(demo_root, single, "train=false", f"ckpt_path={best[0]}")
    m_one = json.loads((single / "metrics.json").read_text())
    keys = [k for k in m_one if k.startswith("test/")]
    assert len(keys) == 10  # the whole metric set, DEMO-TE (7 images: an uneven split)
    for k in keys:
        assert abs(m_ddp[k] - m_one[k]) <= 1e-5, (k, m_ddp[k], m_one[k])
    # the ranks' per-image rows gathered: every test image once, as in one process
    rows = [(ddp / "test_per_image.csv").read_text(), (single / "test_per_image.csv").read_text()]
    images = [sorted(line.split(",")[2] for line in r.splitlines()[1:]) for r in rows]
    assert images[0] == images[1] and len(images[0]) == 7


def _closed_run_file(folder: Path, timeout: float = 120) -> Path:
    """The offline run's ``run-*.wandb`` once W&B's service process has written its exit
    record: ``wandb.finish()`` can return before the service has flushed the file."""
    deadline = time.monotonic() + timeout
    while True:
        files = list(folder.glob("run-*.wandb"))
        try:
            kinds = [r.WhichOneof("record_type") for r in read_records(files[0])] if files else []
        except Exception:  # noqa: BLE001 (a record still being written)
            kinds = []
        if "exit" in kinds:
            return files[0]
        assert time.monotonic() < deadline, f"no closed run file in {folder}"
        time.sleep(0.5)


def test_wandb_offline_run_records_config_losses_metrics_and_panel(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = tmp_path / "run"
    try:
        tiny_train(demo_root, run, "logger=wandb", "trainer.max_epochs=1", *LIMITS)
    finally:
        wandb.finish()  # what the process's exit does
    runs = list((run / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    metrics, config = logged_keys(_closed_run_file(runs[0]))
    for key in (
        "train/loss",
        "train/loss_side2",
        "train/lr",
        "val/DEMO-VAL/max_f",
        "val/DEMO-VAL/s_measure",
        "test/DEMO-TE/max_f",
        "test/DEMO-TE/mae",
        "val/panel/_type",
    ):
        assert key in metrics, key
    assert {"optimizer", "model", "data", "trainer"} <= config
    panels = list((runs[0] / "files" / "media" / "images").rglob("*.png"))
    assert panels, "no photo | mask | prediction panel logged"


@pytest.mark.slow
def test_multirun_two_jobs_each_leave_metrics(demo_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    res = run_cli(
        "train",
        "-m",
        f"data.root={demo_root}",
        *[
            a
            for a in tiny_train_args(demo_root, sweep)
            if not a.startswith(("hydra.run", "data.root"))
        ],
        f"hydra.sweep.dir={sweep}",
        "optimizer.lr=1e-3,2e-3",
        "debug=fast_dev_run",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for job in ("0", "1"):
        assert "test/DEMO-TE/max_f" in json.loads((sweep / job / "metrics.json").read_text())


@pytest.mark.slow
def test_optuna_sweep_returns_the_metric(demo_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    res = run_cli(
        "train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        *[a for a in tiny_train_args(demo_root, sweep) if not a.startswith("hydra.run")],
        f"hydra.sweep.dir={sweep}",
        "trainer.max_epochs=1",
        *LIMITS,
        "test=false",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_value" in best and "optimizer.lr" in best


def test_seed_makes_cpu_runs_repeatable(demo_root: Path, tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        run = tmp_path / name
        tiny_train(
            demo_root,
            run,
            "seed=7",
            "trainer.max_epochs=1",
            "data.recipe=v2",
            "data.image_size=48",
            "data.multiscale=[32,48]",
            *LIMITS,
        )
        results.append(json.loads((run / "metrics.json").read_text()))
    assert results[0] == results[1]
    assert results[0]["train/loss"] > 0


@pytest.mark.skipif(not ECSSD_DIR.is_dir(), reason="../shared/data/ECSSD-100 absent")
def test_strategy_v2_runs_on_real_photos(tmp_path: Path) -> None:
    """The v2 recipe end to end (SGD groups, frozen stem, triangular lr, multi-scale batches)
    on real ECSSD photos in their own layout, standing in for DUTS-TR."""
    root = tmp_path / "sod"
    root.mkdir()
    (root / "DUTS-TR").symlink_to(ECSSD_DIR, target_is_directory=True)
    run = tmp_path / "run"
    run_command(
        "train",
        "strategy=v2",
        f"data.root={root}",
        "model/backbone=resnet18",  # the recipe, not the network's size, is under test
        "model.pretrained_backbone=false",
        "data.test_sets=[DUTS-TR]",
        "data.image_size=64",
        "data.multiscale=[48,64]",
        "data.batch_size=4",
        "data.num_workers=0",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_test_batches=2",
        *LIMITS[1:],
        run_dir=run,
    )
    metrics = json.loads((run / "metrics.json").read_text())
    # the paper strategy trains on every pair, as the authors: no holdout, no val keys
    assert "test/DUTS-TR/weighted_f" in metrics and not any(k.startswith("val/") for k in metrics)
    ck = _ckpt(run / "checkpoints" / "last.ckpt")
    groups = ck["optimizer_states"][0]["param_groups"]
    assert [g["name"] for g in groups] == ["backbone", "head"]
    # head lr 0.05 and backbone lr 0.005, both times the triangular factor of the saved epoch
    factor = Triangular(2)(ck["lr_schedulers"][0]["last_epoch"])
    assert groups[1]["lr"] == pytest.approx(0.05 * factor, abs=1e-12)
    assert groups[0]["lr"] == pytest.approx(0.005 * factor, abs=1e-12)
