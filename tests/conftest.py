"""Shared fixtures and helpers: the read-only ../shared folder, tiny demo data, tiny photos
and masks written to disk, seeded weights in the authors' layout, composed configs, the
commands run in this process (:func:`run_command`, as ``make test`` runs them), one tiny
trained checkpoint for the session (:func:`tiny_ckpt`), and the real CLI in subprocesses
(:func:`run_cli`, for the smoke tests and the ``slow`` set)."""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image

import ras_lightning.utils.resolvers  # noqa: F401  (config resolvers for compose())

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
SOD_DIR = SHARED / "data" / "SOD"
ECSSD_DIR = SHARED / "data" / "ECSSD-100"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

#: train overrides for a tiny CPU run on ``demo_root``: ResNet-18 at 64 px, batches of 4, no
#: "best" checkpoint callback (last.ckpt is the run's checkpoint)
TINY = [
    "data.demo=false",
    "data.image_size=64",
    "data.batch_size=4",
    "data.eval_batch_size=6",
    "trainer.accelerator=cpu",
    "model/backbone=resnet18",
    "callbacks.model_checkpoint=null",
]


def manifest(version: str) -> dict:
    path = REFERENCE / f"ras_{version}_official_state_dict.json"
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared is absent in a user's clone)")
    return json.loads(path.read_text())


def seeded_official_state(version: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the authors' layout built from the manifest alone (seeded tensors)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in manifest(version)["state_dict"].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state


def save_seeded_official(
    path: Path, version: str, seed: int = 0, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Write seeded weights in the authors' ``RAS.vN.pth`` layout (``prefix="module."`` as
    their DataParallel checkpoints) to ``path``; returns the state without the prefix."""
    state = seeded_official_state(version, seed)
    torch.save({prefix + k: v for k, v in state.items()}, path)
    return state


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ONNX cache of the CPU inference path (``RAS_LIGHTNING_CACHE``, inherited by every
    CLI run) in a temporary folder, never the user's cache; shared by the whole session."""
    folder = tmp_path_factory.mktemp("onnx_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAS_LIGHTNING_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for one test module's shared runs, removed when the module is done: pytest
    keeps ``mktemp`` folders to the end of the session, and tiny runs' checkpoints are large."""
    folder = tmp_path_factory.mktemp("module")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo dataset (same generator as the default run, fewer scenes)."""
    from ras_lightning.data.demo import make_demo_data

    root = tmp_path_factory.mktemp("demo")
    return make_demo_data(root, {"DEMO-TR": 24, "DEMO-VAL": 6, "DEMO-TE": 7})


def run_cli(
    module: str,
    *args: str,
    cwd: Path | None = None,
    timeout: int = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m ras_lightning.<module> args`` in a subprocess (the real CLI)."""
    full_env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "WANDB_MODE": "offline",
        "PYTHONWARNINGS": "ignore",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", f"ras_lightning.{module}", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def tiny_train_args(demo_root: Path, run_dir: Path, *extra: str, best: bool = False) -> list[str]:
    """``train`` arguments for a tiny CPU run on ``demo_root`` writing into ``run_dir``;
    ``best=True`` keeps the "best" checkpoint callback (for tests about it)."""
    tiny = [a for a in TINY if a != "callbacks.model_checkpoint=null"] if best else TINY
    return [f"data.root={demo_root}", f"hydra.run.dir={run_dir}", *tiny, *extra]


@functools.lru_cache(maxsize=256)
def _composed(config: str, overrides: tuple[str, ...], return_hydra_config: bool) -> DictConfig:
    from ras_lightning import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config, overrides=list(overrides), return_hydra_config=return_hydra_config)


def compose_config(
    *overrides: str, config: str = "train", return_hydra_config: bool = False
) -> DictConfig:
    """The config ``config`` (``train``, ``predict``, ...) composed with ``overrides`` from the
    package's config folder, as its entry point composes it (each distinct composition once
    per session; a fresh copy is returned)."""
    return copy.deepcopy(_composed(config, tuple(overrides), return_hydra_config))


def run_command(command: str, *overrides: str, run_dir: Path | None = None) -> Any:
    """``ras_lightning.<command>.run(cfg)`` in this process, on the config its entry point
    composes from ``overrides``, with what Hydra's job runner sets around it: the run folder
    (``run_dir``, else the config's ``hydra.run.dir``) as ``hydra:runtime.output_dir`` and the
    working folder as ``hydra:runtime.cwd``. Errors come out as raised (``UserError`` ...),
    not as the command's one-line exit."""
    cfg = compose_config(*overrides, config=command, return_hydra_config=True)
    out = Path(run_dir) if run_dir is not None else Path(str(cfg.hydra.run.dir))
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out.resolve())
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.set_struct(task, True)
    # seed_everything leaves PL_GLOBAL_SEED / PL_SEED_WORKERS in the environment, which a
    # later run without a seed would inherit; each run starts from the session's environment
    pl_env = {k: v for k, v in os.environ.items() if k.startswith("PL_")}
    try:
        return importlib.import_module(f"ras_lightning.{command}").run(task)
    finally:
        HydraConfig.instance().cfg = None
        for key in [k for k in os.environ if k.startswith("PL_")]:
            del os.environ[key]
        os.environ.update(pl_env)


