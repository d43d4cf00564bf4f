"""Sweeps past one process: Hydra's submitit launchers (``hydra/launcher=slurm|local``, the
trainer's devices following the GPUs requested) and Optuna studies kept in a storage that
several sweep processes share. Compositions in this process; sweeps through the real CLI,
under ``-m slow``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import OmegaConf

from ras_lightning.training.sweeps import ensure_study, sqlite_file, storage_url
from ras_lightning.utils.errors import UserError
from tests.conftest import REPO, compose_config, one_line, run_cli, tiny_train_args

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
    built = Trainer(accelerator="cpu", devices=trainer["devices"], logger=False)
    assert isinstance(built.strategy, DDPStrategy)  # (CPU processes here; GPUs on SLURM)
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


# A stand-in for SLURM on this machine: ``sbatch`` keeps the script it is given, answers with a
# job id and starts the array's tasks here in the background; ``srun`` waits for submitit's
# pickle of its task, then runs the command with its output where ``--output`` names;
# ``sacct`` knows no job (submitit then waits for the tasks' result files).
FAKE_SBATCH = r"""#!/bin/bash
set -e
id=$((100 + $(ls "$FAKE_SLURM" | wc -l)))
cp "$1" "$FAKE_SLURM/sbatch_$id.sh"
range=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\).*/\1 \2/p' "$1")
read lo hi <<< "${range:-x x}"
export SLURM_NTASKS=1 SLURM_JOB_NUM_NODES=1 SLURM_NODEID=0 SLURM_PROCID=0 SLURM_LOCALID=0
export SLURM_JOB_NODELIST=localhost SLURM_JOB_NAME=train
if [ "$lo" = x ]; then
  SLURM_JOB_ID=$id nohup bash "$1" > /dev/null 2>&1 &
else
  for i in $(seq "$lo" "$hi"); do
    SLURM_JOB_ID=$((id * 100 + i)) SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i \
      nohup bash "$1" > /dev/null 2>&1 &
  done
fi
echo "Submitted batch job $id"
"""
FAKE_SACCT = "#!/bin/bash\necho 'JobID|State|NodeList'\n"
FAKE_SRUN = r"""#!/bin/bash
out=/dev/null; err=/dev/null
while [ $# -gt 0 ]; do
  case "$1" in
    --unbuffered) shift ;;
    --output) out=$2; shift 2 ;;
    --error) err=$2; shift 2 ;;
    *) break ;;
  esac
