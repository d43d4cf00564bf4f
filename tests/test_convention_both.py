"""``score convention=both``: each convention's outputs in its sub-folder (as a run in that
convention writes them), both side by side at the top, and ``convention_diff.csv`` naming the
images that contribute most to each metric's difference (shares of mean metrics, leave-one-out
changes of curve metrics)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ras_lightning.metrics.convention_diff import BOTH, TOP, contributions
from ras_lightning.metrics.per_image import KEYS, read_curves
from ras_lightning.metrics.registry import CONVENTIONS
from tests.conftest import run_command, write_image


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _maps(root: Path, n: int, size: tuple[int, int], noise: float) -> tuple[Path, Path]:
    """``root/gt``: ``n`` rectangle masks (30 x 40); ``root/pred``: maps of them with heavy
    noise (max F below 1), saved at ``size`` (resized back differently by the conventions)."""
    rng = np.random.default_rng(1)
    for i in range(n):
        m = np.zeros((30, 40), np.uint8)
        m[4 + i % 6 : 22, 6 : 34 - i % 8] = 255
        noisy = np.clip(m * 0.6 + 40 + rng.normal(0, noise * (1 + i % 3), m.shape), 0, 255)
        write_image(root / "gt" / f"img{i}.png", m)
        write_image(
            root / "pred" / f"img{i}.png",
            np.array(Image.fromarray(noisy.astype(np.uint8)).resize(size)),
        )
    return root / "gt", root / "pred"


@pytest.fixture(scope="module")
def both_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dataset, two methods (maps of other sizes than the masks: the conventions resize
    differently), scored with convention=both; and the same in f3net alone into ``single``."""
    root = tmp_path_factory.mktemp("both")
    gt, pred1 = _maps(root / "A", 12, (50, 40), 30)
    _, pred2 = _maps(root / "B", 12, (36, 28), 50)
    common = ("workers=1", "plots=false", "progress=false", "bootstrap=50")
    for out, convention in (("out", "both"), ("single", "f3net")):
        run_command(
            "score",
            f"output_dir={root / out}",
            f"convention={convention}",
            f"+datasets={{D: '{gt}'}}",
            f"+methods={{m1: '{pred1}', m2: '{pred2}'}}",
            *common,
        )
    return root


def test_sub_folders_and_side_by_side(both_run: Path) -> None:
    out = both_run / "out"
    sub = {c: json.loads((out / c / "metrics.json").read_text()) for c in BOTH}
    # a sub-folder is what a run in that convention writes
    assert sub["f3net"] == json.loads((both_run / "single" / "metrics.json").read_text())
    for name in ("metrics.md", "metrics.tex", "per_image.csv", "metrics_ci.json"):
        assert (out / "pysodmetrics" / name).is_file() and (out / "f3net" / name).is_file()
    assert json.loads((out / "metrics.json").read_text()) == {**sub, "convention": "both"}
    ci = json.loads((out / "metrics_ci.json").read_text())
    assert ci["f3net"]["D"]["m1"]["mae"]["value"] == sub["f3net"]["D"]["m1"]["mae"]
    rows = _read(out / "metrics.csv")
    assert [(r["dataset"], r["method"], r["count"]) for r in rows] == [
        ("D", "m1", "12"),
        ("D", "m2", "12"),
    ]
    for r in rows:
        for c in BOTH:
            assert float(r[f"mae_{c}"]) == sub[c]["D"][r["method"]]["mae"]
    assert rows[0]["max_e_f3net"] == ""  # f3net has no max E
    md = (out / "metrics.md").read_text()
    assert "| MAE (pysodmetrics) | MAE (f3net) |" in md
    assert f"| D | m2 | 12 | {sub['pysodmetrics']['D']['m2']['mae']:.4f} |" in md


def _sum_but(stats: dict[str, np.ndarray], i: int | None) -> dict[str, np.ndarray]:
    keep = [j for j in range(len(stats["mae"])) if j != i]
    return {k: v[keep].sum(axis=0) for k, v in stats.items()}


