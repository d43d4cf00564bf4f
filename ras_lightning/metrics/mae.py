"""Mean absolute error between the normalised map and the binary mask."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ras_lightning.metrics.prepare import Prepared, normalise


class MAE(Metric):
    """Mean over images of mean |map - mask| (PySODMetrics' ``MAE``)."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        p, g = normalise(pred, gt)
        self._add(p, g)

    def update_prepared(self, prep: Prepared) -> None:
        """Update from :func:`~ras_lightning.metrics.prepare.prepare`'s result."""
        self._add(prep.p, prep.g)

    def _add(self, p: torch.Tensor, g: torch.Tensor) -> None:
        self.total += (p - g.to(p.dtype)).abs().mean(dim=(1, 2)).sum().to(self.total.dtype)
        self.count += p.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)
