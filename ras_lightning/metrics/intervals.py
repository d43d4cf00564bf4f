"""Confidence intervals of ``score``'s and ``eval``'s metrics: settings, ``metrics_ci.json``,
the ``value ± half-width`` cells of ``metrics.md`` (and of ``metrics.tex`` with ``tex_ci``).

Settings (``conf/score.yaml``, ``conf/eval.yaml``): ``ci`` (the level, 0 < ci < 1, default
0.95; null: no intervals), ``bootstrap`` (resamples, default 1000), ``seed`` (default 0). Each
metric's interval is the percentile bootstrap over the images of its dataset
(:mod:`ras_lightning.metrics.bootstrap`): the same seed gives the same draws, so the same
folders give the same intervals.

``metrics_ci.json`` has the shape of ``metrics.json``, each metric replaced by
``{"value": v, "low": l, "high": h}`` (``v`` exactly metrics.json's number), plus a
``"bootstrap"`` entry naming the settings. The tables print ``value ± h`` with the
**half-width** ``h = max(value - low, high - value)``: the larger of the two sides, so that
``value ± h`` covers the whole interval (a percentile interval need not be symmetric about the
value, e.g. for a max over thresholds).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ras_lightning.metrics.bootstrap import metric_intervals
from ras_lightning.utils.errors import UserError, require_counts
from ras_lightning.utils.files import write_atomic

__all__ = [
    "CI_FILE",
    "CI_KEY",
    "Bootstrap",
    "Intervals",
    "check_ci",
    "check_tex_ci",
    "half_width",
    "stack_stats",
    "with_intervals",
    "write_intervals",
]

CI_FILE = "metrics_ci.json"
#: a table row's key for its :class:`Intervals` (the tables print ``value ± half-width``)
CI_KEY = "ci"


def half_width(value: float, low: float, high: float) -> float:
    """The larger distance from ``value`` to either end of ``(low, high)``: ``value ± h``
    covers the whole interval (NaN if any is NaN)."""
    return max(abs(value - low), abs(high - value))


@dataclass(frozen=True)
class Intervals:
    """One row's intervals ``{metric: (low, high)}`` and the settings that made them."""

    bounds: Mapping[str, tuple[float, float]]
    ci: float
    reps: int
    seed: int

    def half(self, name: str, value: object) -> float | None:
        """The half-width of metric ``name`` around ``value``; None when there is none (no
        interval for it, or a value or an end that is not a finite number)."""
        if name not in self.bounds or not isinstance(value, int | float):
            return None
        h = half_width(float(value), *self.bounds[name])
        return h if math.isfinite(h) else None

    def cell(self, name: str, value: float, digits: int = 4) -> str:
        """``value ± half-width`` (just the value when it has no interval)."""
        h = self.half(name, value)
        return f"{value:.{digits}f}" + ("" if h is None else f" ± {h:.{digits}f}")

    def note(self) -> str:
        """One line saying what the ``±`` means."""
        return (
            f"± : half-width of the {100 * self.ci:g}% percentile bootstrap interval over images "
            f"({self.reps} resamples, seed {self.seed}), the larger distance from the value "
            f"to either end of the interval; the intervals are in {CI_FILE}."
        )


@dataclass(frozen=True)
class Bootstrap:
    """The interval settings: level ``ci``, ``reps`` resamples, ``seed``."""

    ci: float = 0.95
    reps: int = 1000
    seed: int = 0

    def intervals(self, stats: Sequence[Mapping[str, Any]], convention: str) -> Intervals:
        """Every metric's interval from one dataset and method's per-image statistics (a
        :class:`~ras_lightning.metrics.scoring.FolderScore`'s ``stats``)."""
        bounds = metric_intervals(stack_stats(stats), convention, self.ci, self.reps, self.seed)
        return Intervals(bounds, self.ci, self.reps, self.seed)

    def describe(self) -> dict[str, Any]:
        """The ``"bootstrap"`` entry of ``metrics_ci.json``."""
        return {
            "ci": self.ci,
            "resamples": self.reps,
            "seed": self.seed,
            "method": "percentile bootstrap over images",
        }


