"""``eval``'s work on the test sets: find and pair them, refuse an output inside the data,
predict each set's maps at the photos' sizes and score them.

Every set is found, paired and checked (nothing written into the data, every mask decodes
completely) before any prediction starts. A photo or mask that does not decode completely is
an error naming it; with ``skip`` it is named and skipped (not predicted, not scored).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ras_lightning.data.discovery import discover_set, find_set_dirs
from ras_lightning.data.leaks import audit_leaks, drop_leaked, no_audit, write_excluded
from ras_lightning.data.readers import read_mask, read_photo
from ras_lightning.data.sample import Sample
from ras_lightning.inference.backends import BACKENDS
from ras_lightning.inference.distributed import Group, gather, shard
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.metrics.intervals import Bootstrap, check_ci
from ras_lightning.metrics.per_image import add_up
from ras_lightning.metrics.published import PAPER_COLUMNS
from ras_lightning.metrics.registry import CONVENTIONS, select, widen
from ras_lightning.metrics.scoring import FolderScore, check_convention, score_folder
from ras_lightning.utils.errors import (
    DataError,
    UserError,
    check_outside,
    require_choices,
    require_counts,
)
from ras_lightning.utils.files import make_folder, write_atomic
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.eval")

#: the setting that turns a broken file from an error into a warning
SKIP_HINT = "data.on_unpaired=skip"
ALONE = Group()


@dataclass
class EvalSet:
    """A test set's paired samples and its photo and mask folders."""

    name: str
    samples: list[Sample]
    image_dir: Path
    mask_dir: Path


def _skip_or_raise(err: DataError, skip: bool) -> None:
    if not skip:
        raise DataError(f"{err}; set {SKIP_HINT} to skip it") from None
    log.warning("skipped: %s", err)


def find_test_sets(
    root: str,
    names: list[str],
    out: Path,
    on_unpaired: str = "error",
    layouts: Mapping[str, Any] | None = None,
    max_pixels: int | None = None,
) -> dict[str, EvalSet]:
    """The sets ``names`` under ``root``, paired (``on_unpaired``; photos and masks over
    ``max_pixels`` are refused before decoding), with every mask that the one mask reader
    reads (decoded completely, not class labels) before any photo is predicted;
    ``UserError`` when ``out`` (or a set's output folder) is a data folder or inside one,
    symlinks resolved."""
    layouts = dict(layouts or {})
    skip = on_unpaired == "skip"
    samples = {
        name: discover_set(root, name, on_unpaired, layouts.get(name), max_pixels) for name in names
    }
    dirs = {
        name: find_set_dirs(
            root, name, *(layouts.get(name, {}).get(k) for k in ("image_dir", "mask_dir"))
        )
        for name in samples
    }
    data_folders = {"data.root": root}
    for name, (img_dir, mask_dir) in dirs.items():
        data_folders |= {f"{name}'s photos": img_dir, f"{name}'s masks": mask_dir}
    for target in (out, *(out / name for name in samples)):
        check_outside(target, data_folders)
    sets = {}
    for name, found in samples.items():
        kept = []
        for s in found:
            try:
                read_mask(s.mask)  # the one reader: a truncated or class-label mask stops here
                kept.append(s)
            except DataError as err:  # its photo is not predicted either
                _skip_or_raise(err, skip)
        if not kept:
            raise DataError(f"dataset '{name}': no mask could be read")
        sets[name] = EvalSet(name, kept, Path(dirs[name][0]), Path(dirs[name][1]))
    return sets


