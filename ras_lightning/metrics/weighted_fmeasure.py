"""Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1, PySODMetrics' semantics.

Computed on the CPU with SciPy's exact Euclidean distance transform (the nearest foreground
pixel of every background pixel, ties broken as SciPy does, which PySODMetrics also uses).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ras_lightning.metrics.numpy_kernels import weighted_f
from ras_lightning.metrics.prepare import Prepared, normalise


class WeightedFMeasure(Metric):
    """Mean weighted F-measure over images."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, beta2: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta2 = beta2
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self._add(*normalise(pred, gt))

    def update_prepared(self, prep: Prepared) -> None:
        """Update from :func:`~ras_lightning.metrics.prepare.prepare`'s result."""
        self._add(prep.p, prep.g)

    def _add(self, p: torch.Tensor, g: torch.Tensor) -> None:
        pn = p.detach().to("cpu", torch.float64).numpy()
        gn = g.detach().cpu().numpy()
        total = sum(weighted_f(pn[i], gn[i], self.beta2) for i in range(pn.shape[0]))
        self.total += torch.tensor(total, dtype=self.total.dtype, device=self.total.device)
        self.count += p.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)
