"""Sweeps past one process: Hydra's submitit launchers (``hydra/launcher=slurm|local``, the
trainer's devices following the GPUs requested) and Optuna studies kept in a storage that
several sweep processes share. Compositions in this process; sweeps through the real CLI,
under ``-m slow``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from tests.conftest import compose_config, run_cli, tiny_train_args

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def _trainer_under(*overrides: str) -> tuple[dict, dict]:
    """The resolved ``trainer`` and ``hydra.launcher`` nodes of the train config, resolved
    as inside a job (Hydra's config set)."""
    cfg = compose_config(*overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
        launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    finally:
        HydraConfig.instance().cfg = None
    return trainer, launcher


def test_slurm_launcher_has_the_documented_keys_and_the_trainer_follows_its_gpus() -> None:
    trainer, launcher = _trainer_under("hydra/launcher=slurm")
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    for key in ("partition", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min"):
        assert key in launcher, key
    assert launcher["array_parallelism"] == 16
    assert trainer["devices"] == launcher["gpus_per_node"] == launcher["tasks_per_node"] == 1
    # 4 GPUs on each of 2 nodes: one task per GPU, and DDP over all 8 (trainer=ddp)
    trainer, launcher = _trainer_under(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=4",
        "hydra.launcher.nodes=2",
        "trainer=ddp",
    )
    assert launcher["partition"] == "gpu" and launcher["tasks_per_node"] == 4
    assert (trainer["devices"], trainer["num_nodes"], trainer["strategy"]) == (4, 2, "ddp")
    # the default trainer: devices > 1 lets Lightning's `auto` strategy pick DDP
    trainer, _ = _trainer_under("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=2")
    assert (trainer["devices"], trainer["num_nodes"]) == (2, 1)
    assert trainer.get("strategy", "auto") == "auto"
    # the plugin's own option stays reachable, with its own defaults
    _, plain = _trainer_under("hydra/launcher=submitit_slurm")
    assert plain["array_parallelism"] == 256 and plain["gpus_per_node"] is None


def test_local_launcher_and_no_launcher_keep_one_device() -> None:
    trainer, launcher = _trainer_under("hydra/launcher=local")
    assert launcher["_target_"].endswith("submitit_launcher.LocalLauncher")
    assert (launcher["gpus_per_node"], launcher["tasks_per_node"]) == (0, 1)
    assert (trainer["devices"], trainer["num_nodes"]) == (1, 1)
    trainer, _ = _trainer_under("hydra/launcher=local", "hydra.launcher.gpus_per_node=2")
    assert trainer["devices"] == 2
    trainer, _ = _trainer_under()  # Hydra's basic launcher: the trainer's own values
    assert (trainer["devices"], trainer["num_nodes"]) == (1, 1)
    trainer, _ = _trainer_under("trainer=ddp")
    assert trainer["devices"] == -1
    # composed outside a job (no Hydra config set): the trainer's own default
    assert compose_config("hydra/launcher=slurm").trainer.devices == 1


@pytest.mark.slow
def test_local_launcher_runs_a_two_job_sweep(demo_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    res = run_cli(
        "train",
        "-m",
        "hydra/launcher=local",
        *[a for a in tiny_train_args(demo_root, sweep) if not a.startswith("hydra.run")],
        f"hydra.sweep.dir={sweep}",
        "optimizer.lr=1e-3,2e-3",
        "debug=fast_dev_run",
        env={"OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert jobs == ["0", "1"]
    for job, lr in (("0", "0.001"), ("1", "0.002")):
        assert "test/DEMO-TE/max_f" in json.loads((sweep / job / "metrics.json").read_text())
        assert f"optimizer.lr={lr}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()
    # the sweep folder records the sweep; each job ran as its own submitit process
    assert "optimizer.lr=1e-3,2e-3" in (sweep / "multirun.yaml").read_text()
    logs = list((sweep / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2, logs
