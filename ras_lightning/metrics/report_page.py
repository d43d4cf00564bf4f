"""``report.html``: one static page per output folder of ``score``, ``eval`` (and ``compare``).

It reads what the command wrote (``per_image.csv`` and ``per_image_curves.npz``, optionally
``metrics_ci.json`` and ``metrics.json``) and the folders it scored, and writes:

* ``report.html``: the page (no network requests: no CDN, no fonts, nothing remote);
* ``report_files/data.js``: ``window.REPORT_DATA = {json}``, loaded by a ``<script>`` tag
  (a page opened from ``file://`` cannot fetch a JSON file);
* ``report_files/report.js`` and ``report.css`` (copied from the package), and the
  pictures (:mod:`ras_lightning.metrics.report_images`).

The page shows the metric table (with 95% intervals when ``metrics_ci.json`` is there), the PR,
F and E curves (drawn as SVG in the page), and per dataset a browser of the images: one row per
image with its per-image metrics for every method, sortable by any of them (first click: worst
first), filterable by method and name, paged (so 5,000 rows open at once); thumbnails of the
photo, the mask, each map and its error overlay; a click shows them full size side by side.
Everything the page needs sits in the output folder, so it can be copied as a whole.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ras_lightning.data.discovery import IMAGE_EXTS, list_files
from ras_lightning.metrics import report_images as pics
from ras_lightning.metrics.per_image import CURVES_FILE, KEYS, PER_IMAGE_CSV, add_up, read_curves
from ras_lightning.metrics.registry import CONVENTIONS, METRICS, metric_names
from ras_lightning.metrics.scoring import default_workers
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.files import write_atomic

log = logging.getLogger("ras_lightning.metrics")

REPORT = "report.html"
DATA_PREFIX = "window.REPORT_DATA = "
ASSETS = Path(__file__).with_name("report_assets")


@dataclass
class ReportSet:
    """The folders of one dataset: masks, each method's maps, photos (``eval``) or None."""

    masks: Path
    maps: dict[str, Path]
    photos: Path | None = None


def score_sets(datasets: Mapping[str, Any], pred_dirs: Mapping[tuple[str, str], Path]) -> dict:
    """``score``'s folders: ``datasets`` ({name: gt_dir}) and its map folder per (dataset,
    method) (:func:`~ras_lightning.metrics.scoring.plan_folders`)."""
    return {
        d: ReportSet(Path(str(g)), {m: Path(p) for (ds, m), p in pred_dirs.items() if ds == d})
        for d, g in datasets.items()
    }


def eval_sets(sets: Mapping[str, Any], out: Path, method: str) -> dict:
    """``eval``'s folders: each test set's (``mask_dir``, ``image_dir``) and its maps,
    ``out/<set>``."""
    return {n: ReportSet(s.mask_dir, {method: out / n}, s.image_dir) for n, s in sets.items()}


def _number(value: str | float) -> float | None:
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else v


def read_rows(out: Path) -> tuple[list[str], dict[str, dict[str, dict[str, dict]]]]:
    """(metric columns, {dataset: {method: {image: {metric: value}}}}) of per_image.csv."""
    path = out / PER_IMAGE_CSV
    if not path.is_file():
        raise DataError(f"report: no {path} (score and eval write it before the report)")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        head = next(reader)
        names = head[len(KEYS) :]
        rows: dict[str, dict[str, dict[str, dict]]] = {}
        for r in reader:
            values = {n: _number(v) for n, v in zip(names, r[len(KEYS) :], strict=True)}
            rows.setdefault(r[0], {}).setdefault(r[1], {})[r[2]] = values
    return names, rows


BOUNDS = ("low", "high")


