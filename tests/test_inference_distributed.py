"""``predict`` and ``eval`` across processes (issue 24 part 3): the sharding and the launchers'
variables (fast), and 2 CPU processes over gloo against one process (slow): the same bytes in
every output, each output written once (every ``os.replace`` of every process logged by a
``sitecustomize`` on the children's path), the summary counting all of them."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ras_lightning.inference import distributed
from ras_lightning.inference.distributed import Group, first_host, launched_group, shard, unshard
from ras_lightning.inference.evaluation import merge_scores
from ras_lightning.metrics.scoring import score_folder
from ras_lightning.utils.errors import UserError
from tests.conftest import compose_config, run_cli, tiny_set, toy_maps, write_image


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 10])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_are_disjoint_cover_everything_and_unshard_to_the_order(n: int, world: int) -> None:
    items = [f"p{i:02d}" for i in range(n)]
    parts = [shard(items, r, world) for r in range(world)]
    assert sorted(x for p in parts for x in p) == items  # every item once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
    assert unshard(parts) == items


def test_shard_refuses_a_rank_outside_the_group() -> None:
    with pytest.raises(ValueError):
        shard([1, 2], 2, 2)


def test_shard_of_sorts_first() -> None:
    paths = [Path("b.jpg"), Path("a.jpg"), Path("c.jpg")]
    assert distributed.shard_of(paths, Group(0, 2)) == [Path("a.jpg"), Path("c.jpg")]
    assert distributed.shard_of(paths, Group(1, 2)) == [Path("b.jpg")]


def test_launchers_variables() -> None:
    assert launched_group({}) is None
    torchrun = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert launched_group(torchrun) == Group(3, 4, 1, 2)
    assert launched_group({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: alone
    srun = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_STEP_ID": "0",
        "SLURM_STEP_TASKS_PER_NODE": "4(x2)",
    }
    assert launched_group(srun) == Group(5, 8, 1, 4)
    # the batch script of an sbatch --ntasks=8 job is no member of a group (no job step)
    batch = {k: v for k, v in srun.items() if k != "SLURM_STEP_ID"}
    assert launched_group(batch) is None
    assert first_host("gpu[03-05,9],cpu1") == "gpu03" and first_host("n1,n2") == "n1"


def test_devices_setting_is_checked() -> None:
    for bad in (0, -1, "2", True):
        with pytest.raises(UserError, match="devices="):
            distributed.check_devices(bad, "cpu")
    assert distributed.check_devices(3, "cpu") == 3
    assert compose_config("weights=x", "input=x", "output=y", config="predict").devices == 1
    cfg = compose_config("weights=x", "output_dir=o", "devices=2", config="eval")
    assert cfg.devices == 2


def test_rank_settings_share_the_cores_and_keep_progress_on_rank_0() -> None:
    cfg = compose_config("weights=x", "output_dir=o", "device=cpu", config="eval")
    same = distributed.rank_settings(cfg, Group())
    assert same is cfg
    r1 = distributed.rank_settings(cfg, Group(1, 2, 1, 2))
    assert r1.threads >= 1 and r1.workers >= 1 and r1.progress is False
    assert distributed.rank_settings(cfg, Group(0, 2, 0, 2)).progress is True
    assert cfg.threads is None  # the caller's config is unchanged


def test_merged_parts_equal_the_whole_folder_to_the_bit(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=7)
    stems = sorted(p.stem for p in gt.iterdir())
    whole = score_folder(gt, pred, workers=1, progress=False, convention="f3net")
    parts = [
        score_folder(gt, pred, workers=1, progress=False, convention="f3net", only=set(s))
        for s in (shard(stems, r, 3) for r in range(3))
    ]
    merged = merge_scores(parts[::-1], "f3net")  # whatever order the parts come in
    assert merged is not None
    assert merged.metrics == whole.metrics and merged.images == whole.images
    assert merged.count == whole.count == 7
    for a, b in zip(merged.stats, whole.stats, strict=True):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert merge_scores([], "f3net") is None


# ---- 2 processes on the CPU (slow) -------------------------------------------------------

SITECUSTOMIZE = """
import os, sys
_log, _replace = os.environ.get("RAS_REPLACE_LOG"), os.replace
def _logged(src, dst, *a, **k):
    _replace(src, dst, *a, **k)
    with open(_log, "a") as f:
        f.write(f"{os.getpid()}\\t{os.path.abspath(dst)}\\n")