def drop_leaks(sets: dict[str, EvalSet], data: Any, out: Path, main: bool = True) -> dict[str, int]:
    """The test photos that an audit (``ras-audit``) of the training set ``data.train_set``
    under ``data.root`` found in ``sets``: one log line with their count whenever such an audit
    exists; with ``data.exclude_leaks`` they leave ``sets`` (each named) and are listed in
    ``out/excluded_leaks.csv`` (written by the ``main`` process). Returns set -> photos left
    out (empty without ``exclude_leaks``); ``exclude_leaks`` with no audit is a ``DataError``."""
    exclude = bool(data.get("exclude_leaks", False))
    train_set, root = data.get("train_set"), data.root
    try:
        train = find_set_dirs(root, train_set, *_layout(data, train_set))[0] if train_set else None
    except DataError:
        train = None
    if train is None:
        if exclude:
            raise DataError(f"data.exclude_leaks=true: no training set {train_set!r} in {root}")
        return {}
    folders = {name: str(s.image_dir) for name, s in sets.items()}
    line, leaks, found = audit_leaks(str(train), folders, str(train_set), data.get("audit_dir"))
    if not found:
        if exclude:
            raise no_audit(train, root)
        return {}
    if main and line:
        log.info("%s; %s", line, "left out" if exclude else "kept (data.exclude_leaks=true: out)")
    if not exclude:
        return {}
    excluded: dict[str, list[str]] = {}
    for name, test_set in sets.items():
        leaked = set(leaks.get(name, []))
        kept, excluded[name] = drop_leaked(test_set.samples, leaked, name, train_set, main)
        test_set.samples = kept
    if main:
        write_excluded(out, excluded)
    return {name: len(names) for name, names in excluded.items()}


def _layout(data: Any, name: str) -> tuple[str | None, str | None]:
    layout = dict((data.get("layouts") or {}).get(name) or {})
    return layout.get("image_dir"), layout.get("mask_dir")


@dataclass(frozen=True)
class EvalSettings:
    """``eval``'s checked settings: the bootstrap (``ci``; None: no intervals), the metrics
    scored (the selection widened by the paper table's), the names written, ``compare=paper``."""

    boot: Bootstrap | None
    metrics: Any
    selected: list[str] | None
    paper: bool


def check_settings(cfg: Any) -> EvalSettings:
    """Every setting of ``eval`` that is not a path, checked before any work (one line each)."""
    counts = {"batch_size": 1, "threads": 1, "workers": 1, "fps_runs": 1}
    require_counts(cfg, counts, nullable=("batch_size", "threads", "workers"))
    choices = {"data.on_unpaired": ("error", "skip"), "backend": BACKENDS}
    require_choices(cfg, {**choices, "convention": tuple(CONVENTIONS)})
    boot = check_ci(cfg)  # ci, bootstrap, seed (and tex_ci)
    metrics = widen(cfg.get("metrics"), (*PAPER_COLUMNS, "max_f"))  # the paper table's stay
    selected = select(metrics, str(cfg.convention)).names  # an unknown name: before any work
    compare = str(cfg.get("compare") or "none")
    if compare not in ("none", "paper"):
        raise UserError(f"compare must be none or paper, got {cfg.compare}")
    return EvalSettings(boot, metrics, selected, compare == "paper")


def find_configured_sets(data: Any, out: Path) -> dict[str, EvalSet]:
    """:func:`find_test_sets` for ``eval``'s ``data`` settings."""
    names = list(data.test_sets)
    layouts, limit = data.get("layouts"), data.get("max_pixels")
    return find_test_sets(data.root, names, out, data.on_unpaired, layouts, limit)


def predict_maps(
    predictor: BatchedPredictor,
    test_set: EvalSet,
    out: Path,
    skip: bool = False,
    progress: bool = True,
    require_any: bool = True,
) -> set[str]:
    """Write the map of every photo of ``test_set`` as ``out/<stem>.png`` (at the photo's
    size), each whole or not at all; return the stems written (``require_any``: none is an
    error)."""
    make_folder(out)

    def photos() -> Iterator[tuple[str, np.ndarray]]:
        for s in test_set.samples:
            try:  # a truncated or corrupt photo is a DataError naming it
                yield s.name, read_photo(s.image)
            except DataError as err:
                _skip_or_raise(err, skip)

    done: set[str] = set()
    bar = tqdm(
        total=len(test_set.samples),
        desc=f"predict {test_set.name}",
        disable=not progress,
        leave=False,
    )
    for stem, saliency in predictor.iter_predict(photos()):
        ok, png = cv2.imencode(".png", saliency)
        if not ok:
            raise UserError(f"cannot write {out / f'{stem}.png'}: OpenCV cannot encode the map")
        write_atomic(out / f"{stem}.png", png.tobytes())
        done.add(stem)
        bar.update(1)
    bar.close()
    if not done and require_any:
        raise DataError(f"dataset '{test_set.name}': no photo could be read")
    return done


