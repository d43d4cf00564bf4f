"""The package installs: a wheel built from the sources, installed into a fresh virtual
environment (not the editable install of the repository), runs its console scripts from a
folder outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from ras_lightning import CONFIG_DIR
from ras_lightning.metrics import METRIC_NAMES
from tests.conftest import REPO, tiny_train_args, toy_maps, write_image

# a wheel build and fresh virtual environments: the slow set (.ci/run, make test-all)
pytestmark = pytest.mark.slow

SCRIPTS = ("train", "eval", "predict", "score", "export", "benchmark", "compare", "audit")


def _run(cmd: list[str | Path], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    # no PYTHONPATH and a working folder outside the repository: only what the fresh
    # environment holds can be imported
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="2", WANDB_MODE="offline", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the sources (no build/ left in the repository)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "ras_lightning", src / "ras_lightning", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    res = _run([*cmd, "--no-index", "-w", dist, src], cwd=dist)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (whl,) = dist.glob("ras_lightning-*.whl")
    return whl


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed; the dependencies (torch, ...) come
    from this environment's site-packages through a ``.pth`` line, so nothing is downloaded."""
    env = tmp_path_factory.mktemp("fresh") / "venv"
    res = _run([sys.executable, "-m", "venv", "--without-pip", env], cwd=env.parent)
    assert res.returncode == 0, res.stderr
    python = env / "bin" / "python"
    # installed before the .pth exists, so pip does not see the repository's editable install
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index"]
    res = _run([*pip, wheel], cwd=env.parent)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    res = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env)
    site = Path(res.stdout.strip())
    # a plain path line: the editable finder's own .pth in that folder is not processed
    deps = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    return env


def test_wheel_ships_every_config_and_the_console_scripts(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = z.read(entry_points).decode()
    shipped = {n for n in names if n.startswith("ras_lightning/conf/") and n.endswith(".yaml")}
    expected = {
        f"ras_lightning/conf/{p.relative_to(CONFIG_DIR)}" for p in CONFIG_DIR.rglob("*.yaml")
    }
    assert shipped == expected and len(expected) > 30
    for verb in SCRIPTS:
        assert f"ras-{verb} = ras_lightning.{verb}:main" in scripts


def test_installed_wheel_runs_from_outside_the_repository(
    fresh: Path, demo_root: Path, tmp_path: Path
) -> None:
    bin_dir = fresh / "bin"
    work = tmp_path / "elsewhere"  # the working folder: no conf/, no ras_lightning/ here
    work.mkdir()
    res = _run([bin_dir / "python", "-c", "import ras_lightning as r; print(r.CONFIG_DIR)"], work)
    assert res.returncode == 0, res.stderr[-2000:]
    config_dir = Path(res.stdout.strip())
    assert config_dir.is_relative_to(fresh) and (config_dir / "train.yaml").is_file()

    gt, pred = toy_maps(tmp_path / "toy")
    res = _run([bin_dir / "ras-score", f"gt_dir={gt}", f"pred_dir={pred}", "output_dir=out"], work)
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((work / "out" / "metrics.json").read_text())
    assert metrics.pop("convention") == "pysodmetrics"  # recorded beside the metrics (README)
    assert list(metrics) == list(METRIC_NAMES) and metrics["max_f"] > 0.8

    # overrides compose as with `python -m ras_lightning.train`
    res = _run([bin_dir / "ras-train", "strategy=v1", "optimizer.lr=0.125", "--cfg", "job"], work)
    assert res.returncode == 0, res.stderr[-2000:]
    job = yaml.safe_load(res.stdout)
    assert job["model"]["version"] == "v1" and job["optimizer"]["lr"] == 0.125

    # a real (one-batch) training run; hydra.run.dir moves the run folder
    run = tmp_path / "run"
    res = _run(
        [bin_dir / "ras-train", *tiny_train_args(demo_root, run, "debug=fast_dev_run")], work
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert 0 <= json.loads((run / "metrics.json").read_text())["test/DEMO-TE/max_f"] <= 1
    assert not (work / "logs").exists()

    # every console script is installed and answers --help with its own config
    res = _run([bin_dir / "ras-predict", "--help"], work)
    # the command's own help template, shipped in the wheel's conf/hydra/help
    assert res.returncode == 0 and res.stdout.startswith("ras-predict (python -m"), res.stdout
    assert "weights=PATH" in res.stdout and "optimizer" not in res.stdout
    for verb in SCRIPTS:
        assert (bin_dir / f"ras-{verb}").is_file(), verb


def test_bad_setting_is_one_line_from_a_console_script(fresh: Path, tmp_path: Path) -> None:
    photo = write_image(tmp_path / "in" / "photo.png", np.zeros((8, 8, 3), np.uint8))
    cmd = [fresh / "bin" / "ras-predict", "weights=/no/such.pth", f"input={photo}", "output=out"]
    res = _run(cmd, tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "error: weights: no such file: /no/such.pth"