if _log:
    os.replace = _logged
"""


def _run_logged(tmp: Path, module: str, *args: str) -> tuple[str, Counter, set[str]]:
    """Run the CLI with every ``os.replace`` of every process logged: (output, destinations
    counted, process ids that wrote)."""
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp / f"replace_{len(list(tmp.glob('replace_*')))}.log"
    env = {
        "RAS_REPLACE_LOG": str(log),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    res = run_cli(module, *args, "progress=false", "threads=1", env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = [ln.split("\t") for ln in log.read_text().splitlines()] if log.is_file() else []
    return res.stdout + res.stderr, Counter(d for _, d in rows), {p for p, _ in rows}


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_eval_on_two_processes_equals_one_byte_for_byte(tiny_ckpt: Path, tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "data", n=7)  # 7 photos: shards of 4 and 3
    args = [f"weights={tiny_ckpt}", f"data.root={root}", "data.test_sets=[TINY]", "fps=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    _, _, _ = _run_logged(tmp_path, "eval", *args, f"output_dir={one}", "workers=1")
    text, writes, pids = _run_logged(tmp_path, "eval", *args, f"output_dir={two}", "devices=2")
    a, b = _files(one), _files(two)
    assert a.keys() == b.keys() and len([k for k in a if k.startswith("TINY/")]) == 7
    # the curves' zip holds the time it was written: its arrays are compared instead; the
    # report page names its folder and the files' times (two runs' pages always differ)
    npz = "per_image_curves.npz"
    differ = {k for k in a if a[k] != b[k] and not k.startswith("report")}
    assert differ <= {npz}, differ
    assert "report.html" in b
    with np.load(one / npz) as x, np.load(two / npz) as y:
        assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)
    json_one = json.loads((one / "metrics.json").read_text())
    assert (
        json_one["sets"]["TINY"] == json.loads((two / "metrics.json").read_text())["sets"]["TINY"]
    )
    mine = [d for d in writes if Path(d).is_relative_to(two.resolve())]
    assert sorted(mine) == sorted(str((two / k).resolve()) for k in b)  # every output ...
    assert all(writes[d] == 1 for d in mine), writes  # ... written exactly once
    assert len(pids) >= 2  # by more than one process (the maps split between them)
    assert text.count("max_f") >= 1


@pytest.mark.slow
def test_predict_on_two_processes_equals_one_and_counts_all(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    src = tmp_path / "photos"
    rng = np.random.default_rng(1)
    for i in range(5):
        write_image(src / f"p{i}.jpg", rng.integers(0, 255, (30 + i, 40, 3), np.uint8))
    (src / "notes.txt").write_text("not a photo")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    args = [f"weights={tiny_ckpt}", f"input={src}", "type=rgba"]
    out1, out2 = tmp_path / "one", tmp_path / "two"
    line1, _, _ = _run_logged(tmp_path, "predict", *args, f"output={out1}")
    line2, writes, pids = _run_logged(tmp_path, "predict", *args, f"output={out2}", "devices=2")
    assert _files(out1) == _files(out2) and len(_files(out2)) == 5
    summary = "predict: 5 written, 2 skipped (1 unreadable, 1 not an image or video) -> "
    assert f"{summary}{out1}" in line1
    assert line2.count(f"{summary}{out2}") == 1  # rank 0 alone prints the whole run's line
    mine = [d for d in writes if Path(d).is_relative_to(out2.resolve())]
    assert len(mine) == 5 and all(writes[d] == 1 for d in mine)
    assert len(pids) == 2


# ---- the checked fast GPU mode (issue 24 part 4c): its check, on the CPU -----------------


def _logits(seed: int, n: int = 2, size: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3, (n, 1, size, size)).astype(np.float32)


def test_map_drift_counts_gray_levels_of_the_saved_maps() -> None:
    from ras_lightning.inference.fast import map_drift

    a = _logits(0)
    assert map_drift(a, a.copy()) == 0
    b = a.copy()
    b[1, 0, 3, 4] += 5.0  # one pixel of one image far off
    assert map_drift(a, b) > 2


@pytest.mark.parametrize(
    ("noise", "state", "calls"),
    [(1e-5, "fast", [True]), (0.5, "plain", [True, False])],
)
def test_checked_fast_keeps_the_fast_path_only_within_two_levels(
    noise: float, state: str, calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ras_lightning.inference import fast as fast_mod

    tf32: list[bool] = []
    monkeypatch.setattr(fast_mod, "set_tf32", tf32.append)
    x = _logits(1)
    noisy = x + np.random.default_rng(2).normal(0, noise, x.shape).astype(np.float32)
    checked = fast_mod.CheckedFast(lambda t: t, lambda t: noisy)
    first = checked.run(x)
    assert checked.state == state and tf32[1 : 1 + len(calls)] == calls and tf32[0] is False
    # the first batch's maps are fp32's where the check failed, the fast ones where it passed
    assert np.array_equal(first, noisy if state == "fast" else x)
    assert np.array_equal(checked.run(x), noisy if state == "fast" else x)  # no recheck
    assert (checked.drift <= fast_mod.MAX_DRIFT) == (state == "fast")


def test_checked_fast_falls_back_when_the_fast_path_fails() -> None:
    from ras_lightning.inference import fast as fast_mod

    def broken(t: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    x = _logits(3)
    checked = fast_mod.CheckedFast(lambda t: t, broken)
    assert np.array_equal(checked.run(x), x) and checked.state == "plain"
    assert np.array_equal(checked.run(x), x)


def test_fast_mode_is_off_on_a_cpu_and_checked(tiny_ckpt: Path) -> None:
    from ras_lightning.inference.backends import make_predictor

    cfg = compose_config(f"weights={tiny_ckpt}", "input=x", "output=y", config="predict")
    assert cfg.fast == "auto"
    with pytest.raises(UserError, match="fast="):
        make_predictor(compose_config(f"weights={tiny_ckpt}", "input=x", "output=y", "fast=2",
                                      config="predict"))  # fmt: skip
    cpu = make_predictor(
        compose_config(
            f"weights={tiny_ckpt}",
            "input=x",
            "output=y",
            "backend=torch",
            "device=cpu",
            "fast=true",
            config="predict",
        )  # fmt: skip
    )
    assert cpu.fast is None and cpu.name == "PyTorch"  # today's CPU path, unchanged


@pytest.mark.slow
def test_an_error_in_the_processes_is_one_line_and_stops_them(tmp_path: Path) -> None:
    """Weights that cannot be read fail in every spawned process: the run ends with their one
    error line and exit status 1 (no hang, no traceback), nothing written."""
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(np.random.default_rng(0).bytes(256))
    src = tmp_path / "photos"
    for i in range(3):
        write_image(src / f"p{i}.jpg", np.full((20, 30, 3), 40 * i, np.uint8))
    res = run_cli(
        "predict", f"weights={bad}", f"input={src}", f"output={tmp_path / 'out'}",
        "backend=torch", "devices=2", timeout=300,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "bad.ckpt" in errors[0], res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_the_spawned_processes_get_the_config_resolved_where_it_resolves() -> None:
    from ras_lightning.inference.distributed import _plain

    cfg = compose_config("weights=w.pth", "output_dir=o", "data.root=/data", config="eval")
    plain = _plain(cfg)  # composed without Hydra's run settings: ${hydra:...} is left as is
    assert plain["data"]["root"] == "/data" and plain["devices"] == 1
    assert "${hydra:" in plain["paths"]["root_dir"]
