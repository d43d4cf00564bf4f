"""Confidence intervals (:mod:`ras_lightning.metrics.bootstrap`, ``score``/``eval``'s ``ci``):
the percentile bootstrap agrees with a plain NumPy one on the same draws, contains the value,
shrinks like 1/sqrt(n); ``metrics_ci.json``, ``±`` in metrics.md, ``tex_ci``; ``ci=null``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ras_lightning.metrics.bootstrap import (
    metric_intervals,
    percentile_interval,
    replicate_values,
    resample_indices,
)
from ras_lightning.metrics.f3net import f_curve as f3net_f_curve
from ras_lightning.metrics.intervals import CI_KEY, Intervals, half_width, stack_stats
from ras_lightning.metrics.latex import latex_table
from ras_lightning.metrics.registry import CONVENTIONS
from ras_lightning.utils.errors import UserError
from tests.conftest import run_command, toy_maps


def _stats(convention: str, n: int = 12, seed: int = 1) -> dict[str, np.ndarray]:
    """``n`` images' statistics in ``convention``: rectangle masks, noisy maps of them."""
    rng = np.random.default_rng(seed)
    conv = CONVENTIONS[convention]
    images = []
    for i in range(n):
        gt = np.zeros((24, 32), np.uint8)
        gt[3 + i % 7 : 18, 5 : 28 - i % 5] = 255
        noise = rng.normal(0, 20 + 5 * (i % 4), gt.shape)
        pred = np.clip(gt * (0.5 + 0.04 * i) + noise, 0, 255).astype(np.uint8)
        images.append(conv.image_stats(pred, gt))
    return stack_stats(images)


def _f(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """F (beta^2 = 0.3) as PySODMetrics (0 where P = R = 0)."""
    num, den = 1.3 * p * r, 0.3 * p + r
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def test_resample_indices_are_default_rng_integers() -> None:
    idx = resample_indices(7, 5, 3)
    assert idx.shape == (5, 7) and idx.dtype == np.int64
    assert (idx == np.random.default_rng(3).integers(0, 7, size=(5, 7))).all()
    with pytest.raises(ValueError):
        resample_indices(0, 5, 0)


@pytest.mark.parametrize("convention", ["pysodmetrics", "f3net"])
def test_matches_plain_numpy_bootstrap(convention: str) -> None:
    stats = _stats(convention)
    n, reps, seed = len(stats["mae"]), 1200, 7  # 1200: three chunks of replicates
    idx = np.random.default_rng(seed).integers(0, n, size=(reps, n))
    got = metric_intervals(stats, convention, 0.9, reps, seed)
    plain = {  # each replicate's metric from the drawn rows, as one would write it by hand
        name: np.mean(stats[name][idx], axis=1)
        for name in ("mae", "s_measure", "weighted_f", "adaptive_f", "adaptive_e")
    }
    p, r = stats["precision"][idx].mean(axis=1), stats["recall"][idx].mean(axis=1)
    if convention == "pysodmetrics":
        f = stats["f_curve"][idx].mean(axis=1)
        plain |= {"max_f": f.max(axis=1), "mean_f": f.mean(axis=1)}
        plain["max_f_dataset_pr"] = _f(p, r).max(axis=1)
        e = stats["e_curve"][idx].mean(axis=1)
        plain |= {"max_e": e.max(axis=1), "mean_e": e.mean(axis=1)}
    else:  # main.m's max F: of the mean PR curve
        f = f3net_f_curve(p, r)
        plain |= {"max_f": f.max(axis=1), "mean_f": f.mean(axis=1)}
        plain["max_f_dataset_pr"] = plain["max_f"]
    assert set(got) == set(plain)
    for name, values in plain.items():
        expected = np.percentile(values, [5, 95])
        assert got[name] == pytest.approx(tuple(expected), abs=1e-12), name


def test_intervals_shrink_like_one_over_sqrt_n() -> None:
    stats = _stats("pysodmetrics", n=10)
    widths = {}
    for k in (1, 4, 16):  # the same images, each k times
        repeated = {name: np.concatenate([v] * k) for name, v in stats.items()}
        bounds = metric_intervals(repeated, "pysodmetrics", reps=2000, seed=0)
        widths[k] = {name: hi - lo for name, (lo, hi) in bounds.items()}
    for name in widths[1]:
        assert widths[1][name] > 0, name
        for k in (4, 16):  # width ~ 1/sqrt(k): half at 4x, a quarter at 16x
            assert widths[k][name] * np.sqrt(k) / widths[1][name] == pytest.approx(1, abs=0.2)


def test_replicates_and_percentiles() -> None:
    stats = _stats("pysodmetrics", n=5)
    values = replicate_values(stats, "pysodmetrics", resample_indices(5, 50, 0))
    assert all(v.shape == (50,) for v in values.values())
    # every draw of the same rows is the metric of those rows; one image: no spread
    one = {k: v[:1] for k, v in stats.items()}
    lo, hi = metric_intervals(one, "pysodmetrics", reps=20)["max_f"]
    assert lo == hi == pytest.approx(float(stats["f_curve"][0].max()))
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5) == (1.5, 2.5)
    assert all(np.isnan(percentile_interval(np.array([np.nan]), 0.95)))
    assert half_width(0.5, 0.4, 0.55) == pytest.approx(0.1)


