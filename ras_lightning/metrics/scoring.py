"""Scoring folders of saliency maps against folders of masks (what ``score`` and ``eval`` use).

Maps are paired with masks by file stem whatever the extension (maps are often saved as
.jpg). The conventions (``convention=``) are those of :mod:`ras_lightning.metrics.registry`:

* ``pysodmetrics``: every registered metric, PySODMetrics' definitions
  (:mod:`ras_lightning.metrics.functional`); a map whose size differs from its mask is resized
  to it (bilinear, as PySODEvalToolkit).
* ``f3net``: the MATLAB evaluation in F3Net's repository that the RAS, CPD and F3Net tables
  come from (:mod:`ras_lightning.metrics.f3net`; its own reading and ``imresize``).

Images are scored in parallel forked worker processes with the NumPy kernels (no torch
import); each worker returns every image's statistics (numbers and 256-entry curves), which
are added up in image order (every metric is computed from their means over images) and kept
per image (:attr:`FolderScore.stats`, written out by :mod:`ras_lightning.metrics.per_image`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from ras_lightning.data.checks import pixel_limit, too_large
from ras_lightning.data.discovery import IMAGE_EXTS, describe_duplicates, scan_files
from ras_lightning.metrics.per_image import add_up

# the registry imports every kernel (f3net's SciPy included) here, before the pool forks:
# importing SciPy inside a worker forked from a process that runs torch threads deadlocks
# (seen in the tests)
from ras_lightning.metrics.registry import CONVENTIONS, Convention, select
from ras_lightning.utils.errors import DataError

log = logging.getLogger("ras_lightning.metrics")


@dataclass
class FolderScore:
    """The result of scoring one folder of maps."""

    metrics: dict[str, float]
    curves: dict[str, list[float]]
    count: int
    resized: int
    missing: list[str] = field(default_factory=list)
    # "path: reason" of every mask or map that could not be read completely (skipped)
    broken: list[str] = field(default_factory=list)
    # the stems of the scored images and each one's statistics (the kernels' output), in the
    # order they were added up: ``metrics`` is the convention's ``summarise`` of their sum
    images: list[str] = field(default_factory=list)
    stats: list[dict] = field(default_factory=list)
    # the metrics selected (``metrics=``), in the registry's order; None: the default set
    selected: tuple[str, ...] | None = None


def pair_maps(
    gt_dir: str | Path,
    pred_dir: str | Path,
    missing: str = "error",
    only: set[str] | None = None,
    skip_hint: str = "missing=skip",
) -> tuple[list[tuple[str, str]], list[str]]:
    """(mask, map) path pairs by stem, and the stems of masks with no map.

    ``missing='error'`` raises a one-line error naming up to 10 masks with no map, or the
    files of a mask's stem held by two files in either folder (``0001.png`` + ``0001.jpg``:
    which one to score is anyone's guess); ``missing='skip'`` skips those masks, the
    same-stem ones named in a warning. ``only`` restricts the masks to these stems (``eval``:
    the photos it predicted); ``skip_hint``: the setting the errors suggest.
    """
    gt_dir, pred_dir = Path(gt_dir).expanduser(), Path(pred_dir).expanduser()
    for what, d in (("gt_dir", gt_dir), ("pred_dir", pred_dir)):
        if not d.is_dir():
            raise DataError(f"{what}: no such folder: {d}")
    (gts, gt_dups), (preds, pred_dups) = (
        scan_files(gt_dir, IMAGE_EXTS),
        scan_files(pred_dir, IMAGE_EXTS),
    )
    if only is not None:
        gts = {k: v for k, v in gts.items() if k in only}
    if not gts:
        raise DataError(f"gt_dir: no png/jpg/bmp masks in {gt_dir}")
    # only the stems that would be scored: a same-stem pair of maps with no mask is never read
    dups = [(gt_dir, gt_dups[s]) for s in sorted(gt_dups) if s in gts]
    dups += [(pred_dir, pred_dups[s]) for s in sorted(pred_dups) if s in gts]
    if dups:
        folders = ", ".join(dict.fromkeys(str(d) for d, _ in dups))
        what = f"{describe_duplicates([paths for _, paths in dups])} in {folders}"
        if missing != "skip":
            raise DataError(f"{what}; keep one file per name or set {skip_hint}")
        log.warning("skipped %s", what)
        for _, paths in dups:
            gts.pop(Path(paths[0]).stem, None)
        if not gts:
            raise DataError(f"gt_dir: no mask left to score in {gt_dir}: {what}")
    lonely = sorted(set(gts) - set(preds))
    if lonely and missing != "skip":
        more = " ..." if len(lonely) > 10 else ""
        raise DataError(
            f"{len(lonely)} of {len(gts)} masks in {gt_dir} without a map in {pred_dir} "
            f"({', '.join(lonely[:10])}{more}); set {skip_hint} to score the others"
        )
    pairs = [(gts[s], preds[s]) for s in sorted(set(gts) & set(preds))]
    if not pairs:
        raise DataError(f"no map in {pred_dir} matches a mask in {gt_dir} by file name")
    return pairs, lonely


def check_convention(convention: str) -> Convention:
    """The registered convention named ``convention`` (a one-line error otherwise)."""
    if convention not in CONVENTIONS:
        raise DataError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return CONVENTIONS[convention]


def check_complete(path: str, what: str = "image") -> None:
    """Raise :class:`DataError` naming ``path`` unless it decodes completely.

    OpenCV (what the kernels read with) decodes a truncated file's remainder as grey with only
    a warning on stderr, so a cut-off mask or map would be scored silently. A PNG is checked by
    PIL's ``verify`` (every chunk's CRC up to IEND, no pixel decoding: fast), anything else by
    a full PIL decode.
    """
    try:
        with Image.open(path) as im:
            im.verify() if im.format == "PNG" else im.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, struct.error...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"cannot read {what} {path}: {reason}") from None


def _score_chunk(
    pairs: Sequence[tuple[str, str]],
    convention: str = "pysodmetrics",
    skip_broken: bool = False,
    families: Sequence[str] | None = None,
) -> tuple[list[tuple[str, dict]], int, list[str]]:
    """(stem and statistics of each image scored, maps resized, problems of those skipped)."""
    conv = CONVENTIONS[convention]
    images = []
    resized = 0
    broken = []
    for gt_path, pred_path in pairs:
        try:
            check_complete(gt_path, "mask")
            check_complete(pred_path, "map")
            # the one readers: a mask of class labels is refused (or skipped) here too
            pred, gt, was_resized = conv.load(gt_path, pred_path)
        except DataError as err:
            if not skip_broken:
                raise
            broken.append(str(err).removeprefix("cannot read "))
            continue
        images.append((Path(gt_path).stem, conv.image_stats(pred, gt, families)))
        resized += was_resized
    return images, resized, broken


def default_workers() -> int:
    return max(
        1,
        min(
            8,
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1),
        ),
    )


def score_folder(
    gt_dir: str | Path,
    pred_dir: str | Path,
    missing: str = "error",
    workers: int | None = None,
    progress: bool = True,
    desc: str = "scoring",
    convention: str = "pysodmetrics",
    only: set[str] | None = None,
    skip_hint: str = "missing=skip",
    max_pixels: int | None = None,
    metrics: Sequence[str] | str | None = None,
) -> FolderScore:
    """Score every map in ``pred_dir`` against its mask in ``gt_dir`` in ``convention``.

    ``metrics``: None (the default set), ``"all"`` (PySODMetrics' whole set) or metric names
    (:func:`~ras_lightning.metrics.registry.select`; only the families they need are computed).

    A mask or map that does not decode completely, or whose header claims more than
    ``max_pixels`` pixels (the setting ``max_pixels``; None: no check, for maps and masks
    checked before), is an error naming it; with ``missing='skip'`` it is skipped and named
    in :attr:`FolderScore.broken` (``skip_hint``: the setting that the error message
    suggests). ``only``: see :func:`pair_maps`.
    """
    conv = check_convention(convention)  # before any file is read
    selection = select(metrics, convention)
    families = None if metrics is None else selection.families
    limit = None if max_pixels is None else pixel_limit(max_pixels, "max_pixels")
    pairs, lonely = pair_maps(gt_dir, pred_dir, missing, only, skip_hint)
    skip = missing == "skip"
    oversized: list[str] = []
    if limit is not None:  # headers only, before anything decodes them
        pairs, oversized = _within(pairs, limit, skip, skip_hint)
    workers = workers or default_workers()
    # chunks of at most 8 maps, so that the workers finish at about the same time
    chunk = max(1, min(8, len(pairs) // (workers * 4) or 1))
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    images: list[tuple[str, dict]] = []
    resized = 0
    broken: list[str] = list(oversized)
    bar = tqdm(total=len(pairs), desc=desc, unit="map", disable=not progress, leave=False)
    # forked workers, each with OpenCV's default threads: changing OpenCV's thread count in a
    # forked child (or importing SciPy there) can deadlock when the parent runs other threads
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        conventions, n = [convention] * len(chunks), len(chunks)
        results = (pool or _Serial()).map(
            _score_chunk, chunks, conventions, [skip] * n, [families] * n
        )
        for part, r, bad in results:
            images += part
            resized += r
            broken += bad
            bar.update(len(part) + len(bad))
    except DataError as err:  # raised in a worker: add how to score the others
        raise DataError(f"{err}; set {skip_hint} to score the others") from None
    finally:
        if pool:
            pool.shutdown()
        bar.close()
    if not images:
        raise DataError(f"no map in {pred_dir} could be scored: {'; '.join(broken[:3])}")
    stems, stats = [s for s, _ in images], [st for _, st in images]
    # added up in image order (whatever the workers' chunks), as per_image.dataset_metrics
    totals, count = add_up(stats), len(stats)
    values, curves = selection.keep(conv.summarise(totals, count)), conv.curves(totals, count)
    score = FolderScore(values, curves, count, resized, lonely, broken, stems, stats)
    score.selected = selection.names
    return score


def _within(
    pairs: list[tuple[str, str]], limit: int, skip: bool, skip_hint: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """(pairs whose mask and map headers claim at most ``limit`` pixels, the problem of each
    other pair), or with ``skip`` false a :class:`DataError` naming the first other pair."""
    kept, problems = [], []
    for gt_path, pred_path in pairs:
        big = too_large(gt_path, limit, "max_pixels", "mask") or too_large(
            pred_path, limit, "max_pixels", "map"
        )
        if big is None:
            kept.append((gt_path, pred_path))
        elif not skip:
            raise DataError(f"{big}; set {skip_hint} to score the others")
        else:
            problems.append(big)
    return kept, problems


class _Serial:
    """``map`` in this process, with the pool's signature."""

    @staticmethod
    def map(fn, *iterables):  # type: ignore[no-untyped-def]
        return map(fn, *iterables)


def _method_dir(template: str, dataset: str) -> Path:
    """A method's maps of ``dataset``: ``{dataset}`` in ``template`` filled, else the
    sub-folder named as the dataset if there is one, else ``template`` itself."""
    if "{dataset}" in template:
        return Path(template.format(dataset=dataset)).expanduser()
    base = Path(template).expanduser()
    return base / dataset if (base / dataset).is_dir() else base


def plan_folders(
    datasets: dict[str, str], methods: dict[str, str], pred_dir: str | None = None
) -> tuple[dict[tuple[str, str], Path], dict[str, Path]]:
    """``score``'s map folder per (dataset, method) (``pred_dir`` for the one-folder form,
    else each method's template: :func:`_method_dir`), and every folder it reads by the
    setting that names it (what an output folder may not be inside)."""
    pred_dirs = {
        (dataset, method): Path(pred_dir) if pred_dir else _method_dir(str(template), dataset)
        for dataset in datasets
        for method, template in methods.items()
    }
    if pred_dir:
        return pred_dirs, {
            "gt_dir": Path(next(iter(datasets.values()))),
            "pred_dir": Path(pred_dir),
        }
    folders = {f"gt_dir of {d}": Path(g) for d, g in datasets.items()}
    for (dataset, method), folder in pred_dirs.items():
        folders[f"pred_dir of {method} on {dataset}"] = folder
    return pred_dirs, folders
