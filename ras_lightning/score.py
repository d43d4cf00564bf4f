"""``python -m ras_lightning.score``: score folders of saliency maps (Hydra app).

One folder (``gt_dir=GT pred_dir=PRED output_dir=OUT``) or several (``+datasets={name: gt_dir}
+methods={name: maps_dir}``, one table and pair of plots per dataset) -> ``OUT/metrics.json``
(metric keys, or ``{dataset: {method: {...}}}``; then ``convention``), ``metrics.md``/``.csv``/
``.tex``, ``per_image.csv``, the PR/F curves (``*_curve_*.png``, ``curves_*.csv``),
``report.html`` (a browser of every image; ``report=false``: none). Nothing is
written into a folder it reads; an undecodable mask or map is an error (``missing=skip``: named).
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ras_lightning.metrics.convention_diff import score_both
from ras_lightning.metrics.intervals import check_ci, write_intervals
from ras_lightning.metrics.per_image import write_per_image
from ras_lightning.metrics.registry import CONVENTIONS, metric_names, select
from ras_lightning.metrics.report_page import score_sets, write_report
from ras_lightning.metrics.reports import describe_score, plot_curves, write_json, write_tables
from ras_lightning.metrics.scoring import plan_folders, score_folder
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import (
    UserError,
    check_outside,
    require,
    require_choices,
    require_counts,
)
from ras_lightning.utils.files import probe_writable

log = logging.getLogger("ras_lightning.score")


EXAMPLE = "python -m ras_lightning.score gt_dir=data/ECSSD/masks pred_dir=maps/ECSSD output_dir=out"


def run(cfg: DictConfig) -> dict:
    """Score the configured folders; return ``{dataset: {method: {metric: value}}}``."""
    datasets = dict(cfg.get("datasets") or {})
    methods = dict(cfg.get("methods") or {})
    single = not datasets and not methods
    if single:
        require(cfg, {"gt_dir": "the folder of masks", "pred_dir": "the folder of maps"}, EXAMPLE)
    require(cfg, {"output_dir": "where to write the tables and plots"}, EXAMPLE)
    require_counts(cfg, {"workers": 1}, nullable=("workers",))
    require_choices(cfg, {"missing": ("error", "skip"), "convention": (*CONVENTIONS, "both")})
    boot = check_ci(cfg)  # ci, bootstrap, seed (and tex_ci)
    selected = select(cfg.get("metrics"), str(cfg.convention)).names  # before any work
    if cfg.convention == "both":  # each convention in its sub-folder, then side by side
        return score_both(cfg, run)
    out = Path(cfg.output_dir).expanduser()
    if single:
        datasets = {Path(cfg.gt_dir).parent.name or "dataset": cfg.gt_dir}
        methods = {cfg.method or Path(cfg.pred_dir).name: cfg.pred_dir}
    elif not datasets or not methods:
        raise UserError(
            "the config form needs both +datasets={name: gt_dir} and +methods={name: maps_dir}"
        )
    # every folder read is checked before any scoring: nothing is written into the data
    pred_dirs, folders = plan_folders(datasets, methods, cfg.pred_dir if single else None)
    check_outside(out, folders)
    probe_writable(out)  # a place it cannot write is one line now, not after the scoring
    rows, results, per_image = [], {}, []
    how = {"workers": cfg.workers, "progress": cfg.progress, "convention": cfg.convention}
    how |= {"max_pixels": cfg.get("max_pixels"), "metrics": cfg.get("metrics")}
    for dataset, gt_dir in datasets.items():
        curves = {}
        for method in methods:
            what = f"{method} on {dataset}"
            score = score_folder(gt_dir, pred_dirs[dataset, method], cfg.missing, desc=what, **how)
            log.info(describe_score(what, score))
            results.setdefault(dataset, {})[method] = score.metrics
            rows.append(
                {"dataset": dataset, "method": method, "count": score.count, **score.metrics}
            )
            curves[method] = score.curves
            per_image.append((dataset, method, score.images, score.stats))
        if cfg.plots:
            plot_curves(curves, out, dataset)
    # one folder: the metric keys (the registry's) at the top level; several:
    # {dataset: {method: {...}}}; both with "convention" last (the two give different numbers)
    summary = {k: rows[0][k] for k in metric_names() if k in rows[0]} if single else results
    summary = {**summary, "convention": str(cfg.convention)}
    write_json(summary, out / "metrics.json")
    where = (lambda r: ()) if single else (lambda r: (r["dataset"], r["method"]))
    write_intervals(boot, out, summary, rows, [g[3] for g in per_image], cfg.convention, where)
    write_tables(rows, out, convention=str(cfg.convention), tex_ci=cfg.get("tex_ci", False))
    write_per_image(out, per_image, str(cfg.convention), metrics=selected)
    if cfg.get("report", True):  # report.html: tables, curves, a browser of the images
        write_report(out, score_sets(datasets, pred_dirs), workers=cfg.workers)
    print((out / "metrics.md").read_text(), end="")
    log.info("wrote %s", out / "metrics.json")
    return results


main = hydra_command("score", run)

if __name__ == "__main__":
    main()
