"""One metric engine for salient-object detection (PySODMetrics' definitions).

* :mod:`~ras_lightning.metrics.functional`: one NumPy kernel per metric family, a module each
  (per-image statistics), shared by training, ``score`` and ``eval``;
  :mod:`~ras_lightning.metrics.io` reads the maps and masks that ``score`` scores;
* :mod:`~ras_lightning.metrics.registry`: every metric's name, titles, direction, kernel, and
  the scoring conventions (``pysodmetrics``, ``f3net``);
* :mod:`~ras_lightning.metrics.classes`: torchmetrics ``Metric``s with summed states
  (:class:`SODMetrics`, :class:`MAE`, :class:`SMeasure`, :class:`WeightedFMeasure`,
  :class:`FMeasure`, :class:`EMeasure`);
* :mod:`~ras_lightning.metrics.scoring` and :mod:`~ras_lightning.metrics.reports`: folders of
  maps, tables and plots.

The classes are imported lazily: the folder scorer and the metric names load without
torch/torchmetrics.
"""

from __future__ import annotations

import importlib
from typing import Any

from ras_lightning.metrics.registry import METRIC_NAMES, metric_names, register, unregister

_LAZY = {
    name: "ras_lightning.metrics.classes"
    for name in ("SODMetrics", "MAE", "SMeasure", "WeightedFMeasure", "FMeasure", "EMeasure")
}

__all__ = ["METRIC_NAMES", "metric_names", "register", "unregister", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ras_lightning.metrics' has no attribute {name!r}")
