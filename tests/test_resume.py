"""Resume and checkpoints: exact resume, extending a finished run and bad settings as one
line naming the key (in this process, ``train.run``); SIGTERM and a kill while saving (atomic
checkpoint files) through the real CLI, under ``-m slow``."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
import torch

from ras_lightning.training.config_checks import check_group_choices, conf_dir
from ras_lightning.utils.errors import UserError
from tests.conftest import REPO, run_cli, run_command, tiny_train, tiny_train_args

# a tiny network and tiny images: the runs are about the loop, not the accuracy
SMALL = [
    "model/backbone=resnet18",
    "data.image_size=32",
    "data.batch_size=2",
    "data.eval_batch_size=4",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
]


def _train(demo_root: Path, run: Path, *extra: str) -> None:
    tiny_train(demo_root, run, *SMALL, *extra)


def _state(run: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ck["state_dict"]


def _lrs(run: Path) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv") as f:
        return {int(r["epoch"]): float(r["train/lr"]) for r in csv.DictReader(f) if r["train/lr"]}


@contextmanager
def _logged() -> Iterator[StringIO]:
    """What the package logs (INFO and up) while in the block (a run's ``train.log``)."""
    text = StringIO()
    logger, handler = logging.getLogger("ras_lightning"), logging.StreamHandler(text)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield text
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


_KILL_DURING_LAST = """
import io, os, sys, torch
real_save = torch.save

def save(obj, f, *args, **kwargs):
    name = str(getattr(f, "name", f))
    with open(os.environ["SAVE_LOG"], "a") as log:
        log.write(name + "\\n")
    if name.endswith("last.ckpt") or ".last.ckpt.tmp-" in name:
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])  # half of it, then killed
        f.flush()
        os._exit(137)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
from ras_lightning.train import main
sys.argv = ["ras-train", *sys.argv[1:]]
main()
"""


def _killed_while_saving(demo_root: Path, run: Path, ckpt: Path, tmp: Path) -> dict:
    """Resume ``ckpt`` into ``run`` (whose last.ckpt is a copy of it), killed half-way
    through writing the new last.ckpt; what the kill left behind."""
    ckpts = run / "checkpoints"
    ckpts.mkdir(parents=True)
    shutil.copy(ckpt, ckpts / "last.ckpt")
    temp_dir, save_log = tmp / "system-temp", tmp / "saves.txt"
    temp_dir.mkdir()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "PYTHONWARNINGS": "ignore",
        "TMPDIR": str(temp_dir),
        "SAVE_LOG": str(save_log),
    }
    args = tiny_train_args(demo_root, run, *SMALL, "trainer.max_epochs=2", f"ckpt_path={ckpt}")
    res = subprocess.run(
        [sys.executable, "-c", _KILL_DURING_LAST, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {
        "returncode": res.returncode,
        "stderr": res.stderr,
        "written": [Path(p) for p in save_log.read_text().split()] if save_log.exists() else [],
        "last_intact": (ckpts / "last.ckpt").read_bytes() == ckpt.read_bytes(),
        "temp_dir": list(temp_dir.iterdir()),
        "orphans": list(ckpts.glob(".*.tmp-*")),
    }


@pytest.fixture(scope="module")
def runs(demo_root: Path, module_tmp: Path) -> dict:
    """A straight 2-epoch run; a 1-epoch run; that run extended to 2 epochs (and what the
    package logged while extending it)."""
    straight, one, resumed = module_tmp / "straight", module_tmp / "one", module_tmp / "resumed"
    _train(demo_root, straight, "trainer.max_epochs=2")
    _train(demo_root, one, "trainer.max_epochs=1", "test=false")
    last = one / "checkpoints" / "last.ckpt"
    with _logged() as log:
        _train(demo_root, resumed, "trainer.max_epochs=2", f"ckpt_path={last}")
    return {"straight": straight, "one": one, "resumed": resumed, "log": log.getvalue()}


def test_resume_after_an_epoch_equals_the_straight_run(runs: dict[str, Path]) -> None:
    # data order, augmentation seeds and the global random states all come back
    a, b = _state(runs["straight"]), _state(runs["resumed"])
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"
    ma = json.loads((runs["straight"] / "metrics.json").read_text())
    mb = json.loads((runs["resumed"] / "metrics.json").read_text())
    assert any(k.startswith("val/") for k in ma) and any(k.startswith("test/") for k in ma)
    for key, value in ma.items():
        assert mb[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_equals_the_straight_run(
    demo_root: Path, tmp_path: Path, runs: dict[str, Path]
) -> None:
    # SIGTERM after global step 3 = the first of epoch 1's two batches: interrupted.ckpt is
    # saved mid-epoch; the resumed run trains only epoch 1's second batch, then tests
    killed, resumed = tmp_path / "killed", tmp_path / "resumed"
    kill = ["+callbacks.kill._target_=tests.stop_callbacks.SigtermAtStep", "+callbacks.kill.step=3"]
    res = run_cli(
        "train", *tiny_train_args(demo_root, killed, *SMALL, "trainer.max_epochs=2", *kill)
    )
    assert res.returncode != 0
    ckpt = killed / "checkpoints" / "interrupted.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 3
    _train(demo_root, resumed, "trainer.max_epochs=2", f"ckpt_path={ckpt}")
    a, b = _state(runs["straight"]), _state(resumed)
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"
    ma = json.loads((runs["straight"] / "metrics.json").read_text())
    mb = json.loads((resumed / "metrics.json").read_text())
    assert ma.keys() == mb.keys()
    for key, value in ma.items():
        assert mb[key] == pytest.approx(value, abs=1e-6), key


def test_extending_a_finished_run_replans_the_lr_schedule(runs: dict) -> None:
    # the 1-epoch run's cosine ends at lr 0; extended to 2 epochs, epoch 1 trains at the
    # lr of a 2-epoch plan (the straight run's), not at 0
    one = torch.load(runs["one"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert one["optimizer_states"][0]["param_groups"][-1]["lr"] == 0.0
    lr = _lrs(runs["resumed"])[1]
    assert lr > 0
    assert lr == pytest.approx(_lrs(runs["straight"])[1], rel=1e-6)
    assert "re-planned for 2" in runs["log"]  # (in train.log: the slow test below)


@pytest.mark.slow
def test_a_kill_while_saving_leaves_the_previous_checkpoint(
    demo_root: Path, tmp_path: Path, runs: dict
) -> None:
    resumed, last = tmp_path / "resumed", runs["one"] / "checkpoints" / "last.ckpt"
    killed, ckpts = (
        _killed_while_saving(demo_root, resumed, last, tmp_path),
        resumed / "checkpoints",
    )
    assert killed["returncode"] == 137, killed["stderr"][-3000:]
    # the write went to a temporary file in the checkpoint's own folder, renamed only when
    # complete: the kill left the previous last.ckpt whole, and nothing in the temp folder
    # (torch keeps its compiler cache folder there; no checkpoint bytes may be)
    written = [p for p in killed["written"] if "last.ckpt" in p.name]
    assert written and all(
        p.parent == ckpts and p.name.startswith(".last.ckpt.tmp-") for p in written
    )
    assert killed["last_intact"]
    assert not [p for p in killed["temp_dir"] if not p.name.startswith("torchinductor")]
    assert killed["orphans"], "the killed write's temporary file stays where it was written"
    # the next run in that folder (the real CLI) removed the dead run's temporary file, saved
    # its own and logged the schedule's re-plan to its train.log
    res = run_cli(
        "train",
        *tiny_train_args(demo_root, resumed, *SMALL, "trainer.max_epochs=2", f"ckpt_path={last}"),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert not list(ckpts.glob(".*.tmp-*"))
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 1
    assert "re-planned for 2" in (resumed / "train.log").read_text()


def _bad_value_files(tmp_path: Path) -> dict[str, str]:
    """Bad ``train`` values -> what their one line must say (after naming the key)."""
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(1000)}, "epoch": 0}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:600])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"conv.weight": torch.zeros(3)}}, foreign)
    (tmp_path / "empty.ckpt").touch()
    return {
        "optimizer.lr=-1": "optimizer.lr",
        "optimizer.lr=0": "optimizer.lr",
        "optimizer.lr=abc": "optimizer.lr",
        "data.batch_size=0": "data.batch_size",
        "data.batch_size=-2": "data.batch_size",
        "data.image_size=0": "data.image_size",
        "trainer.max_epochs=0": "trainer.max_epochs",
        f"ckpt_path={tmp_path / 'missing.ckpt'}": "no such file",
        f"ckpt_path={tmp_path / 'empty.ckpt'}": "empty",
        f"ckpt_path={truncated}": "truncated",
        f"ckpt_path={foreign}": "not a checkpoint of a ras-lightning training run",
    }


