"""``python -m ras_lightning.eval``: the paper's evaluation for a checkpoint or released weights.

For every test set: a map per photo at the photo's size (``OUT/<set>/<stem>.png``), made as
the authors' test scripts make it (:mod:`data.protocol`), scored in ``convention``
(``f3net``: the MATLAB evaluation behind the published tables, the default; or
``pysodmetrics``); then ``OUT/metrics.json``, the published figure's table ``OUT/metrics.md``
(adaptive E-measure, S-measure, adaptive F-measure, MAE per set; FPS and model size;
``compare=paper`` adds the paper's numbers and the differences) and the full table
``OUT/metrics_full.md`` / ``.csv``, and per set the PR and F-measure curves
(``OUT/pr_curve_<set>.png``, ``f_curve_<set>.png``, numbers in ``curves_<set>.csv``).

Nothing is written into the data: an ``output_dir`` that is (or is inside) ``data.root`` or a
set's folders, symlinks resolved, is refused before any work. A photo or mask that does not
decode completely is an error naming it; with ``data.on_unpaired=skip`` it is named and
skipped (not predicted, not scored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import hydra
from omegaconf import DictConfig
from tqdm import tqdm

from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.metrics.published import PAPER_COLUMNS, PUBLISHED_FPS, PUBLISHED_MB, published
from ras_lightning.utils.errors import DataError, UserError, check_outside, require, user_errors

log = logging.getLogger("ras_lightning.eval")


EXAMPLE = (
    "python -m ras_lightning.eval weights=RAS.v2.pth data.root=/data/sod "
    "data.test_sets=[ECSSD] output_dir=out/eval"
)


def run(cfg: DictConfig) -> dict:
    from ras_lightning.data.discovery import discover_set, find_set_dirs
    from ras_lightning.data.readers import read_photo
    from ras_lightning.inference.backends import make_predictor
    from ras_lightning.metrics.registry import CONVENTIONS
    from ras_lightning.metrics.reports import plot_curves, write_json, write_tables
    from ras_lightning.metrics.scoring import check_complete, score_folder

    require(
        cfg,
        {"weights": "a checkpoint or RAS.v1.pth/RAS.v2.pth", "output_dir": "where to write"},
        EXAMPLE,
    )
    if cfg.convention not in CONVENTIONS:
        raise UserError(f"convention must be one of {', '.join(CONVENTIONS)}, got {cfg.convention}")
    if str(cfg.get("compare") or "none") not in ("none", "paper"):
        raise UserError(f"compare must be none or paper, got {cfg.compare}")
    out = Path(str(cfg.output_dir)).expanduser()
    layouts = dict(cfg.data.get("layouts") or {})
    skip = cfg.data.on_unpaired == "skip"
    # every set is found and paired, and nothing would be written into the data, before any
    # prediction starts
    sets = {
        name: discover_set(cfg.data.root, name, cfg.data.on_unpaired, layouts.get(name))
        for name in cfg.data.test_sets
    }
    dirs = {
        name: find_set_dirs(
            cfg.data.root, name, *(layouts.get(name, {}).get(k) for k in ("image_dir", "mask_dir"))
        )
        for name in sets
    }
    data_folders = {"data.root": cfg.data.root}
    for name, (img_dir, mask_dir) in dirs.items():
        data_folders |= {f"{name}'s photos": img_dir, f"{name}'s masks": mask_dir}
    for target in (out, *(out / name for name in sets)):
        check_outside(target, data_folders)
    for name, samples in sets.items():
        sets[name] = _readable_masks(name, samples, skip, check_complete)
    predictor = make_predictor(cfg)
    results: dict = {}
    rows = []
    for name, samples in sets.items():
        set_out = out / name
        set_out.mkdir(parents=True, exist_ok=True)
        done: set[str] = set()

        def photos(samples=samples):
            for s in samples:
                # as the recipe's test script; a truncated or corrupt photo is a DataError
                try:
                    yield s.name, read_photo(s.image)
                except DataError as err:
                    if not skip:
                        raise DataError(f"{err}; set data.on_unpaired=skip to skip it") from None
                    log.warning("skipped: %s", err)

        bar = tqdm(
            total=len(samples), desc=f"predict {name}", disable=not cfg.progress, leave=False
        )
        for stem, saliency in predictor.iter_predict(photos()):
            if not cv2.imwrite(str(set_out / f"{stem}.png"), saliency):
                raise UserError(f"could not write {set_out / f'{stem}.png'}")
            done.add(stem)
            bar.update(1)
        bar.close()
        if not done:
            raise DataError(f"dataset '{name}': no photo could be read")
        # only this run's maps: a stale map of a skipped photo is not scored
        score = score_folder(
            dirs[name][1],
            set_out,
            "skip" if skip else "error",
            cfg.workers,
            cfg.progress,
            desc=f"score {name}",
            convention=str(cfg.convention),
            only=done,
            skip_hint="data.on_unpaired=skip",
        )
        for bad in score.broken:
            log.warning("skipped: %s", bad)
        if cfg.get("plots", True):
            plot_curves({Path(str(cfg.weights)).name: score.curves}, out, name)
        results[name] = score.metrics
        rows.append(
            {
                "dataset": name,
                "method": Path(str(cfg.weights)).name,
                "count": score.count,
                **score.metrics,
            }
        )
        log.info(
            "%s: %d maps, max_f %.4f, mae %.4f",
            name,
            score.count,
            score.metrics["max_f"],
            score.metrics["mae"],
        )
    fps, fps_device, version, size_mb = _speed_and_size(predictor, cfg)
    info = {
        "weights": str(cfg.weights),
        "version": version,
        "input_size": predictor.size,
        "backend": predictor.name,
        "fps": fps,
        "fps_device": fps_device,
        "model_size_mb": size_mb,
    }
    write_json({"sets": results, **info}, out / "metrics.json")
    write_tables(rows, out, "metrics_full")
    compare = str(cfg.get("compare") or "none")
    lines = paper_table(rows, str(cfg.convention), version, compare == "paper")
    fps_text = f"{fps:.1f} FPS on {info['fps_device']}" if fps else "FPS not measured"
    lines.append("")
    lines.append(
        f"RAS {version} ({Path(str(cfg.weights)).name}), input "
        f"{predictor.size}x{predictor.size}: {fps_text} (batch 1, network only, "
        f"{info['backend']}); "
        f"model size {info['model_size_mb']} MB."
    )
    if compare == "paper":
        lines.append(
            f"Paper (RAS {version}, RTX 2080Ti): {PUBLISHED_FPS.get(version)} FPS, "
            f"{PUBLISHED_MB.get(version)} MB."
        )
    (out / "metrics.md").write_text("\n".join(lines) + "\n")
    print((out / "metrics.md").read_text(), end="")
    return {"sets": results, **info}


def _readable_masks(name: str, samples: list, skip: bool, check: Callable) -> list:
    """``samples`` whose mask decodes completely; a broken mask is an error naming it, or
    with ``skip`` a warning naming it (its photo is not predicted)."""
    kept = []
    for s in samples:
        try:
            check(s.mask, "mask")
            kept.append(s)
        except DataError as err:
            if not skip:
                raise DataError(f"{err}; set data.on_unpaired=skip to skip it") from None
            log.warning("skipped: %s", err)
    if not kept:
        raise DataError(f"dataset '{name}': no mask could be read")
    return kept


def paper_table(rows: list[dict], convention: str, version: str, compare: bool) -> list[str]:
    """The published figure's columns (adaptive E, S, adaptive F, MAE) for every set, with
    the convention in the heading; with ``compare`` the paper's RAS ``version`` row and the
    difference (ours - paper) under each set the figure has."""
    from ras_lightning.metrics.registry import CONVENTIONS, METRICS

    head = ["dataset", "method", "images", *(METRICS[k].long_title for k in PAPER_COLUMNS)]
    lines = [
        f"Convention: {convention} ({CONVENTIONS[convention].description})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        ours = [r[k] for k in PAPER_COLUMNS]
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['count']} | "
            + " | ".join(f"{v:.3f}" for v in ours)
            + " |"
        )
        paper = published(version, r["dataset"]) if compare else None
        if paper is not None:
            theirs = [paper[k] for k in PAPER_COLUMNS]
            lines.append(
                f"| {r['dataset']} | paper (RAS {version}) | | "
                + " | ".join(f"{v:.3f}" for v in theirs)
                + " |"
            )
            lines.append(
                f"| {r['dataset']} | difference | | "
                + " | ".join(f"{a - b:+.3f}" for a, b in zip(ours, theirs, strict=True))
                + " |"
            )
        elif compare:
            lines.append(f"| {r['dataset']} | paper (RAS {version}) | | - | - | - | - |")
    return lines


def _speed_and_size(predictor: BatchedPredictor, cfg: DictConfig) -> tuple:
    """(FPS as the paper or None, device name, RAS version, model size in MB)."""
    from ras_lightning.inference.onnx_predictor import OnnxPredictor

    if isinstance(predictor, OnnxPredictor):
        from ras_lightning.utils.devices import cpu_name

        fps = predictor.measure_fps(cfg.fps_runs) if cfg.fps else None
        device = cpu_name(predictor.threads)
    else:
        from ras_lightning.utils.devices import device_name
        from ras_lightning.utils.timing import measure_fps

        fps = None
        if cfg.fps:
            fps = measure_fps(
                predictor.net,
                predictor.device,
                predictor.size,
                cfg.fps_runs,
                channels_last=cfg.channels_last,
                half=predictor.autocast,
            )
        device = device_name(predictor.device)
    size = round(predictor.size_mb, 1) if predictor.size_mb else None
    return fps, device, predictor.version, size


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
