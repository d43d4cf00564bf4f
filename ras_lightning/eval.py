"""``python -m ras_lightning.eval``: the paper's evaluation for a checkpoint or released weights.

For every test set: a map per photo at the photo's size (``OUT/<set>/<stem>.png``), made as
the authors' test scripts make it (:mod:`inference.protocol`), scored in ``convention``
(``f3net``: the MATLAB evaluation behind the published tables, the default; or
``pysodmetrics``); then ``OUT/metrics.json``, the published figure's table ``OUT/metrics.md``
(adaptive E-measure, S-measure, adaptive F-measure, MAE per set; FPS and model size;
``compare=paper`` adds the paper's numbers and the differences) and the full table
``OUT/metrics_full.md`` / ``.csv``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import hydra
from omegaconf import DictConfig
from tqdm import tqdm

from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.metrics.published import PAPER_COLUMNS, PUBLISHED_FPS, PUBLISHED_MB, published
from ras_lightning.utils.errors import UserError, user_errors

log = logging.getLogger("ras_lightning.eval")


def run(cfg: DictConfig) -> dict:
    from ras_lightning.data.discovery import discover_set, find_set_dirs
    from ras_lightning.inference.backends import make_predictor
    from ras_lightning.inference.protocol import read_photo
    from ras_lightning.metrics.registry import CONVENTIONS
    from ras_lightning.metrics.reports import write_json, write_tables
    from ras_lightning.metrics.scoring import score_folder

    if cfg.convention not in CONVENTIONS:
        raise UserError(f"convention must be one of {', '.join(CONVENTIONS)}, got {cfg.convention}")
    if str(cfg.get("compare") or "none") not in ("none", "paper"):
        raise UserError(f"compare must be none or paper, got {cfg.compare}")
    out = Path(str(cfg.output_dir)).expanduser()
    layouts = dict(cfg.data.get("layouts") or {})
    # every set is found and paired before any prediction starts
    sets = {
        name: discover_set(cfg.data.root, name, cfg.data.on_unpaired, layouts.get(name))
        for name in cfg.data.test_sets
    }
    predictor = make_predictor(cfg)
    results: dict = {}
    rows = []
    for name, samples in sets.items():
        set_out = out / name
        set_out.mkdir(parents=True, exist_ok=True)

        def photos(samples=samples):
            for s in samples:
                # as the recipe's test script; a truncated or corrupt photo is a DataError
                yield s.name, read_photo(s.image, predictor.recipe)

        bar = tqdm(
            total=len(samples), desc=f"predict {name}", disable=not cfg.progress, leave=False
        )
        for stem, saliency in predictor.iter_predict(photos()):
            cv2.imwrite(str(set_out / f"{stem}.png"), saliency)
            bar.update(1)
        bar.close()
        mask_dir = find_set_dirs(
            cfg.data.root, name, *(layouts.get(name, {}).get(k) for k in ("image_dir", "mask_dir"))
        )[1]
        score = score_folder(
            mask_dir,
            set_out,
            "skip" if cfg.data.on_unpaired == "skip" else "error",
            cfg.workers,
            cfg.progress,
            desc=f"score {name}",
            convention=str(cfg.convention),
        )
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
