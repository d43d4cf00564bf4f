"""Shared fixtures: the read-only ../shared folder, tiny demo data, subprocess helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import ras_lightning.utils.resolvers  # noqa: F401  (config resolvers for compose())

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
SOD_DIR = SHARED / "data" / "SOD"
ECSSD_DIR = SHARED / "data" / "ECSSD-100"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ONNX cache of the CPU inference path (``RAS_LIGHTNING_CACHE``, inherited by every
    CLI run) in a temporary folder, never the user's cache; shared by the whole session."""
    folder = tmp_path_factory.mktemp("onnx_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAS_LIGHTNING_CACHE", str(folder))
        yield folder


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