def _score(tmp_path: Path, *extra: str, name: str = "out") -> Path:
    gt, pred = (
        toy_maps(tmp_path / "data", n=8)
        if not (tmp_path / "data").exists()
        else (
            tmp_path / "data" / "gt",
            tmp_path / "data" / "pred",
        )
    )
    out = tmp_path / name
    args = (f"gt_dir={gt}", f"pred_dir={pred}", "workers=1", "plots=false", "progress=false")
    run_command("score", *args, f"output_dir={out}", *extra)
    return out


def test_score_metrics_ci_json_md_and_tex(tmp_path: Path) -> None:
    out = _score(tmp_path, "tex_ci=true", "bootstrap=300", "seed=5")
    metrics = json.loads((out / "metrics.json").read_text())
    with_ci = json.loads((out / "metrics_ci.json").read_text())
    assert with_ci.pop("bootstrap") == {
        "ci": 0.95,
        "resamples": 300,
        "seed": 5,
        "method": "percentile bootstrap over images",
    }
    assert with_ci.pop("convention") == metrics.pop("convention")
    assert list(with_ci) == list(metrics)
    for name, value in metrics.items():
        entry = with_ci[name]
        assert entry["value"] == value  # exactly metrics.json's number
        assert entry["low"] <= value <= entry["high"], name
        assert entry["low"] < entry["high"], name
    md = (out / "metrics.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| data |"))
    h = half_width(metrics["mae"], with_ci["mae"]["low"], with_ci["mae"]["high"])
    assert f"{metrics['mae']:.4f} ± {h:.4f}" in row
    assert row.count("±") == len(metrics) and "half-width of the 95% percentile" in md
    tex = (out / "metrics.tex").read_text()
    body = tex.split(r"\midrule")[1]
    assert body.count(r"$\pm$") == len(metrics)
    assert rf"{metrics['mae']:.3f}\,{{\scriptsize$\pm${h:.3f}}}" in body
    assert tex.count("{") == tex.count("}")
    # same seed, same intervals; the CSV keeps the values alone
    again = json.loads(
        (_score(tmp_path, "bootstrap=300", "seed=5", name="again") / "metrics_ci.json").read_text()
    )
    assert again["mae"] == with_ci["mae"]
    assert "±" not in (out / "metrics.csv").read_text()


def test_score_ci_null_writes_no_intervals(tmp_path: Path) -> None:
    assert (_score(tmp_path, "bootstrap=20") / "metrics_ci.json").is_file()
    out = _score(tmp_path, "ci=null")  # into the same folder: the old intervals go
    assert not (out / "metrics_ci.json").exists()
    assert "±" not in (out / "metrics.md").read_text()
    assert r"\pm" not in (out / "metrics.tex").read_text()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("ci=1.5", "ci=1.5: must be a number between 0 and 1"),
        ("ci=0", "ci=0: must be a number between 0 and 1"),
        ("ci=abc", "ci='abc': must be a number between 0 and 1"),
        ("bootstrap=0", "bootstrap=0: must be a whole number >= 1"),
        ("bootstrap=2.5", "bootstrap=2.5: must be a whole number >= 1"),
        ("seed=-1", "seed=-1: must be a whole number >= 0"),
    ],
)
def test_bad_settings_are_one_line_before_any_work(
    tmp_path: Path, setting: str, message: str
) -> None:
    with pytest.raises(UserError, match=message) as err:
        _score(tmp_path, setting)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_eval_metrics_ci(tiny_ckpt: Path, demo_root: Path, tmp_path: Path) -> None:
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
        "bootstrap=200",
        "tex_ci=true",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    with_ci = json.loads((out / "metrics_ci.json").read_text())
    for name, value in metrics["sets"]["DEMO-TE"].items():
        entry = with_ci["sets"]["DEMO-TE"][name]
        assert entry["value"] == value and entry["low"] <= entry["high"], name
    # the rest of metrics.json (model info) as it is
    assert {k: v for k, v in with_ci.items() if k not in ("sets", "bootstrap")} == {
        k: v for k, v in metrics.items() if k != "sets"
    }
    assert "±" in (out / "metrics.md").read_text()  # the paper table
    assert "±" in (out / "metrics_full.md").read_text()
    assert r"$\pm$" in (out / "metrics.tex").read_text()


def _ci_rows() -> list[dict]:
    rows = []
    for i, method in enumerate(("A", "B_2", "C")):
        values = {"mae": 0.05 + 0.01 * i, "max_f": 0.9 - 0.02 * i}
        bounds = {k: (v - 0.01, v + 0.02) for k, v in values.items()}
        rows.append({"dataset": "SOD", "method": method, **values})
        rows[-1][CI_KEY] = Intervals(bounds, 0.95, 1000, 0)
    return rows


def test_tex_ci_keeps_the_marks_on_the_values() -> None:
    tex = latex_table(_ci_rows(), "pysodmetrics", tex_ci=True)
    first = next(ln for ln in tex.splitlines() if ln.startswith("SOD & A"))
    # best max F bold, best MAE bold (lower is better), each with its half-width (0.02)
    assert r"\textbf{0.900}\,{\scriptsize$\pm$0.020}" in first
    assert r"\textbf{0.050}\,{\scriptsize$\pm$0.020}" in first
    assert "% value $\\pm$ h: half-width of the 95% percentile bootstrap" in tex
    assert r"\pm" not in latex_table(_ci_rows(), "pysodmetrics")  # tex_ci=false


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_tex_ci_table_compiles_with_pdflatex(tmp_path: Path) -> None:
    (tmp_path / "metrics.tex").write_text(latex_table(_ci_rows(), "f3net", tex_ci=True))
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\input{metrics.tex}\n\\end{document}\n"
    )
    cmd = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