done
job=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}
job=${job:-$SLURM_JOB_ID}
sub() {
  local s=${1//%A/$SLURM_ARRAY_JOB_ID}; s=${s//%a/$SLURM_ARRAY_TASK_ID}; s=${s//%t/0}
  echo "${s//%j/$job}"
}
out=$(sub "$out"); err=$(sub "$err"); folder=$(sub "${@: -1}")
mkdir -p "$(dirname "$out")"
for _ in $(seq 600); do [ -e "$folder/${job}_submitted.pkl" ] && break; sleep 0.2; done
"$@" >> "$out" 2>> "$err"
"""


@pytest.mark.slow
def test_slurm_launcher_submits_the_sweep_as_one_array(demo_root: Path, tmp_path: Path) -> None:
    """``hydra/launcher=slurm`` against a stand-in ``sbatch``/``srun``: the script carries the
    documented settings, and both jobs of the array run and leave their metrics."""
    bin_dir, record, sweep = tmp_path / "bin", tmp_path / "slurm", tmp_path / "sweep"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    res = run_cli(
        "train",
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=debugq",
        "hydra.launcher.cpus_per_task=2",
        "hydra.launcher.mem_gb=3",
        "hydra.launcher.timeout_min=30",
        "hydra.launcher.array_parallelism=1",
        *[a for a in tiny_train_args(demo_root, sweep) if not a.startswith("hydra.run")],
        f"hydra.sweep.dir={sweep}",
        "optimizer.lr=1e-3,2e-3",
        "debug=fast_dev_run",
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_SLURM": str(record),
            "OMP_NUM_THREADS": "1",
        },
    )
    assert res.returncode == 0, res.stderr[-3000:]
    [script] = [p.read_text() for p in record.glob("sbatch_*.sh")]  # one array, not two jobs
    for flag in (
        "--array=0-1%1",
        "--partition=debugq",
        "--gpus-per-node=1",
        "--ntasks-per-node=1",
        "--cpus-per-task=2",
        "--mem=3GB",
        "--time=30",
    ):
        assert f"#SBATCH {flag}\n" in script, flag
    for job in ("0", "1"):
        assert "test/DEMO-TE/max_f" in json.loads((sweep / job / "metrics.json").read_text())
    # each array task's output where SLURM puts it: .submitit/<array id>_<task>/
    assert len(list((sweep / ".submitit").glob("*_[01]/*_[01]_0_log.out"))) == 2


def test_study_storage_is_a_database_url() -> None:
    assert storage_url(None) is None
    assert storage_url("sqlite:///logs/optuna/ras.db") == "sqlite:///logs/optuna/ras.db"
    with pytest.raises(UserError) as err:
        storage_url("logs/ras.db")
    assert one_line(err).startswith("hydra.sweeper.storage=logs/ras.db: not a database URL")
    with pytest.raises(UserError, match="journal file storage needs Optuna >= 3.1"):
        storage_url("logs/ras.log")
    assert sqlite_file("sqlite:///logs/a.db") == Path("logs/a.db")
    assert sqlite_file("sqlite:////abs/a.db") == Path("/abs/a.db")
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://host/db") is None


def test_study_is_created_once_and_reported_from_its_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/studies/ras.db"  # the folder is made for it
    sweep = tmp_path / "sweep"
    cfg = compose_config(
        "hparams_search=optuna",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.study_name=lr",
        f"hydra.sweep.dir={sweep}",
        return_hydra_config=True,
    )
    callback = instantiate(cfg.hydra.callbacks.optuna_study)  # as Hydra builds it
    callback.on_multirun_start(cfg)
    callback.on_multirun_start(cfg)  # a second process: loads the study, adds none
    assert optuna.study.get_all_study_summaries(url)[0].study_name == "lr"
    assert len(optuna.study.get_all_study_summaries(url)) == 1
    # trials of "other processes": three told, one still running
    study = optuna.load_study(study_name="lr", storage=url)
    for value in (0.3, 0.7, 0.5):
        trial = study.ask()
        trial.suggest_float("optimizer.lr", 1e-4, 3e-3)
        study.tell(trial, value)
    study.ask()
    callback.on_multirun_end(cfg)
    summary = yaml.safe_load((sweep / "study.yaml").read_text())
    assert summary["study_name"] == "lr" and summary["storage"] == url
    assert summary["trials"] == 4 and summary["states"] == {"COMPLETE": 3, "RUNNING": 1}
    assert summary["best_trial"]["number"] == 1 and summary["best_trial"]["value"] == 0.7
    assert summary["best_trial"]["params"] == study.trials[1].params
    # the study exists with another direction: one line, not a traceback
    with pytest.raises(UserError, match="study lr in sqlite:///"):
        ensure_study(url, "lr", ["minimize"])


def _optuna_sweep(
    demo_root: Path, sweep: Path, url: str, seed: int, trials: int
) -> subprocess.Popen:
    """A tiny Optuna sweep process adding ``trials`` trials to the study ``shared``."""
    tiny = [a for a in tiny_train_args(demo_root, sweep) if not a.startswith("hydra.run")]
    args = [
        "-m",
        "hparams_search=optuna",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.study_name=shared",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.sampler.seed={seed}",
        *tiny,
        f"hydra.sweep.dir={sweep}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "test=false",
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ras_lightning.train", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a test can kill the whole sweep
    )


def _finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]


@pytest.mark.slow
def test_two_sweep_processes_share_one_study_and_a_third_continues_it(
    demo_root: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    sweeps = [tmp_path / f"sweep{i}" for i in range(3)]
    both = [_optuna_sweep(demo_root, sweeps[i], url, seed=i, trials=2) for i in range(2)]
    for proc in both:
        _finish(proc)
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    # every job of both processes is one trial of the study, and every trial one job
    key = "val/DEMO-VAL/max_f"
    matched = []
    for sweep in sweeps[:2]:
        assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1"]
        for job in ("0", "1"):
            value = json.loads((sweep / job / "metrics.json").read_text())[key]
            overrides = yaml.safe_load((sweep / job / ".hydra" / "overrides.yaml").read_text())
            lr = next(float(o.split("=")[1]) for o in overrides if o.startswith("optimizer.lr="))
            found = [
                t.number
                for t in study.trials
                if t.value == value and t.params["optimizer.lr"] == lr
            ]
            assert len(found) == 1, (sweep, job, found)
            matched += found
    assert sorted(matched) == [0, 1, 2, 3]
    # the report comes from the storage: the process that ended last saw all four trials
    best = max(study.trials, key=lambda t: t.value)
    reports = [yaml.safe_load((s / "study.yaml").read_text()) for s in sweeps[:2]]
    full = [r for r in reports if r["states"] == {"COMPLETE": 4}]
    assert full and full[0]["best_trial"]["number"] == best.number
    # a later sweep (a stopped one run again) continues the same study
    _finish(_optuna_sweep(demo_root, sweeps[2], url, seed=2, trials=1))
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    report = yaml.safe_load((sweeps[2] / "study.yaml").read_text())
    assert report["trials"] == 5 and report["states"] == {"COMPLETE": 5}


@pytest.mark.slow
def test_a_killed_sweep_is_resumed_from_its_study(demo_root: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    proc = _optuna_sweep(demo_root, tmp_path / "first", url, seed=0, trials=3)
    try:  # killed (as a node going down) once its first trial is done and its second begun
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            names = [s.study_name for s in optuna.study.get_all_study_summaries(url)]
            trials = optuna.load_study(study_name="shared", storage=url).trials if names else []
            if len(trials) >= 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before it could be stopped"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    stopped = optuna.load_study(study_name="shared", storage=url).trials
    assert [t.state.name for t in stopped] == ["COMPLETE", "RUNNING"]
    # the same command again: the study goes on from the trials it holds
    _finish(_optuna_sweep(demo_root, tmp_path / "again", url, seed=1, trials=1))
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING", "COMPLETE"]
    assert study.trials[0].value == stopped[0].value
    report = yaml.safe_load((tmp_path / "again" / "study.yaml").read_text())
    assert report["states"] == {"COMPLETE": 2, "RUNNING": 1}
    best = max((t for t in study.trials if t.value is not None), key=lambda t: t.value)
    assert report["best_trial"]["number"] == best.number
