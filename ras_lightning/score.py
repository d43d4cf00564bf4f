"""``python -m ras_lightning.score``: score folders of saliency maps (Hydra app).

One folder: ``gt_dir=GT pred_dir=PRED output_dir=OUT`` writes ``OUT/metrics.json`` (the
registry's metric keys: the contract's ten and any registered metric), ``OUT/metrics.md`` /
``.csv`` and ``OUT/pr_curve_*.png`` / ``f_curve_*.png``.
Several: ``+datasets={name: gt_dir}`` and ``+methods={name: maps_dir}`` give one table and one
pair of plots per dataset, and ``metrics.json`` as ``{dataset: {method: {metric: value}}}``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ras_lightning.metrics.registry import metric_names
from ras_lightning.metrics.reports import plot_curves, write_json, write_tables
from ras_lightning.metrics.scoring import score_folder
from ras_lightning.utils.errors import UserError, user_errors

log = logging.getLogger("ras_lightning.score")


def _method_dir(template: str, dataset: str) -> Path:
    if "{dataset}" in template:
        return Path(template.format(dataset=dataset)).expanduser()
    base = Path(template).expanduser()
    return base / dataset if (base / dataset).is_dir() else base


def run(cfg: DictConfig) -> dict:
    out = Path(cfg.output_dir).expanduser()
    datasets = dict(cfg.get("datasets") or {})
    methods = dict(cfg.get("methods") or {})
    single = not datasets and not methods
    if single:
        if not cfg.gt_dir or not cfg.pred_dir:
            raise UserError("give gt_dir=... and pred_dir=... (or +datasets={...} +methods={...})")
        datasets = {Path(cfg.gt_dir).parent.name or "dataset": cfg.gt_dir}
        methods = {cfg.method or Path(cfg.pred_dir).name: cfg.pred_dir}
    elif not datasets or not methods:
        raise UserError(
            "the config form needs both +datasets={name: gt_dir} and +methods={name: maps_dir}"
        )
    rows, results = [], {}
    for dataset, gt_dir in datasets.items():
        curves = {}
        for method, template in methods.items():
            pred_dir = Path(cfg.pred_dir) if single else _method_dir(str(template), dataset)
            score = score_folder(
                gt_dir,
                pred_dir,
                cfg.missing,
                cfg.workers,
                cfg.progress,
                desc=f"{method} on {dataset}",
                convention=cfg.convention,
            )
            msg = f"{method} on {dataset}: {score.count} maps scored"
            if score.resized:
                msg += f", {score.resized} resized to their mask's size"
            if score.missing:
                msg += f", {len(score.missing)} masks without a map skipped"
            log.info(msg)
            results.setdefault(dataset, {})[method] = score.metrics
            rows.append(
                {"dataset": dataset, "method": method, "count": score.count, **score.metrics}
            )
            curves[method] = score.curves
        if cfg.plots:
            plot_curves(curves, out, dataset)
    # one folder: the metric keys (the registry's) at the top level; several:
    # {dataset: {method: {...}}}
    summary = {k: rows[0][k] for k in metric_names() if k in rows[0]} if single else results
    write_json(summary, out / "metrics.json")
    write_tables(rows, out)
    print((out / "metrics.md").read_text(), end="")
    log.info("wrote %s", out / "metrics.json")
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="score")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
