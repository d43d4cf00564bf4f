"""Salient-object-detection metrics as torchmetrics ``Metric``s (PySODMetrics semantics)."""

from ras_lightning.metrics.collection import METRIC_NAMES, SODMetrics
from ras_lightning.metrics.emeasure import EMeasure
from ras_lightning.metrics.fmeasure import FMeasure
from ras_lightning.metrics.mae import MAE
from ras_lightning.metrics.smeasure import SMeasure
from ras_lightning.metrics.weighted_fmeasure import WeightedFMeasure

__all__ = [
    "MAE",
    "METRIC_NAMES",
    "EMeasure",
    "FMeasure",
    "SMeasure",
    "SODMetrics",
    "WeightedFMeasure",
]
