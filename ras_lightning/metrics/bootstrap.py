"""Bootstrap over images: confidence intervals of every metric from its per-image statistics.

A dataset's metrics are its convention's ``summarise`` of the images' statistics added up
(:mod:`ras_lightning.metrics.per_image`). A bootstrap replicate draws ``n`` of the ``n`` images
with replacement (:func:`resample_indices`: one seeded NumPy generator, ``(reps, n)`` indices)
and computes every metric the same way from the drawn rows' sums: a mean metric (``mae``) is
the mean of the drawn images' values; a curve metric resamples whole per-image curves and takes
e.g. the max of the resampled mean curve (``max_f``); the dataset-PR max F the max F of the
resampled mean precision and recall curves. The sums of all replicates at once are one matrix
product of the draw counts ``(reps, n)`` with the statistics ``(n, ...)``; ``summarise`` then
runs once per replicate (cheap next to scoring: a few tens of microseconds each).

:func:`percentile_interval` is the percentile bootstrap: the ``(1 - ci) / 2`` and
``(1 + ci) / 2`` quantiles of the replicates (NumPy's default linear interpolation); replicates
that are NaN (a metric undefined on that draw) are left out, all NaN gives ``(nan, nan)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ras_lightning.metrics.registry import CONVENTIONS

#: replicates whose sums are held at once (every statistic of ``metrics=all``: ~27 MB)
CHUNK = 500

__all__ = [
    "metric_intervals",
    "percentile_interval",
    "resample_counts",
    "resample_indices",
    "resampled_sums",
    "replicate_values",
]


def resample_indices(n: int, reps: int, seed: int) -> np.ndarray:
    """``(reps, n)`` int64 row indices, each row ``n`` draws with replacement from ``range(n)``
    (``np.random.default_rng(seed).integers(0, n, size=(reps, n))``)."""
    if n < 1 or reps < 1:
        raise ValueError(f"a bootstrap needs n >= 1 rows and reps >= 1, got n={n}, reps={reps}")
    return np.random.default_rng(seed).integers(0, n, size=(reps, n), dtype=np.int64)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """``(reps, n)`` float64: how many times each of the ``n`` rows is drawn in each replicate
    of ``indices`` (:func:`resample_indices`)."""
    reps = indices.shape[0]
    flat = (indices + np.arange(reps, dtype=np.int64)[:, None] * n).ravel()
    return np.bincount(flat, minlength=reps * n).reshape(reps, n).astype(np.float64)


def resampled_sums(
    stats: Mapping[str, np.ndarray], indices: np.ndarray
) -> tuple[dict[str, np.ndarray], int]:
    """(each statistic summed over the rows drawn in every replicate, ``(reps, ...)``; the
    number of rows ``n``). ``stats``: arrays with one row per image, rows first."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    if not arrays:
        raise ValueError("no per-image statistics to resample")
    sizes = {a.shape[0] if a.ndim else -1 for a in arrays.values()}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(f"the statistics need the same number of rows, got {sorted(sizes)}")
    n = sizes.pop()
    if indices.ndim != 2 or indices.shape[1] != n:
        raise ValueError(f"indices of shape {indices.shape} do not resample {n} rows")
    # one matrix product for every statistic: (reps, n) @ (n, all their columns)
    flat = np.concatenate([a.reshape(n, -1) for a in arrays.values()], axis=1)
    sums = resample_counts(indices, n) @ flat
    out, start = {}, 0
    for k, a in arrays.items():
        width = int(np.prod(a.shape[1:], dtype=np.int64))
        out[k] = sums[:, start : start + width].reshape(-1, *a.shape[1:])
        start += width
    return out, n


def replicate_values(
    stats: Mapping[str, np.ndarray], convention: str, indices: np.ndarray
) -> dict[str, np.ndarray]:
    """``{metric: (reps,) values}``: ``convention``'s ``summarise`` of each replicate's sums
    (:func:`resampled_sums`), the metrics of the images drawn in that replicate.

    ``stats``: one dataset and method's per-image statistics (the statistic arrays of
    ``per_image_curves.npz``, without its ``dataset``/``method``/``image``/``convention``)."""
    summarise = CONVENTIONS[convention].summarise
    reps = indices.shape[0]
    out: dict[str, np.ndarray] = {}
    for first in range(0, reps, CHUNK):  # the sums of CHUNK replicates at a time: bounded memory
        sums, n = resampled_sums(stats, indices[first : first + CHUNK])
        for r in range(len(indices[first : first + CHUNK])):
            for name, value in summarise({k: v[r] for k, v in sums.items()}, n).items():
                if name not in out:
                    out[name] = np.full(reps, np.nan)
                out[name][first + r] = value
    return out


def percentile_interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    """The percentile bootstrap interval ``(low, high)`` at level ``ci`` (0 < ci < 1) of the
    replicates ``values`` (NaN ones left out; all NaN: ``(nan, nan)``)."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [50 * (1 - ci), 50 * (1 + ci)])
    return float(low), float(high)


def metric_intervals(
    stats: Mapping[str, np.ndarray],
    convention: str,
    ci: float = 0.95,
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """``{metric: (low, high)}``: the ``ci`` percentile bootstrap interval over images
    (``reps`` replicates drawn with ``seed``) of every metric of ``convention``."""
    n = len(np.asarray(next(iter(stats.values()))))
    values = replicate_values(stats, convention, resample_indices(n, reps, seed))
    return {name: percentile_interval(v, ci) for name, v in values.items()}
