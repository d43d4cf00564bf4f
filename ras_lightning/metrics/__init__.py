"""Salient-object-detection metrics as torchmetrics ``Metric``s (PySODMetrics semantics).

Imported lazily: the NumPy scorer (:mod:`ras_lightning.metrics.functional`) and the metric
names load without torch/torchmetrics.
"""

from __future__ import annotations

import importlib
from typing import Any

from ras_lightning.metrics.names import METRIC_NAMES

_LAZY = {
    "MAE": "ras_lightning.metrics.mae",
    "FMeasure": "ras_lightning.metrics.fmeasure",
    "EMeasure": "ras_lightning.metrics.emeasure",
    "SMeasure": "ras_lightning.metrics.smeasure",
    "WeightedFMeasure": "ras_lightning.metrics.weighted_fmeasure",
    "SODMetrics": "ras_lightning.metrics.collection",
}

__all__ = ["METRIC_NAMES", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ras_lightning.metrics' has no attribute {name!r}")
