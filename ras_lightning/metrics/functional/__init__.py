"""The functional kernels of every SOD metric (PySODMetrics' definitions), NumPy and OpenCV.

One kernel per metric family (:func:`mae`, :func:`s_measure`, :func:`weighted_f`,
:func:`f_measure`, :func:`e_measure`; and the rest of PySODMetrics 1.6, computed when
selected: the ``FmeasureV2`` handlers in :mod:`.confusion`, :mod:`.size_invariance`,
:mod:`.msiou`, :mod:`.hce`, :mod:`.context`), one module each, in the style of torchmetrics'
functional API: it takes one 8-bit map and its mask (or an :class:`SODImage` prepared once from
them, which every kernel shares) and returns that image's statistics, each a number or a
256-entry curve that is summed over images. :mod:`ras_lightning.metrics.registry` turns the
means of those statistics into the metric values and lists every metric; the torchmetrics
classes (:mod:`ras_lightning.metrics.classes`), ``score`` and ``eval`` all run these kernels.
The package imports no torch, so the folder scorer starts fast and forks its workers safely.

Conventions (PySODMetrics', checked against it to 1e-6 in the tests):

* The map is 8-bit; as a float it is ``map / 255`` (float64, as NumPy divides), min-max
  normalised per image unless it is constant. The mask is foreground where it is > 128.
* Threshold curves bin the normalised map into 0..255 by truncation (``uint8(p * 255)``) and
  count a pixel as positive at threshold t when its bin is >= t; curves run over the
  thresholds 255..0, as PySODMetrics orders them.
* Adaptive measures binarise at min(2 * mean(map), 1).
"""

from __future__ import annotations

from ras_lightning.metrics.functional.confusion import (
    BINARY_STATES,
    HANDLERS,
    binary_dataset,
    binary_dataset_values,
    handler_kernel,
    handler_values,
)
from ras_lightning.metrics.functional.context import context_measure
from ras_lightning.metrics.functional.e_measure import (
    e_measure,
    e_measure_values,
    enhanced_alignment,
)
from ras_lightning.metrics.functional.f_measure import BETA2_F, f_measure, f_measure_values
from ras_lightning.metrics.functional.hce import hce
from ras_lightning.metrics.functional.image import EPS, Kernel, SODImage, Stats, kernel
from ras_lightning.metrics.functional.mae import mae
from ras_lightning.metrics.functional.msiou import MSIOU_CURVE, msiou, msiou_values
from ras_lightning.metrics.functional.s_measure import s_measure, ssim_from_moments
from ras_lightning.metrics.functional.size_invariance import (
    SI_BINARY_STATES,
    si_dataset,
    si_dataset_values,
    si_handler_kernel,
    si_mae,
)
from ras_lightning.metrics.functional.weighted_f import gauss_kernel, weighted_f

__all__ = [
    "BETA2_F",
    "BINARY_STATES",
    "EPS",
    "HANDLERS",
    "MSIOU_CURVE",
    "SI_BINARY_STATES",
    "Kernel",
    "SODImage",
    "Stats",
    "binary_dataset",
    "binary_dataset_values",
    "context_measure",
    "e_measure",
    "e_measure_values",
    "enhanced_alignment",
    "f_measure",
    "f_measure_values",
    "gauss_kernel",
    "handler_kernel",
    "handler_values",
    "hce",
    "kernel",
    "mae",
    "msiou",
    "msiou_values",
    "s_measure",
    "si_dataset",
    "si_dataset_values",
    "si_handler_kernel",
    "si_mae",
    "ssim_from_moments",
    "weighted_f",
]
