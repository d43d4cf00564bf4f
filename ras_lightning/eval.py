"""``python -m ras_lightning.eval``: the paper's evaluation for a checkpoint or released weights.

Per test set, a map per photo as the authors' test scripts make it (``OUT/<set>/<stem>.png``;
:mod:`ras_lightning.data.protocol`), scored in ``convention`` (``f3net``, the MATLAB evaluation
of the published tables, or ``pysodmetrics``) -> ``OUT/metrics.json``, the published figure's
table with FPS and size ``metrics.md`` (``compare=paper``: the paper's numbers beside),
``metrics_full.md``/``.csv``, ``metrics.tex``, ``per_image.csv``, the PR/F curves,
``report.html`` (a browser of every photo; ``report=false``: none). Nothing is
written into the data; an undecodable photo or mask is an error (``data.on_unpaired=skip``:
named and skipped). ``devices=N`` (or ``torchrun``/``srun``): the photos split over processes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ras_lightning.inference import distributed
from ras_lightning.inference.backends import make_predictor
from ras_lightning.inference.evaluation import (
    check_settings,
    drop_leaks,
    evaluate_set,
    find_configured_sets,
    model_info,
)
from ras_lightning.metrics.outputs import write_scores
from ras_lightning.metrics.report_page import eval_sets, write_report
from ras_lightning.metrics.reports import eval_report, plot_curves
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import require
from ras_lightning.utils.files import probe_writable, write_atomic

log = logging.getLogger("ras_lightning.eval")

EXAMPLE = (
    "python -m ras_lightning.eval weights=RAS.v2.pth data.root=/data/sod "
    "data.test_sets=[ECSSD] output_dir=out/eval"
)


def run(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.weights`` on ``cfg.data.test_sets``; return metrics.json's content."""
    require(
        cfg,
        {"weights": "a checkpoint or RAS.v1.pth/RAS.v2.pth", "output_dir": "where to write"},
        EXAMPLE,
    )
    settings = check_settings(cfg)
    out = Path(str(cfg.output_dir)).expanduser()
    if (spawned := distributed.spawn(cfg, run)) is not None:  # devices=N: N processes
        return spawned
    group, cfg = distributed.start(cfg)  # each process: its share of every set's photos
    data, skip = cfg.data, cfg.data.on_unpaired == "skip"
    sets = find_configured_sets(data, out)  # found, paired, every mask read
    probe_writable(out)  # a place it cannot write is one line now, not after the predictions
    excluded = drop_leaks(sets, data, out, group.main)  # data.exclude_leaks: an audit's leaks
    predictor = make_predictor(cfg)
    method = Path(str(cfg.weights)).name
    results, rows, per_image = {}, [], []
    for name, test_set in sets.items():
        score = evaluate_set(predictor, test_set, out / name, str(cfg.convention), skip,
                             cfg.workers, cfg.progress, group, settings.metrics)  # fmt: skip
        if score is None:  # rank > 0: its share went to rank 0, which writes the files
            continue
        if cfg.get("plots", True):
            plot_curves({method: score.curves}, out, name)
        results[name] = score.metrics
        rows.append({"dataset": name, "method": method, "count": score.count, **score.metrics})
        per_image.append((name, method, score.images, score.stats))
    if not group.main:
        return {}
    info = model_info(predictor, str(cfg.weights), cfg.fps_runs if cfg.fps else None)
    info |= {"excluded_leaks": excluded} if data.get("exclude_leaks") else {}
    where = lambda r: ("sets", r["dataset"])  # noqa: E731
    write_scores(out, {"sets": results, **info}, rows, per_image, boot=settings.boot,
                 convention=str(cfg.convention), where=where, metrics=settings.selected,
                 tex_ci=cfg.get("tex_ci", False), table="metrics_full")  # fmt: skip
    backbone = getattr(predictor, "backbone", None)
    lines = eval_report(rows, info, method, str(cfg.convention), settings.paper, backbone)
    write_atomic(out / "metrics.md", "\n".join(lines) + "\n")
    if cfg.get("report", True):  # report.html: run, tables, curves, a browser of the images
        write_report(out, eval_sets(sets, out, method), weights=cfg.weights, workers=cfg.workers)
    print((out / "metrics.md").read_text(), end="")
    return {"sets": results, **info}


main = hydra_command("eval", run)

if __name__ == "__main__":
    main()
