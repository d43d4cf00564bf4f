"""What ``score`` and ``eval`` write from their scores, in one place: the folder-by-folder
scoring loop of ``score`` and the files every scoring writes (``metrics.json``,
``metrics_ci.json``, the Markdown/CSV/LaTeX tables, ``per_image.csv`` and its curves)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ras_lightning.metrics.intervals import Bootstrap, write_intervals
from ras_lightning.metrics.per_image import Group, write_per_image
from ras_lightning.metrics.reports import describe_score, plot_curves, write_json, write_tables
from ras_lightning.metrics.scoring import score_folder

log = logging.getLogger("ras_lightning.score")

__all__ = ["score_folders", "write_scores"]


def score_folders(
    datasets: Mapping[str, str],
    methods: Sequence[str],
    pred_dirs: Mapping[tuple[str, str], str],
    missing: str,
    how: Mapping[str, Any],
    out: Path,
    plots: bool = True,
) -> tuple[list[dict], dict[str, dict[str, dict]], list[Group]]:
    """Score every method's maps on every dataset (``how``: :func:`score_folder`'s options),
    plotting each dataset's curves into ``out``; return (table rows, ``{dataset: {method:
    metrics}}``, the per-image groups), in dataset then method order."""
    rows: list[dict] = []
    results: dict[str, dict[str, dict]] = {}
    per_image: list[Group] = []
    for dataset, gt_dir in datasets.items():
        curves = {}
        for method in methods:
            what = f"{method} on {dataset}"
            score = score_folder(gt_dir, pred_dirs[dataset, method], missing, desc=what, **how)
            log.info(describe_score(what, score))
            results.setdefault(dataset, {})[method] = score.metrics
            row = {"dataset": dataset, "method": method, "count": score.count}
            rows.append(row | score.metrics)
            curves[method] = score.curves
            per_image.append((dataset, method, score.images, score.stats))
        if plots:
            plot_curves(curves, out, dataset)
    return rows, results, per_image


def write_scores(
    out: Path,
    summary: Mapping[str, Any],
    rows: list[dict],
    per_image: Sequence[Group],
    *,
    boot: Bootstrap | None,
    convention: str,
    where: Callable[[Mapping[str, Any]], Sequence[str]],
    metrics: Sequence[str] | None,
    tex_ci: bool = False,
    table: str = "metrics",
) -> None:
    """``metrics.json`` (``summary``), ``metrics_ci.json`` (``boot``; none: removed, see
    :func:`.intervals.write_intervals`; ``where(row)``: a row's place in ``summary``),
    ``<table>.md``/``.csv`` and ``metrics.tex``, ``per_image.csv``/``per_image_curves.npz``."""
    write_json(dict(summary), out / "metrics.json")
    stats = [group[3] for group in per_image]
    write_intervals(boot, out, summary, rows, stats, convention, where)
    write_tables(rows, out, table, convention, tex_ci)
    write_per_image(out, per_image, convention, metrics=metrics)
