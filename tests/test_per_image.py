"""Per-image values (``per_image.csv`` and its curves file) of ``score``, ``eval`` and a
training run's test: one row per image, the dataset-level metrics functions of the rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ras_lightning.metrics.per_image import dataset_metrics, mean_metrics, read_curves
from ras_lightning.metrics.registry import metric_names
from tests.conftest import run_command, tiny_train, toy_maps, write_image

CURVE_METRICS = ("max_f", "mean_f", "max_e", "mean_e", "max_f_dataset_pr")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_rows(out: Path, metrics: dict, dataset: str, method: str, prefix: str = "") -> None:
    """The CSV's rows of ``dataset``/``method`` and the curves file give ``metrics``."""
    rows = [
        r
        for r in read_rows(out / f"{prefix}per_image.csv")
        if (r["dataset"], r["method"]) == (dataset, method)
    ]
    curves = read_curves(out / f"{prefix}per_image_curves.npz")
    keep = (curves["dataset"] == dataset) & (curves["method"] == method)
    assert [r["image"] for r in rows] == list(curves["image"][keep])
    first = {
        k: curves[k][np.flatnonzero(keep)[0]]
        for k in curves
        if k not in ("dataset", "method", "image", "convention")
    }
    means = mean_metrics(first, str(curves["convention"]))
    assert {"mae", "s_measure", "weighted_f", "adaptive_f", "adaptive_e"} <= set(means)
    for name in means:
        column = np.array([float(r[name]) for r in rows])
        assert column.mean() == pytest.approx(metrics[name], abs=1e-12), name
    # the curve metrics (and all the others) exactly, from the curves file
    rebuilt = dataset_metrics(curves, dataset, method)
    assert rebuilt == {k: metrics[k] for k in rebuilt}
    assert set(rebuilt) & set(CURVE_METRICS)


@pytest.mark.parametrize("convention", ["pysodmetrics", "f3net"])
def test_score_per_image(tmp_path: Path, convention: str) -> None:
    gt, pred = toy_maps(tmp_path, n=7, size=(50, 40))
    write_image(pred / "extra.png", np.zeros((30, 40), np.uint8))  # no mask: not scored
    out = tmp_path / "out"
    run_command(
        "score",
        f"gt_dir={gt}",
        f"pred_dir={pred}",
        f"output_dir={out}",
        f"convention={convention}",
        "workers=2",
        "plots=false",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    rows = read_rows(out / "per_image.csv")
    names = [m for m in metric_names() if m in metrics]
    assert list(rows[0]) == ["dataset", "method", "image", *names]
    assert [r["image"] for r in rows] == sorted(p.stem for p in gt.iterdir())
    assert {(r["dataset"], r["method"]) for r in rows} == {(tmp_path.name, "pred")}
    # full precision: every value reads back to the same float
    assert all(repr(float(r[n])) == r[n] for r in rows for n in names)
    check_rows(out, metrics, tmp_path.name, "pred")
    if convention == "pysodmetrics":
        # an image's own max F is the best of its own F curve
        curves = read_curves(out / "per_image_curves.npz")
        assert float(rows[0]["max_f"]) == curves["f_curve"][0].max()


def test_score_per_image_several(tmp_path: Path) -> None:
    toy_maps(tmp_path / "A", n=4)
    toy_maps(tmp_path / "B", n=5, size=(20, 20))
    out = tmp_path / "out"
    run_command(
        "score",
        f"+datasets={{A: '{tmp_path}/A/gt', B: '{tmp_path}/B/gt'}}",
        f"+methods={{m: '{tmp_path}/{{dataset}}/pred'}}",
        f"output_dir={out}",
        "workers=1",
        "plots=false",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(read_rows(out / "per_image.csv")) == 9
    for dataset in ("A", "B"):
        check_rows(out, metrics[dataset]["m"], dataset, "m")


def test_eval_per_image(tiny_ckpt: Path, demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    run_command(
        "eval",
        f"weights={tiny_ckpt}",
        f"data.root={demo_root}",
        "data.test_sets=[DEMO-TE]",
        f"output_dir={out}",
        "fps=false",
        "plots=false",
        "workers=1",
        "progress=false",
    )
    metrics = json.loads((out / "metrics.json").read_text())["sets"]["DEMO-TE"]
    rows = read_rows(out / "per_image.csv")
    assert len(rows) == 7 and {r["dataset"] for r in rows} == {"DEMO-TE"}
    check_rows(out, metrics, "DEMO-TE", tiny_ckpt.name)


def test_training_test_per_image(demo_root: Path, tiny_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny_train(demo_root, run, "train=false", f"ckpt_path={tiny_ckpt}")
    metrics = json.loads((run / "metrics.json").read_text())
    rows = read_rows(run / "test_per_image.csv")
    assert len(rows) == 7 and {(r["dataset"], r["method"]) for r in rows} == {("DEMO-TE", "run")}
    logged = {k.split("/")[-1]: v for k, v in metrics.items() if k.startswith("test/DEMO-TE/")}
    curves = read_curves(run / "test_per_image_curves.npz")
    # the logged values add the images up in batches: equal to rounding
    assert dataset_metrics(curves, "DEMO-TE", "run") == pytest.approx(logged, abs=1e-12)
    for name in ("mae", "s_measure", "weighted_f", "adaptive_f", "adaptive_e"):
        column = np.array([float(r[name]) for r in rows])
        assert column.mean() == pytest.approx(logged[name], abs=1e-12), name