def check_ci(cfg: Any) -> Bootstrap | None:
    """The interval settings of ``cfg`` (``ci``, ``bootstrap``, ``seed``), None when ``ci``
    is null; a bad value is one line naming it, before any work. Also checks ``tex_ci``
    (``tex_ci=true`` needs intervals)."""
    ci = cfg.get("ci", 0.95)
    require_counts(cfg, {"bootstrap": (1, "resamples of the images"), "seed": 0})
    if ci is not None and (
        not isinstance(ci, int | float) or isinstance(ci, bool) or not 0 < ci < 1
    ):
        raise UserError(
            f"ci={ci!r}: must be a number between 0 and 1 (e.g. 0.95), or null for no intervals"
        )
    check_tex_ci(cfg.get("tex_ci", False), ci is not None)
    if ci is None:
        return None
    return Bootstrap(float(ci), int(cfg.get("bootstrap", 1000)), int(cfg.get("seed", 0)))


def check_tex_ci(tex_ci: object, intervals: bool = False) -> None:
    """Refuse, before any work, a ``tex_ci`` that is not a boolean, or ``tex_ci=true`` when
    no confidence intervals are computed (``intervals``; ``ci=null``): printing the table
    without them would drop what was asked for without saying so."""
    if not isinstance(tex_ci, bool):
        raise UserError(f"tex_ci={tex_ci!r}: must be true or false")
    if tex_ci and not intervals:
        raise UserError(
            "tex_ci=true: no intervals to print; intervals need `ci` (e.g. ci=0.95), which is "
            "null; set ci or tex_ci=false"
        )


def stack_stats(stats: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-image statistics (one mapping per image) as arrays, rows first."""
    if not stats:
        raise ValueError("no per-image statistics")
    return {k: np.stack([np.asarray(s[k], dtype=np.float64) for s in stats]) for k in stats[0]}


def with_intervals(values: Mapping[str, Any], bounds: Mapping[str, tuple[float, float]]) -> dict:
    """``values`` with every metric that has an interval as ``{"value", "low", "high"}``
    (the other entries as they are)."""
    return {
        k: {"value": v, "low": bounds[k][0], "high": bounds[k][1]} if k in bounds else v
        for k, v in values.items()
    }


def write_intervals(
    boot: Bootstrap | None,
    out_dir: Path,
    summary: Mapping[str, Any],
    rows: Sequence[dict],
    stats: Sequence[Sequence[Mapping[str, Any]]],
    convention: str,
    where: Callable[[Mapping[str, Any]], Sequence[str]],
) -> Path | None:
    """Compute each row's intervals from its images' ``stats`` (one sequence per row), set
    them as the row's :data:`CI_KEY` (for the tables) and write ``metrics_ci.json``:
    ``summary`` (metrics.json's content) with the metrics of each row, found at the keys
    ``where(row)`` (e.g. ``(dataset, method)``; ``()``: the top level), given their intervals.
    With ``boot`` None (``ci=null``) nothing is computed, and a ``metrics_ci.json`` left in
    ``out_dir`` by an earlier run is removed (it would not match the new metrics.json)."""
    if boot is None:
        (out_dir / CI_FILE).unlink(missing_ok=True)
        return None
    tree = copy.deepcopy(dict(summary))
    for row, row_stats in zip(rows, stats, strict=True):
        row[CI_KEY] = intervals = boot.intervals(row_stats, convention)
        node = tree
        for key in where(row):
            node = node[key]
        node.update(with_intervals(node, intervals.bounds))
    tree["bootstrap"] = boot.describe()
    return write_atomic(out_dir / CI_FILE, json.dumps(tree, indent=2) + "\n")
