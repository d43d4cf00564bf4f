"""The notebooks run top to bottom (nbclient, a kernel of this Python) and show what they claim.

The quickstart runs with tiny settings (few scenes, 2 epochs); the evaluation notebook scores
the real SOD maps of ``../shared`` when present and prints "skipped" when not. Running them is
in the ``slow`` set; the committed notebooks' state is checked in ``make test``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ECSSD_DIR, REPO, SOD_DIR

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = REPO / "notebooks"
TINY_QUICKSTART = {
    "RAS_QS_IMAGE_SIZE": "64",
    "RAS_QS_EPOCHS": "2",
    "RAS_QS_TRAIN_SCENES": "48",
    "RAS_QS_VAL_SCENES": "8",
    "RAS_QS_TEST_SCENES": "8",
    "RAS_QS_ECSSD_PHOTOS": "8",
}


def execute(name: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):
    """Run notebook ``name`` in ``cwd`` with ``env`` (inherited by the kernel); return it.

    The kernel spec "python3" starts this interpreter (the venv). One OpenMP thread: on a CPU
    shared with other jobs, two threads per process can be many times slower than one.
    """
    for key, value in {"OMP_NUM_THREADS": "1", **env}.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=420,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


def outputs(nb) -> tuple[str, int]:
    """All printed text and the number of embedded images."""
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                images += "image/png" in out.data
                text.append(out.data.get("text/markdown", "") + out.data.get("text/plain", ""))
    return "\n".join(text), images


def test_committed_notebooks_are_executed_and_small() -> None:
    for name in ("01_quickstart.ipynb", "02_evaluate_maps.ipynb"):
        path = NOTEBOOKS / name
        assert path.stat().st_size < 2_000_000, f"{name} is {path.stat().st_size} bytes"
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.get("execution_count") for c in code), f"{name} is not executed"
        _, images = outputs(nb)
        assert images >= 4, f"{name} shows {images} figures"


@pytest.mark.slow
def test_quickstart_trains_and_opens_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    nb = execute(
        "01_quickstart.ipynb",
        tmp_path,
        monkeypatch,
        {**TINY_QUICKSTART, "RAS_NOTEBOOK_WORK": str(work)},
    )
    text, images = outputs(nb)
    summary = json.loads((work / "quickstart" / "summary.json").read_text())
    # trained through the CLI's code path: its run folder, metrics.json and checkpoints
    run = work / "quickstart" / "run"
    assert (run / "metrics.json").is_file() and (run / "csv" / "metrics.csv").is_file()
    assert list((run / "checkpoints").glob("best-epoch*.ckpt"))
    assert summary["logged_losses"] >= 8
    assert summary["loss_last_quarter"] < summary["loss_first_quarter"]
    assert 0.0 <= summary["test"]["max_f"] <= 1.0 and 0.0 <= summary["test"]["mae"] <= 1.0
    # the step-by-step pass through backbone, MSCM and RA blocks is RAS.forward
    assert summary["stage_check_max_abs_diff"] < 1e-4 and summary["side_outputs"] == 4
    assert "python -m ras_lightning.train" in text
    # demo scenes, loss curves, demo predictions, stages, side outputs (+ real photos)
    if ECSSD_DIR.is_dir():
        assert summary["ecssd"] and images >= 6
        assert set(summary["ecssd"]) == {"RAS (this run)", "centre prior"}
    else:
        assert "skipped:" in text and images >= 5


@pytest.mark.slow
def test_quickstart_without_shared_skips_the_real_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    env = {
        **TINY_QUICKSTART,
        "RAS_QS_EPOCHS": "1",
        "RAS_QS_TRAIN_SCENES": "16",
        "RAS_SHARED": str(tmp_path / "no-shared"),
        "RAS_NOTEBOOK_WORK": str(work),
    }
    nb = execute("01_quickstart.ipynb", tmp_path, monkeypatch, env)
    text, images = outputs(nb)
    assert "skipped:" in text and "no-shared" in text
    assert json.loads((work / "quickstart" / "summary.json").read_text())["ecssd"] is None
    assert images == 5  # demo scenes, loss curves, demo predictions, stages, side outputs


@pytest.mark.slow
def test_evaluate_notebook_scores_the_three_methods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (SOD_DIR / "gt").is_dir():
        pytest.skip(f"{SOD_DIR} not present (../shared is absent in a user's clone)")
    work = tmp_path / "work"
    nb = execute("02_evaluate_maps.ipynb", tmp_path, monkeypatch, {"RAS_NOTEBOOK_WORK": str(work)})
    text, images = outputs(nb)
    out = work / "evaluate"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["Amulet", "DSS", "PiCANet"]
    assert all(n == 300 for n in summary["count"].values())
    table = (out / "metrics.md").read_text()
    for method in ("Amulet", "DSS", "PiCANet"):
        assert f"| {method} |" in text and f"| {method} |" in table
        m = summary["metrics"][method]
        assert set(m) >= {"mae", "s_measure", "weighted_f", "max_f", "max_f_dataset_pr"}
        assert 0.5 < m["max_f"] < 1.0 and 0.0 < m["mae"] < 0.3
        worst = [v for _, v in summary["worst"][method]]
        assert worst == sorted(worst, reverse=True) and worst[0] > m["mae"]
    # the same numbers as the score CLI's Python API on the same folders
    from ras_lightning.metrics.scoring import score_folder

    dss = score_folder(SOD_DIR / "gt", SOD_DIR / "maps" / "DSS", workers=2, progress=False)
    for key, value in dss.metrics.items():
        assert summary["metrics"]["DSS"][key] == pytest.approx(value, abs=1e-9)
    assert images >= 4  # PR + F curves, MAE histogram, worst images, hard for all


@pytest.mark.slow
def test_evaluate_notebook_skips_without_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute(
        "02_evaluate_maps.ipynb",
        tmp_path,
        monkeypatch,
        {
            "RAS_SHARED": str(tmp_path / "no-shared"),
            "RAS_NOTEBOOK_WORK": str(tmp_path / "work"),
        },
    )
    text, images = outputs(nb)
    assert "skipped:" in text and "no-shared" in text and images == 0
    assert not (tmp_path / "work" / "evaluate" / "metrics.json").exists()


@pytest.mark.slow
def test_evaluate_notebook_takes_the_users_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Own folders through RAS_EVAL_GT / RAS_EVAL_METHODS; nothing written into them."""
    import numpy as np
    from PIL import Image

    gt, maps = tmp_path / "masks", tmp_path / "maps"
    rng = np.random.default_rng(0)
    for d in (gt, maps / "mine", maps / "noise"):
        d.mkdir(parents=True)
    for i in range(6):
        mask = np.zeros((40, 50), np.uint8)
        mask[10:30, 5 + i : 30 + i] = 255
        Image.fromarray(mask).save(gt / f"im{i}.png")
        Image.fromarray((mask * 0.8).astype(np.uint8)).save(maps / "mine" / f"im{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).save(
            maps / "noise" / f"im{i}.png"
        )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    nb = execute(
        "02_evaluate_maps.ipynb",
        tmp_path,
        monkeypatch,
        {
            "RAS_EVAL_GT": str(gt),
            "RAS_EVAL_METHODS": f"mine={maps / 'mine'},noise={maps / 'noise'}",
            "RAS_EVAL_DATASET": "TOY",
            "RAS_NOTEBOOK_WORK": str(tmp_path / "work"),
        },
    )
    text, _ = outputs(nb)
    summary = json.loads((tmp_path / "work" / "evaluate" / "summary.json").read_text())
    assert summary["dataset"] == "TOY" and summary["methods"] == ["mine", "noise"]
    assert summary["metrics"]["mine"]["max_f"] > 0.95 > summary["metrics"]["noise"]["max_f"]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "work" not in p.parts)
    assert after == [p for p in before if "work" not in p.parts]
    assert "| mine |" in text and "| noise |" in text
