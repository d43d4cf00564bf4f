"""Salient-object-detection metrics as torchmetrics ``Metric``s (PySODMetrics semantics)."""

from ras_lightning.metrics.fmeasure import FMeasure
from ras_lightning.metrics.mae import MAE

__all__ = ["MAE", "FMeasure"]
