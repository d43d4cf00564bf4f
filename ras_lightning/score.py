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
from ras_lightning.metrics.intervals import check_ci
from ras_lightning.metrics.outputs import score_folders, write_scores
from ras_lightning.metrics.registry import CONVENTIONS, metric_names, select
from ras_lightning.metrics.report_page import score_sets, write_report
from ras_lightning.metrics.scoring import plan_folders
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
    how = {"workers": cfg.workers, "progress": cfg.progress, "convention": cfg.convention}
    how |= {"max_pixels": cfg.get("max_pixels"), "metrics": cfg.get("metrics")}
    rows, results, per_image = score_folders(
        datasets, list(methods), pred_dirs, cfg.missing, how, out, cfg.plots
    )
    # one folder: the metric keys (the registry's) at the top level; several:
    # {dataset: {method: {...}}}; both with "convention" last (the two give different numbers)
    summary = {k: rows[0][k] for k in metric_names() if k in rows[0]} if single else results
    summary = {**summary, "convention": str(cfg.convention)}
    where = (lambda r: ()) if single else (lambda r: (r["dataset"], r["method"]))
    write_scores(out, summary, rows, per_image, boot=boot, convention=str(cfg.convention),
                 where=where, metrics=selected, tex_ci=cfg.get("tex_ci", False))  # fmt: skip
    if cfg.get("report", True):  # report.html: tables, curves, a browser of the images
        write_report(out, score_sets(datasets, pred_dirs), workers=cfg.workers)
    print((out / "metrics.md").read_text(), end="")
    log.info("wrote %s", out / "metrics.json")
    return results


main = hydra_command("score", run)

if __name__ == "__main__":
    main()
