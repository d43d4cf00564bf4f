"""Per-image values: ``per_image.csv`` and ``per_image_curves.npz`` (``score``, ``eval``; a
training run's end-of-training test writes ``test_per_image.csv`` / ``test_per_image_curves.npz``).

Every kernel (:mod:`ras_lightning.metrics.functional`, or :mod:`ras_lightning.metrics.f3net`
for ``convention=f3net``) returns one image's *statistics*: numbers (``mae``, ``s_measure``,
``weighted_f``, ``adaptive_f``, ``adaptive_e``, ...) and 256-entry curves over the thresholds
255..0 (``f_curve``, ``precision``, ``recall``, ``e_curve``; the f3net convention: ``precision``
and ``recall`` only). A dataset's metrics are the convention's ``summarise`` of the statistics
added up over its images **in the order of the rows** (:func:`add_up`), divided by the count:

* ``mae``, ``s_measure``, ``weighted_f``, ``adaptive_f``, ``adaptive_e`` (any metric named as
  one of its statistics, :func:`mean_metrics`): the mean over images of the CSV column (equal
  to metrics.json's value up to the order of the additions, ~1e-15);
* ``max_f`` / ``mean_f``: the max / mean over thresholds of the mean of the images' F curves
  (pysodmetrics); ``max_e`` / ``mean_e`` likewise of the E curves;
* ``max_f_dataset_pr``: the max over thresholds of F (beta^2 = 0.3) of the mean precision and
  mean recall curves; in the f3net convention ``max_f`` is that number too (``main.m``'s maxF,
  ``1.3 P R / (0.3 P + R + eps)``) and ``mean_f`` its mean over thresholds.

In the f3net convention an image that ``main.m`` skips (its map or mask all zero) is counted
with zeros everywhere, as there: its row is all zeros.

``per_image.csv``: columns ``dataset``, ``method``, ``image`` (the mask's file stem), then every
metric of the convention computed on that image alone (its ``summarise`` of the image's own
statistics: e.g. ``max_f`` is the image's own best F over thresholds), at full precision
(``repr`` of the float: it reads back to the same bits). The mean of a curve metric's column is
NOT the dataset's value (a max of means is not a mean of maxes): those come from the curves.

``per_image_curves.npz`` (NumPy, no pickles): ``dataset``, ``method``, ``image`` (one entry per
CSV row, the same order), ``convention`` and one array per statistic, ``(rows,)`` or
``(rows, 256)``, float64 as the kernels returned them. :func:`dataset_metrics` rebuilds the
metrics of one dataset and method from it, bit for bit what ``score``/``eval`` wrote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ras_lightning.metrics.registry import CONVENTIONS
from ras_lightning.utils.files import atomic_path, write_atomic

PER_IMAGE_CSV = "per_image.csv"
CURVES_FILE = "per_image_curves.npz"
KEYS = ("dataset", "method", "image")  # the rows' identity, in the CSV and the curves file

Stats = Mapping[str, "float | np.ndarray"]
#: (dataset, method, image stems, each image's statistics), in the order they were added up
Group = tuple[str, str, Sequence[str], Sequence[Stats]]


def add_up(images: Iterable[Stats]) -> dict[str, float | np.ndarray]:
    """The sum of per-image statistics, added one image after the other (the one order in
    which ``score``, ``eval`` and :func:`dataset_metrics` add them, so the values agree to
    the bit whatever the number of workers)."""
    out: dict[str, float | np.ndarray] = {}
    for stats in images:
        for k, v in stats.items():
            out[k] = out[k] + v if k in out else v
    return out


def image_values(stats: Stats, convention: str = "pysodmetrics") -> dict[str, float]:
    """Every metric of ``convention`` computed on one image alone (a CSV row's values)."""
    return CONVENTIONS[convention].summarise(stats, 1)


def mean_metrics(stats: Stats, convention: str = "pysodmetrics") -> list[str]:
    """The metrics whose dataset value is the mean of their per-image column: those named as
    one of the image's scalar statistics (e.g. ``mae``; not ``max_f``, from the curves)."""
    scalar = {k for k, v in stats.items() if np.ndim(v) == 0}
    return [m for m in image_values(stats, convention) if m in scalar]


def write_per_image(
    out_dir: str | Path,
    groups: Iterable[Group],
    convention: str,
    prefix: str = "",
    metrics: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``<prefix>per_image.csv`` and ``<prefix>per_image_curves.npz`` into ``out_dir``
    (each whole or not at all) for ``groups``; return their paths. ``metrics``: the CSV's
    metric columns (a ``metrics=`` selection; None: every metric of the statistics)."""
    rows: list[tuple[str, str, str, Stats]] = [
        (dataset, method, image, stats)
        for dataset, method, images, all_stats in groups
        for image, stats in zip(images, all_stats, strict=True)
    ]
    if not rows:
        raise ValueError("no per-image statistics to write")
    names = [n for n in image_values(rows[0][3], convention) if metrics is None or n in metrics]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*KEYS, *names])
    for dataset, method, image, stats in rows:
        values = image_values(stats, convention)
        writer.writerow([dataset, method, image, *(repr(float(values[n])) for n in names)])
    out_dir = Path(out_dir)
    csv_path = write_atomic(out_dir / f"{prefix}{PER_IMAGE_CSV}", text.getvalue())
    stat_names = list(rows[0][3])
    if clash := set(stat_names) & {*KEYS, "convention"}:
        raise ValueError(f"statistics named {sorted(clash)} clash with the curves file's keys")
    arrays = {k: np.array([r[i] for r in rows], dtype=str) for i, k in enumerate(KEYS)}
    arrays["convention"] = np.array(convention)
    for k in stat_names:
        arrays[k] = np.stack([np.asarray(r[3][k]) for r in rows])
    npz_path = out_dir / f"{prefix}{CURVES_FILE}"
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # float64 curves barely compress
    return csv_path, npz_path


def read_curves(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a ``per_image_curves.npz`` (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def dataset_metrics(curves: Mapping[str, np.ndarray], dataset: str, method: str) -> dict:
    """The metrics of ``method`` on ``dataset`` from a curves file's arrays
    (:func:`read_curves`): its convention's ``summarise`` of the rows' statistics added up in
    row order (:func:`add_up`); the numbers ``score``/``eval`` wrote in metrics.json."""
    rows = np.flatnonzero((curves["dataset"] == dataset) & (curves["method"] == method))
    if not rows.size:
        raise KeyError(f"no rows of method {method!r} on dataset {dataset!r}")
    stats = [k for k in curves if k not in (*KEYS, "convention")]
    totals = add_up({k: curves[k][i] for k in stats} for i in rows)
    return CONVENTIONS[str(curves["convention"])].summarise(totals, len(rows))
