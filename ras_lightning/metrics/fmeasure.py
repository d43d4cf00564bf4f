"""F-measure (beta^2 = 0.3): curves over 256 thresholds, max / mean / adaptive, and PR curves."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ras_lightning.metrics.prepare import NUM_BINS, Prepared, prepare


def f_score(precision: torch.Tensor, recall: torch.Tensor, beta2: float) -> torch.Tensor:
    """(1 + b2) P R / (b2 P + R), defined as 0 where the numerator is 0."""
    num = (1 + beta2) * precision * recall
    den = torch.where(num == 0, torch.ones_like(num), beta2 * precision + recall)
    return num / den


class FMeasure(Metric):
    """F-measure with PySODMetrics' semantics; states are sums, so memory is O(256).

    ``compute()`` returns a dict:

    * ``max_f``: max over thresholds of the mean of the per-image F curves (PySODMetrics);
    * ``mean_f``: mean of that curve over the 256 thresholds;
    * ``adaptive_f``: per image at threshold min(2 * mean(map), 1), averaged;
    * ``max_f_dataset_pr``: max over thresholds of F computed from the dataset-averaged
      precision and recall curves (the classic MATLAB toolbox convention);
    * ``precision``, ``recall``, ``f_curve``: the mean curves, thresholds 255..0.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, beta2: float = 0.3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta2 = beta2
        for name in ("f_sum", "precision_sum", "recall_sum"):
            self.add_state(name, torch.zeros(NUM_BINS, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("adaptive_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self.update_prepared(prepare(pred, gt))

    def update_prepared(self, prep: Prepared) -> None:
        """Update from :func:`~ras_lightning.metrics.prepare.prepare`'s result."""
        dtype = prep.p.dtype
        tp, pp = prep.tp.to(dtype), prep.pp.to(dtype)
        precision = tp / torch.where(pp == 0, torch.ones_like(pp), pp)
        recall = tp / prep.gt_fg.clamp(min=1).to(dtype)[:, None]
        self.f_sum += f_score(precision, recall, self.beta2).sum(0).to(self.f_sum.dtype)
        self.precision_sum += precision.sum(0).to(self.precision_sum.dtype)
        self.recall_sum += recall.sum(0).to(self.recall_sum.dtype)
        inter = prep.adaptive_tp.to(dtype)
        pre = inter / prep.adaptive_pp.clamp(min=1).to(dtype)
        rec = inter / prep.gt_fg.clamp(min=1).to(dtype)
        adaptive = torch.where(inter == 0, torch.zeros_like(inter), f_score(pre, rec, self.beta2))
        self.adaptive_sum += adaptive.sum().to(self.adaptive_sum.dtype)
        self.count += prep.p.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp(min=1).to(self.f_sum.dtype)
        f_curve = self.f_sum / n
        precision, recall = self.precision_sum / n, self.recall_sum / n
        return {
            "max_f": f_curve.max(),
            "mean_f": f_curve.mean(),
            "adaptive_f": self.adaptive_sum / n,
            "max_f_dataset_pr": f_score(precision, recall, self.beta2).max(),
            "precision": precision.float(),
            "recall": recall.float(),
            "f_curve": f_curve.float(),
        }
