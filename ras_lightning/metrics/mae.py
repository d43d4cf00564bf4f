"""Mean absolute error between the normalised map and the binary mask."""

from __future__ import annotations

import torch

from ras_lightning.metrics.image_mean import ImageMeanMetric


class MAE(ImageMeanMetric):
    """Mean over images of mean |map - mask| (PySODMetrics' ``MAE``)."""

    higher_is_better = False

    def scores(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (p - g.to(p.dtype)).abs().mean(dim=(1, 2))
