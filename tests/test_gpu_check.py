"""``benchmarks/gpu_check.py`` at toy sizes on the CPU, so the GPU check cannot rot.

The whole check runs once (``--device cpu --quick``: every stage in its own process, 64 px,
a few steps, two epochs of a small demo set made under the test's tmp folder); then every
stage's fields are checked for sane values. Smaller tests: the stage time limit, the
torch.compile watchdog, the markdown of a stored real run, and the offline-install planner
(``benchmarks/gpu_install.py``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
# what a run could leave in the repository if it wrote outside its folders
REPO_OUTPUTS = ("data", "logs", "outputs", "multirun", "lightning_logs", "wandb", ".gpu_wheels")


def _check(out: Path, work: Path, *args: str, timeout: int = 300):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--work", str(work), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _pos(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, float]:
    tmp = tmp_path_factory.mktemp("gpu_check")
    before = {name: (REPO / name).exists() for name in REPO_OUTPUTS}
    start = time.perf_counter()
    res = _check(tmp / "out", tmp / "work", "--device", "cpu", "--quick")
    seconds = time.perf_counter() - start
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # nothing was written into the repository (demo data, runs: all under --work)
    assert {name: (REPO / name).exists() for name in REPO_OUTPUTS} == before
    report = json.loads((tmp / "out" / "gpu_check.json").read_text())
    return report, tmp, seconds


@pytest.mark.slow
def test_every_stage_ran_or_was_skipped_as_expected(quick_run) -> None:
    report, _, _ = quick_run
    status = {name: st["status"] for name, st in report["stages"].items()}
    expected_ok = [
        "env",
        "fps_authors_v1",
        "fps_authors_v2",
        "fps_ours",
        "train_v2_amp",
        "train_v2_fp32",
        "train_v1_fp32",
        "demo_data",
        "e2e_train",
        "eval",
    ]
    for name in expected_ok:
        assert status.get(name) == "ok", (name, report["stages"].get(name))
    assert status["ddp"] == "skipped: cpu"
    assert status["compile_v2"] == status["compile_v1"] == "skipped: quick mode"
    assert report["install"]["status"].startswith("skipped")
    assert report["mode"]["device"] == "cpu" and report["mode"]["quick"] is True
    for name in expected_ok:
        st = report["stages"][name]
        assert 0 < st["seconds"] <= st["limit_s"], (name, st)


@pytest.mark.slow
def test_environment_fields(quick_run) -> None:
    env = quick_run[0]["stages"]["env"]["result"]
    assert env["torch"] and env["python"].count(".") == 2
    assert env["card"].startswith("CPU: ") and quick_run[0]["card"] == env["card"]
    assert env["gpu_count"] == 0 and env["versions"]["lightning"]
    assert env["versions"]["hydra-core"] and env["versions"]["torchmetrics"]


@pytest.mark.slow
def test_fps_fields(quick_run) -> None:
    stages = quick_run[0]["stages"]
    for v, paper in (("v1", 94.0), ("v2", 110.0)):
        a = stages[f"fps_authors_{v}"]["result"]
        assert a["version"] == v and a["images"] == 3 and a["size"] == 64
        assert _pos(a["fps"]) and _pos(a["fps_without_first"]) and _pos(a["first_image_ms"])
        assert a["paper_fps_2080ti"] == paper and "no warm-up" in a["protocol"]
        o = stages["fps_ours"]["result"][v]
        for key in ("eager_fp32_warm_fps", "fp32_fps", "amp_fps", "batched_amp_images_per_s"):
            assert _pos(o[key]), (v, key, o)
        # BatchNorm folding keeps the maps (sigmoid outputs) to float rounding
        assert 0 <= o["fold_max_abs_diff"] < 1e-3
        assert o["batched_peak_gib"] is None  # no GPU
    assert stages["fps_ours"]["result"]["amp_dtype"] == "bfloat16"  # fp16 needs a GPU


@pytest.mark.slow
def test_training_throughput_fields(quick_run) -> None:
    stages = quick_run[0]["stages"]
    for name, version, precision, optimizer in (
        ("train_v2_amp", "v2", "bf16-mixed", "SGD"),
        ("train_v2_fp32", "v2", "32-true", "SGD"),
        ("train_v1_fp32", "v1", "32-true", "Adam"),
    ):
        r = stages[name]["result"]
        assert (r["version"], r["precision"], r["optimizer"]) == (version, precision, optimizer)
        assert r["batch"] == 2 and r["timed_steps"] == 2 and r["size"] == 64
        assert _pos(r["images_per_s"]) and _pos(r["step_ms"]) and _pos(r["peak_rss_mb"])
        assert math.isfinite(r["last_loss"]) and r["last_loss"] > 0
        assert r["peak_gpu_gib"] is None
    assert stages["train_v2_amp"]["result"]["channels_last"] is True  # the v2 model default


@pytest.mark.slow
def test_short_run_and_eval_fields(quick_run) -> None:
    report, tmp, _ = quick_run
    stages = report["stages"]
    demo = stages["demo_data"]["result"]
    assert demo["counts"] == {"DEMO-TE": 4, "DEMO-TR": 12, "DEMO-VAL": 4}
    assert Path(demo["root"]).is_relative_to(tmp)
    e2e = stages["e2e_train"]["result"]
    losses = e2e["train_loss_per_epoch"]
    assert e2e["epochs"] == 2 == len(losses) and all(math.isfinite(x) for x in losses)
    assert e2e["loss_finite"] and e2e["loss_decreasing"] and losses[-1] < losses[0]
    assert 0 <= e2e["test"]["test/DEMO-TE/max_f"] <= 1 and 0 <= e2e["test"]["test/DEMO-TE/mae"] <= 1
    assert Path(e2e["checkpoint"]).is_file() and Path(e2e["checkpoint"]).is_relative_to(tmp)
    assert "trainer=cpu" in e2e["command"] and "+trainer.max_time" in e2e["command"]
    ev = stages["eval"]["result"]
    assert _pos(ev["fps"]) and ev["backend"] and ev["fps_device"]
    m = ev["metrics"]
    assert 0 <= m["max_f"] <= 1 and 0 <= m["mae"] <= 1 and 0 <= m["s_measure"] <= 1
    assert (tmp / "out" / "e2e_metrics.csv").is_file()


@pytest.mark.slow
def test_markdown_and_log(quick_run) -> None:
    report, tmp, _ = quick_run
    md = (tmp / "out" / "gpu_check.md").read_text()
    assert md.startswith(f"## GPU check: {report['card']}")
    assert "| v1 |" in md and "| v2 |" in md and "RTX 2080Ti" in md
    assert "not run" not in md
    for name in report["stages"]:
        assert f"| {name} |" in md
    log = (tmp / "out" / "gpu_check.log").read_text()
    assert "===== e2e_train" in log and "===== eval" in log
    # only the small files land in --out (the device returns at most 8 files)
    assert sorted(p.name for p in (tmp / "out").iterdir()) == [
        "e2e_metrics.csv",
        "gpu_check.json",
        "gpu_check.log",
        "gpu_check.md",
    ]


@pytest.mark.slow
def test_runtime(quick_run) -> None:
    # every stage at toy sizes: well within the suite's budget on 2 cores (about 40 s idle)
    assert quick_run[2] < 180


@pytest.mark.slow
def test_stage_time_limit_is_recorded_and_the_others_run(tmp_path: Path) -> None:
    res = _check(
        tmp_path / "out",
        tmp_path / "work",
        "--device",
        "cpu",
        "--quick",
        "--stages",
        "fps_authors_v1,demo_data",
        "--limit",
        "1",
        "--jobs",
        "1",
    )
    assert res.returncode == 1, res.stdout + res.stderr  # a stage failed
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert report["stages"]["fps_authors_v1"]["status"] == "timeout after 1 s"
    assert set(report["stages"]) == {"fps_authors_v1", "demo_data"}
    assert "timeout" in (tmp_path / "out" / "gpu_check.md").read_text()


@pytest.mark.slow
def test_compile_watchdog_gives_up(tmp_path: Path) -> None:
    res = _check(
        tmp_path / "out",
        tmp_path / "work",
        "--device",
        "cpu",
        "--quick",
        "--stages",
        "compile_v2",
        "--compile-limit",
        "0.5",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    st = json.loads((tmp_path / "out" / "gpu_check.json").read_text())["stages"]["compile_v2"]
    assert st["status"] == "skipped: timeout", st
    assert st["result"]["compile_limit_s"] == 0.5


def _fake_wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    path = folder / f"{name}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}-{version}.dist-info/METADATA", meta)
    return path


def test_every_planned_stage_has_a_function() -> None:
    from benchmarks.gpu.plan import STAGES
    from benchmarks.gpu.stages import STAGE_FUNCTIONS

    assert [name for name, _, _ in STAGES] == list(STAGE_FUNCTIONS)


def test_markdown_of_a_stored_run_is_unchanged() -> None:
    from benchmarks.gpu.report import render_md

    stem = REPO / "benchmarks" / "results" / "gpu_check_h200_2026-11-26"
    report = json.loads(stem.with_suffix(".json").read_text())
    assert render_md(report) == stem.with_suffix(".md").read_text()


def test_install_plan_takes_missing_and_too_old_only(tmp_path: Path) -> None:
    from benchmarks import gpu_install

    wheels = [
        _fake_wheel(tmp_path, "hydra_core", "1.3.8", ["omegaconf<2.4,>=2.2", "packaging"]),
        _fake_wheel(tmp_path, "omegaconf", "2.3.1", ["PyYAML>=5.1.0"]),
        _fake_wheel(tmp_path, "pydantic", "2.14.4", ["typing-extensions>=4.16.0"]),
        _fake_wheel(tmp_path, "typing_extensions", "4.16.0", []),
        _fake_wheel(tmp_path, "albucore", "0.0.24", ['typing-extensions>=4.9; python_version<"3"']),
    ]
    machine = {"packaging": "26.0", "pyyaml": "6.0", "typing-extensions": "4.12.2"}
    plan = gpu_install.plan_install(wheels, machine)
    names = [w.name.split("-")[0] for w in plan["wheels"]]
    # typing_extensions: installed there, but too old for pydantic -> its wheel goes in
    assert names == ["albucore", "hydra_core", "omegaconf", "pydantic", "typing_extensions"]
    assert plan["unmet"] == []
    recent = gpu_install.plan_install(wheels, {**machine, "typing-extensions": "4.16.1"})
    assert "typing_extensions" not in [w.name.split("-")[0] for w in recent["wheels"]]
    # a need that neither the machine nor the wheels meet is reported
    lacking = gpu_install.plan_install(wheels, {"typing-extensions": "4.16.1"})
    assert any("PyYAML" in u for u in lacking["unmet"])


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("gpu_paper")
    res = _check(tmp / "out", tmp / "work", "--device", "cpu", "--quick", "--suite", "paper")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads((tmp / "out" / "gpu_check.json").read_text()), tmp


@pytest.mark.slow
def test_paper_suite_runs_every_stage_at_toy_sizes(paper_run) -> None:
    """``--suite paper`` (issue 24): DUTS-sized JPEGs, the pipelines alone, our v2 loop end
    to end against the network alone and the authors' loop, the 32-epoch extrapolation and
    the fast batch-1 mode, each with sane fields; its markdown names them."""
    report, tmp = paper_run
    stages = report["stages"]
    assert report["mode"]["suite"] == "paper"
    paper_stages = ["duts_data", "duts_loader", "train_duts_ours", "train_duts_authors"]
    assert set(stages) == {"env", *paper_stages, "fps_fast"}  # the check's stages not run
    assert all(st["status"] == "ok" for st in stages.values()), stages
    data = stages["duts_data"]["result"]
    assert data["photos"] == data["masks"] == 12
    photos = sorted((tmp / "work" / "data" / "duts" / "DUTS-TR" / "images").glob("*.jpg"))
    from PIL import Image

    with Image.open(photos[0]) as im:  # real JPEG files at DUTS-TR's sizes
        assert im.format == "JPEG" and max(im.size) == 400
    load = stages["duts_loader"]["result"]
    for key in ("ours_default", "ours_all_cores", "authors"):
        assert _pos(load[key]["images_per_s"]) and load[key]["images"] == 8
    ours = stages["train_duts_ours"]["result"]
    assert _pos(ours["network_only"]["images_per_s"])
    run = ours["ours"]
    assert "strategy=v2" in run["command"] and len(run["epoch_s"]) == 2
    assert run["images_per_epoch"] == 12 and _pos(run["images_per_s"]) and _pos(run["setup_s"])
    paper = run["paper_run"]
    assert paper["epochs"] == 32 and "extrapolated from 2 whole epoch" in paper["how"]
    expected = run["setup_s"] + run["epoch_s"][0] + 31 * run["epoch_s"][1]
    assert math.isclose(paper["seconds"], expected)
    assert Path(run["checkpoint"]).is_file()
    auth = stages["train_duts_authors"]["result"]
    assert len(auth["epoch_s"]) == 2 and auth["images_per_epoch"] == 12
    assert all(math.isfinite(e["loss"]) for e in auth["epochs"])
    assert math.isclose(auth["speedup"], auth["ours_images_per_s"] / auth["images_per_s"])
    fast = stages["fps_fast"]["result"]
    assert fast["fast_state"] == "off (not a CUDA GPU)" and fast["weights"] == run["checkpoint"]
    assert _pos(fast["strict_fp32_fps"]) and _pos(fast["fast_fps"])
    assert 0 <= fast["max_gray_levels_vs_fp32"] <= 2 and fast["photos"] == 3
    md = (tmp / "out" / "gpu_check.md").read_text()
    assert "### Paper run" in md and "32-epoch paper run" in md and "authors' loop" in md
    assert "not run" not in md


def test_paper_run_extrapolation() -> None:
    from benchmarks.gpu.stages.paper import paper_run

    r = paper_run(10.0, [30.0, 20.0, 22.0])
    assert r["seconds"] == 10 + 30 + 31 * 21.0 and r["steady_epoch_s"] == 21.0
    assert "3 whole epoch" in r["how"] and "epoch(s) 2, 3" in r["how"]
    assert paper_run(0.0, [5.0])["seconds"] == 5.0 * 32