@pytest.fixture
def command_output(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[[], str]:
    """What the commands run in process (:func:`run_command`) printed (stdout, stderr) and
    logged (INFO and up) since the last call: the text the CLI would show, to assert on."""
    caplog.set_level(logging.INFO)

    def read() -> str:
        out = capsys.readouterr()
        text = out.out + out.err + caplog.text
        caplog.clear()
        return text

    return read


def tiny_train(demo_root: Path, run_dir: Path, *extra: str, best: bool = False) -> Any:
    """A tiny CPU training run (:data:`TINY`) on ``demo_root`` into ``run_dir``, in process;
    returns ``train.run``'s value (``best``: as :func:`tiny_train_args`)."""
    args = tiny_train_args(demo_root, run_dir, *extra, best=best)
    return run_command("train", *args, run_dir=run_dir)


@pytest.fixture(scope="session")
def tiny_ckpt(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one trained checkpoint of ours: one tiny epoch (ResNet-18, 64 px, two
    batches, v1 recipe as the demo data) through ``train.run``; for the inference, export and
    eval tests. Read it, never write next to it."""
    run = tmp_path_factory.mktemp("tiny_run")
    tiny_train(
        demo_root,
        run,
        "trainer.max_epochs=1",
        "test=false",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
    )
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file(), f"the tiny run wrote no {ckpt}"
    return ckpt


def write_image(path: Path, array: np.ndarray) -> Path:
    """Save a uint8 array (H, W) or (H, W, 3) as an image, creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def toy_maps(
    root: Path, n: int = 6, ext: str = ".png", size: tuple[int, int] = (40, 30)
) -> tuple[Path, Path]:
    """``root/gt`` with ``n`` 40x30 rectangle masks and ``root/pred`` with noisy maps of them
    (resized to ``size``, saved as ``ext``)."""
    rng = np.random.default_rng(0)
    gt, pred = root / "gt", root / "pred"
    gt.mkdir(parents=True)
    pred.mkdir(parents=True)
    for i in range(n):
        m = np.zeros((30, 40), np.uint8)
        m[5 + i : 20, 8 : 30 - i] = 255
        Image.fromarray(m).save(gt / f"img{i}.png")
        noisy = np.clip(m * 0.8 + rng.normal(0, 30, m.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).resize(size).save(pred / f"img{i}{ext}")
    return gt, pred


def mixed_photos(tmp_path: Path) -> Path:
    """``tmp_path/photos``: a colour JPEG, a gray PNG, an upper-case ``.JPG`` in a sub-folder,
    a text file and a broken JPEG (what ``predict`` must read, skip or report)."""
    src = tmp_path / "photos"
    rng = np.random.default_rng(0)
    write_image(src / "a.jpg", rng.integers(0, 255, (50, 70, 3), np.uint8))
    write_image(src / "gray.png", rng.integers(0, 255, (40, 30), np.uint8))
    write_image(src / "sub" / "b.JPG", rng.integers(0, 255, (33, 44, 3), np.uint8))
    (src / "notes.txt").write_text("not a photo")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    return src


def one_line(err: pytest.ExceptionInfo | BaseException) -> str:
    """The message of a raised error, which the CLI prints as its one ``error:`` line."""
    msg = str(err.value if isinstance(err, pytest.ExceptionInfo) else err)
    assert "\n" not in msg.strip(), msg
    return msg


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: a hash of its bytes and its modification time (inputs
    must stay unchanged)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def tiny_set(root: Path, n: int = 4) -> Path:
    """``root/TINY/{images,masks}``: ``n`` 48x64 JPEG photos with rectangle masks."""
    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros((48, 64), np.uint8)
        mask[8 + i : 40, 10 + 2 * i : 50] = 255
        photo = rng.integers(0, 80, (48, 64, 3), np.uint8)
        photo[mask > 0] += 150
        write_image(root / "TINY" / "images" / f"p{i}.jpg", photo)
        write_image(root / "TINY" / "masks" / f"p{i}.png", mask)
    return root


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A small valid PNG whose IHDR claims ``width`` x ``height`` (its CRC fixed): a
    decompression bomb by its header, without the allocation."""
    write_image(path, np.zeros((8, 8), np.uint8))
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path