def evaluate_set(
    predictor: BatchedPredictor,
    test_set: EvalSet,
    out: Path,
    convention: str,
    skip: bool = False,
    workers: int | None = None,
    progress: bool = True,
    group: Group = ALONE,
    metrics: Sequence[str] | str | None = None,
) -> FolderScore | None:
    """Predict ``test_set``'s maps into ``out`` and score them in ``convention``: only this
    run's maps, so a stale map of a skipped photo is not scored. Across processes
    (``group``), each predicts and scores its shard of the photos (by name) and rank 0 adds
    every image's statistics up in the one-process order (the same metrics to the bit); the
    other ranks get None."""
    samples = shard(sorted(test_set.samples, key=lambda s: s.name), group.rank, group.world)
    mine = EvalSet(test_set.name, samples, test_set.image_dir, test_set.mask_dir)
    done = predict_maps(predictor, mine, out, skip, progress, require_any=group.world == 1)
    part = None
    if done:
        part = score_folder(
            test_set.mask_dir,
            out,
            "skip" if skip else "error",
            workers,
            progress,
            desc=f"score {test_set.name}",
            convention=convention,
            only=done,
            skip_hint=SKIP_HINT,
            metrics=metrics,
        )
    parts = gather(group, part)
    if parts is None:
        return None
    score = merge_scores([p for p in parts if p is not None], convention)
    if score is None:
        raise DataError(f"dataset '{test_set.name}': no photo could be read")
    for bad in score.broken:
        log.warning("skipped: %s", bad)
    log.info(
        "%s: %s, max_f %.4f, mae %.4f",
        test_set.name,
        plural(score.count, "map"),
        score.metrics["max_f"],
        score.metrics["mae"],
    )
    return score


def merge_scores(parts: list[FolderScore], convention: str) -> FolderScore | None:
    """One folder's score from the scores of disjoint parts of it: every image's statistics
    added up in the order one process adds them (by name), the metrics computed from that
    sum (None without parts)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    conv = check_convention(convention)
    images = sorted(
        ((stem, stats) for p in parts for stem, stats in zip(p.images, p.stats, strict=True)),
        key=lambda item: item[0],
    )
    stems, stats = [s for s, _ in images], [st for _, st in images]
    totals, count = add_up(stats), len(stats)
    selection = select([*parts[0].selected] if parts[0].selected else None, convention)
    return FolderScore(
        selection.keep(conv.summarise(totals, count)),
        conv.curves(totals, count),
        count,
        sum(p.resized for p in parts),
        sorted(m for p in parts for m in p.missing),
        [b for p in parts for b in p.broken],
        stems,
        stats,
        parts[0].selected,
    )


def model_info(predictor: BatchedPredictor, weights: str, fps_runs: int | None) -> dict:
    """``eval``'s metrics.json fields on the model: weights, RAS version, input size, backend,
    FPS as the paper measures it (batch 1, network only; None without ``fps_runs``), the
    device it ran on, and the model size in MB."""
    return {
        "weights": weights,
        "version": predictor.version,
        "input_size": predictor.size,
        "backend": predictor.name,
        "fps": predictor.measure_fps(fps_runs) if fps_runs is not None else None,
        "fps_device": predictor.device_name,
        "model_size_mb": round(predictor.size_mb, 1) if predictor.size_mb else None,
    }