def test_convention_diff(both_run: Path) -> None:
    out = both_run / "out"
    diff = _read(out / "convention_diff.csv")
    assert list(diff[0]) == [
        "dataset",
        "method",
        "metric",
        "difference",
        "rank",
        "image",
        "contribution",
        "pysodmetrics",
        "f3net",
    ]
    sub = {c: json.loads((out / c / "metrics.json").read_text()) for c in BOTH}
    per_image = {
        c: {r["image"]: r for r in _read(out / c / "per_image.csv") if r["method"] == "m1"}
        for c in BOTH
    }
    curves = {c: read_curves(out / c / "per_image_curves.npz") for c in BOTH}
    stats = {}
    for c in BOTH:
        keep = curves[c]["method"] == "m1"
        stats[c] = {k: v[keep] for k, v in curves[c].items() if k not in (*KEYS, "convention")}
    stems = list(curves["f3net"]["image"][curves["f3net"]["method"] == "m1"])
    n = len(stems)
    for metric in ("mae", "max_f", "max_f_dataset_pr"):
        rows = [r for r in diff if (r["method"], r["metric"]) == ("m1", metric)]
        assert 1 <= len(rows) <= TOP and [int(r["rank"]) for r in rows] == list(
            range(1, len(rows) + 1)
        )
        shares = [abs(float(r["contribution"])) for r in rows]
        assert shares == sorted(shares, reverse=True)
        d = sub["pysodmetrics"]["D"]["m1"][metric] - sub["f3net"]["D"]["m1"][metric]
        assert float(rows[0]["difference"]) == pytest.approx(d, abs=1e-12)
        for r in rows:
            a, b = per_image["pysodmetrics"][r["image"]], per_image["f3net"][r["image"]]
            assert (r["pysodmetrics"], r["f3net"]) == (a[metric], b[metric])  # the image's own
            i = stems.index(r["image"])
            if metric == "mae":  # a mean metric: the image's share of the difference
                expected = (float(a[metric]) - float(b[metric])) / n
            else:  # a curve metric: the change of the difference when the image is left out
                without = [
                    CONVENTIONS[c].summarise(_sum_but(stats[c], i), n - 1)[metric] for c in BOTH
                ]
                expected = d - (without[0] - without[1])
            assert float(r["contribution"]) == pytest.approx(expected, abs=1e-12), metric
    assert {r["metric"] for r in diff} <= set(sub["f3net"]["D"]["m1"])  # common metrics only


def test_contributions_of_mean_metrics_add_up_to_the_difference() -> None:
    rng = np.random.default_rng(0)
    stats = {}
    for c in BOTH:
        conv = CONVENTIONS[c]
        images = []
        for i in range(6):
            gt = np.zeros((20, 24), np.uint8)
            gt[4:15, 3 + i : 20] = 255
            pred = np.clip(gt * 0.7 + rng.normal(0, 25, gt.shape) * (i % 3), 0, 255).astype(
                np.uint8
            )
            images.append(conv.image_stats(pred, gt))
        stats[c] = {k: np.stack([np.asarray(s[k], dtype=float) for s in images]) for k in images[0]}
    got = contributions(stats)
    for metric in ("mae", "s_measure", "weighted_f", "adaptive_f", "adaptive_e"):
        d, share = got[metric]
        assert share.sum() == pytest.approx(d, abs=1e-12), metric
    assert "max_e" not in got  # not a metric of both


def test_single_convention_writes_no_diff(both_run: Path) -> None:
    assert not (both_run / "single" / "convention_diff.csv").exists()
    assert not (both_run / "single" / "pysodmetrics").exists()


def test_a_metric_selection_limits_both_tables_and_the_diff(tmp_path: Path) -> None:
    gt, pred = _maps(tmp_path / "A", 6, (50, 40), 40)
    out = tmp_path / "out"
    run_command(
        "score",
        f"gt_dir={gt}",
        f"pred_dir={pred}",
        f"output_dir={out}",
        "convention=both",
        "metrics=[mae,max_f]",
        "workers=1",
        "plots=false",
        "progress=false",
        "ci=null",
    )
    assert not (out / "metrics_ci.json").exists()
    head = _read(out / "metrics.csv")[0]
    assert list(head) == [
        "dataset",
        "method",
        "count",
        *(f"{k}_{c}" for k in ("mae", "max_f") for c in BOTH),
    ]
    metrics = {r["metric"] for r in _read(out / "convention_diff.csv")}
    assert "mae" in metrics and metrics <= {"mae", "max_f"}