# config-group choices that do not exist: checked before Hydra composes (train.main)
BAD_CHOICES = {
    "strategy=v3": "demo, v1, v2",
    "model/backbone=resnet15": "resnet101, resnet18, resnet34, resnet50",
}


def test_bad_values_are_one_line_naming_the_key(tmp_path: Path) -> None:
    # data.root does not exist: each value is reported (UserError, not the DataError of the
    # missing folder) before any data is looked at
    base = [f"data.root={tmp_path / 'no-data'}"]
    for case, expected in _bad_value_files(tmp_path).items():
        with pytest.raises(UserError) as err:
            run_command("train", *base, case, run_dir=tmp_path / "run")
        lines = str(err.value).strip().splitlines()
        key = case.split("=")[0]
        assert len(lines) == 1 and key in lines[0] and expected in lines[0], (case, lines)
    for case, expected in BAD_CHOICES.items():
        with pytest.raises(UserError) as err:
            check_group_choices([*base, case], conf_dir())
        lines = str(err.value).strip().splitlines()
        assert len(lines) == 1 and case.split("=")[0] in lines[0], (case, lines)
        assert expected in lines[0], (case, lines)


@pytest.mark.slow
def test_bad_values_are_one_line_from_the_cli(tmp_path: Path) -> None:
    # through `python -m ras_lightning.train`, one of each kind (a value, a group choice)
    base = [f"data.root={tmp_path / 'no-data'}", f"hydra.run.dir={tmp_path / 'run'}"]
    for case in ("optimizer.lr=abc", "strategy=v3"):
        res = run_cli("train", *base, case)
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert res.returncode == 1 and len(lines) == 1 and "Traceback" not in res.stderr
        assert case in lines[0] or case.split("=")[0] in lines[0], lines
