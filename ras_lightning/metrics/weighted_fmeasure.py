"""Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1, PySODMetrics' semantics.

Computed on the CPU with SciPy's exact Euclidean distance transform (the nearest foreground
pixel of every background pixel, ties broken as SciPy does, which PySODMetrics also uses).
"""

from __future__ import annotations

import torch

from ras_lightning.metrics.image_mean import ImageMeanMetric
from ras_lightning.metrics.functional import weighted_f


class WeightedFMeasure(ImageMeanMetric):
    """Mean weighted F-measure over images (computed on the CPU, see the module docstring)."""

    def __init__(self, beta2: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta2 = beta2

    def scores(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        pn = p.detach().to("cpu", torch.float64).numpy()
        gn = g.detach().cpu().numpy()
        return torch.tensor(
            [weighted_f(pn[i], gn[i], self.beta2) for i in range(pn.shape[0])], dtype=torch.float64
        )
