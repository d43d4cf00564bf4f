"""Base class of the metrics that are a mean over images of one score per image."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ras_lightning.metrics.prepare import Prepared, normalise


class ImageMeanMetric(Metric):
    """Sum of per-image scores and the image count (both summed across DDP processes).

    Subclasses implement :meth:`scores`, the (B,) scores of normalised maps ``p`` (B, H, W)
    against boolean masks ``g``.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def scores(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self._add(*normalise(pred, gt))

    def update_prepared(self, prep: Prepared) -> None:
        """Update from :func:`~ras_lightning.metrics.prepare.prepare`'s result."""
        self._add(prep.p, prep.g)

    def _add(self, p: torch.Tensor, g: torch.Tensor) -> None:
        self.total += self.scores(p, g).sum().to(self.total)
        self.count += p.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)