def _finite(value: object) -> float | None:
    """A number for JSON (which has no NaN): None for NaN, infinities and non-numbers."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _metric_info(name: str) -> dict:
    info = METRICS.get(name)
    return {
        "name": name,
        "title": info.title if info else name,
        "higher": info.higher_is_better if info else True,
    }


def _round(values: Sequence[float], digits: int = 5) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


def summaries(out: Path) -> dict[tuple[str, str], dict]:
    """{(dataset, method): {"count", "metrics", "curves"}} from the curves file: the metrics
    score/eval wrote (per_image.dataset_metrics) and the mean curves of their plots."""
    curves = read_curves(out / CURVES_FILE)
    conv = CONVENTIONS[str(curves["convention"])]
    stats = [k for k in curves if k not in (*KEYS, "convention")]
    out_: dict[tuple[str, str], dict] = {}
    pairs = dict.fromkeys(zip(curves["dataset"].tolist(), curves["method"].tolist(), strict=True))
    for dataset, method in pairs:
        rows = np.flatnonzero((curves["dataset"] == dataset) & (curves["method"] == method))
        totals = add_up({k: curves[k][i] for k in stats} for i in rows)
        n = len(rows)
        out_[dataset, method] = {
            "count": n,
            "metrics": conv.summarise(totals, n),
            "curves": {k: _round(v) for k, v in conv.curves(totals, n).items()},
        }
    return out_


def _ci_for(ci: dict | None, dataset: str, method: str, single: bool) -> dict:
    """The intervals of ``method`` on ``dataset`` in a metrics_ci.json of any command's shape
    (flat; ``{dataset: {method: ...}}``; eval's ``{"sets": {dataset: ...}}``)."""
    if not ci:
        return {}
    if isinstance(ci.get("sets"), dict):
        found = ci["sets"].get(dataset)
    elif isinstance(ci.get(dataset), dict) and isinstance(ci[dataset].get(method), dict):
        found = ci[dataset][method]
    else:
        found = ci if single else None
    return {k: v for k, v in (found or {}).items() if isinstance(v, dict) and "low" in v}


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_summary(weights: str | os.PathLike | None, info: dict | None) -> list[list[str]]:
    """The lines on top of an ``eval`` page: the weights and model (``info``: metrics.json)
    and, for a checkpoint of a training run, the run's recipe, backbone, size and epochs
    (its ``.hydra/config.yaml``, else the checkpoint's saved hyper-parameters)."""
    lines: list[list[str]] = []
    if weights:
        lines.append(["weights", str(weights)])
    for key, label in (("version", "RAS version"), ("input_size", "input size")):
        if info and info.get(key) is not None:
            lines.append([label, str(info[key])])
    if info and info.get("fps"):
        lines.append(["speed", f"{info['fps']:.1f} FPS on {info.get('fps_device')}"])
    if not weights:
        return lines
    path = Path(str(weights)).expanduser()
    run = next((p for p in (path.parent, path.parent.parent) if (p / ".hydra").is_dir()), None)
    if run is not None:
        from omegaconf import OmegaConf

        try:
            cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
            choices = OmegaConf.load(run / ".hydra" / "hydra.yaml").hydra.runtime.choices
        except Exception:  # an unreadable or foreign config: no summary, no failure
            return lines
        pick = {
            "run": str(run),
            "strategy": choices.get("strategy"),
            "recipe": OmegaConf.select(cfg, "data.recipe"),
            "backbone": OmegaConf.select(cfg, "model.net.backbone.name"),
            "training size": OmegaConf.select(cfg, "data.image_size"),
            "epochs": OmegaConf.select(cfg, "trainer.max_epochs"),
            "batch size": OmegaConf.select(cfg, "data.batch_size"),
            "optimizer": choices.get("optimizer"),
            "lr": OmegaConf.select(cfg, "optimizer.lr"),
            "train set": OmegaConf.select(cfg, "data.train_set"),
            "seed": OmegaConf.select(cfg, "seed"),
        }
        return lines + [[k, str(v)] for k, v in pick.items() if v is not None]
    # only where torch is loaded already: an eval served from the ONNX cache imports no torch
    # (its ~2 s start-up), and the page then does without the checkpoint's settings
    if path.suffix == ".ckpt" and path.is_file() and "torch" in sys.modules:
        try:  # the tensors are not read (mmap); only the small pickled header
            import torch

            ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
            hp = dict(ckpt.get("hyper_parameters") or {})
        except Exception:
            return lines
        pick = {
            "recipe": hp.get("input_recipe"),
            "backbone": hp.get("backbone"),
            "training size": hp.get("eval_size"),
            "epochs trained": ckpt.get("epoch", -1) + 1 if "epoch" in ckpt else None,
        }
        lines += [[k, str(v)] for k, v in pick.items() if v is not None]
    return lines


def _files(folder: Path | None) -> dict[str, str]:
    if folder is None or not Path(folder).is_dir():
        return {}
    return list_files(Path(folder), IMAGE_EXTS)


def write_report(
    out: str | os.PathLike,
    sets: Mapping[str, ReportSet],
    *,
    title: str | None = None,
    weights: str | os.PathLike | None = None,
    workers: int | None = None,
) -> Path:
    """Write ``out/report.html`` (and ``out/report_files/``) for the per-image values already
    in ``out``; ``sets``: each dataset's folders. ``weights``: ``eval``'s, for the run summary
    on top; ``workers``: processes making the pictures. Returns the page's path."""
    start = time.perf_counter()
    out = Path(out)
    names, rows = read_rows(out)
    sums = summaries(out)
    ci = _read_json(out / "metrics_ci.json")
    metrics_json = _read_json(out / "metrics.json") or {}
    single = len(sums) == 1
    jobs_all: list[pics.Job] = []
    datasets = []
    for dataset, by_method in rows.items():
        methods = list(by_method)
        images = sorted({im for per in by_method.values() for im in per})
        src = sets.get(dataset)
        masks = _files(src.masks) if src else {}
        photos = _files(src.photos) if src and src.photos else None
        maps = [_files(src.maps.get(m)) if src else {} for m in methods]
        jobs = pics.plan_jobs(out, dataset, images, photos, masks, maps)
        jobs_all += jobs
        table = {}
        for m in methods:
            s = sums.get((dataset, m), {})
            cis = _ci_for(ci, dataset, m, single)
            table[m] = {
                "count": s.get("count", len(by_method[m])),
                "metrics": {
                    k: {"value": _finite(v), **{b: _finite(cis[k][b]) for b in BOUNDS if k in cis}}
                    for k, v in s.get("metrics", {}).items()
                },
                "curves": s.get("curves", {}),
            }
        values = {
            m: {n: [by_method[m].get(im, {}).get(n) for im in images] for n in names}
            for m in methods
        }
        datasets.append(
            {
                "name": dataset,
                "methods": methods,
                "table": table,
                "images": images,
                "values": values,
                "extra": {},
                "jobs": jobs,
            }
        )
    workers = workers or default_workers()
    made, problems = pics.make_pictures(out, jobs_all, workers)
    for p in problems[:10]:
        log.warning("report: left out a picture: %s", p)
    if len(problems) > 10:
        log.warning("report: left out %d more pictures", len(problems) - 10)
    for d in datasets:
        jobs = d.pop("jobs")
        d["thumbs"], d["full"] = _hrefs(out, jobs, len(d["methods"]))
    conv = metrics_json.get("convention") or str(read_curves(out / CURVES_FILE)["convention"])
    info = run_summary(weights, metrics_json if "sets" in metrics_json else None)
    page = _write_page(out, datasets, names, title, conv, info, bool(ci), None)
    log.info(
        "wrote %s (%d images, pictures made for %d, %.1f s)",
        page,
        sum(len(d["images"]) for d in datasets),
        made,
        time.perf_counter() - start,
    )
    return page


def _write_page(
    out: Path,
    datasets: list[dict],
    names: Sequence[str],
    title: str | None,
    convention: str,
    info: list[list[str]],
    has_ci: bool,
    sort: str | None,
) -> Path:
    """report_files/data.js, the script and style sheet, and report.html."""
    summary_names = [
        k
        for k in metric_names()
        if any(k in t["metrics"] for d in datasets for t in d["table"].values())
    ]
    data = {
        "title": title or f"Report: {out.resolve().name}",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "convention": convention,
        "info": info,
        "metrics": [_metric_info(n) for n in names],
        "summary_metrics": [_metric_info(n) for n in summary_names],
        "has_ci": has_ci,
        "sort": sort,
        "threshold": pics.THRESHOLD,
        "colors": {"fp": _hex(pics.FP_COLOR), "fn": _hex(pics.FN_COLOR)},
        "datasets": datasets,
    }
    files = out / pics.FILES
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    write_atomic(files / "data.js", DATA_PREFIX + text + "\n")
    for asset in ("report.js", "report.css"):
        write_atomic(files / asset, (ASSETS / asset).read_bytes())
    return write_atomic(out / REPORT, _html(data["title"]))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _hrefs(out: Path, jobs: list[pics.Job], n_methods: int) -> tuple[dict, dict]:
    """{kind: [URL or None per image]} of the thumbnails and full-size views that exist
    (relative URLs: a ``#`` or ``?`` in a linked map's name is percent-encoded)."""
    kinds = ["photo", "mask", *(f"{p}{k}" for k in range(n_methods) for p in ("map", "err"))]
    thumbs: dict[str, list] = {k: [] for k in kinds}
    full: dict[str, list] = {k: [] for k in kinds}
    for job in jobs:
        for k in kinds:
            t, f = job.thumbs.get(k), job.full.get(k)
            thumbs[k].append(quote(t) if t and (out / t).is_file() else None)
            full[k].append(quote(f) if f and (out / f).is_file() else None)
    # a kind no image has (no photos in score) is left out
    return {k: v for k, v in thumbs.items() if any(v)}, {k: v for k, v in full.items() if any(v)}


def _html(title: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{pics.FILES}/report.css">
</head>
<body>
<header id="head"><h1>{escape(title)}</h1><p id="meta"></p></header>
<noscript><p>This page needs JavaScript (it runs offline; nothing is downloaded).</p></noscript>
<main id="app"><p id="loading">Loading&hellip;</p></main>
<div id="viewer" hidden></div>
<script src="{pics.FILES}/data.js"></script>
<script src="{pics.FILES}/report.js"></script>
</body>
</html>
"""
