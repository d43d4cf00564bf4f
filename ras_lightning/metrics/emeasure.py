"""Enhanced-alignment measure (E-measure; Fan et al., IJCAI 2018), PySODMetrics' semantics."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ras_lightning.metrics.prepare import EPS, NUM_BINS, Prepared, prepare


def enhanced_alignment(
    fg_fg: torch.Tensor, pred_fg: torch.Tensor, gt_fg: torch.Tensor, size: torch.Tensor
) -> torch.Tensor:
    """E-measure from pixel counts of a binarised map.

    ``fg_fg``: predicted-and-true foreground, ``pred_fg``: predicted foreground, ``gt_fg``:
    true foreground, ``size``: pixels; all broadcastable. The enhanced alignment matrix takes
    four values (one per pred/gt combination), so its sum is a count-weighted sum of four terms.
    """
    dtype = fg_fg.dtype
    fg_bg = pred_fg - fg_fg
    pred_bg = size - pred_fg
    bg_fg = gt_fg - fg_fg
    bg_bg = pred_bg - bg_fg
    mean_pred = pred_fg / size
    mean_gt = gt_fg / size
    total = torch.zeros_like(fg_fg, dtype=dtype)
    for count, a, b in (
        (fg_fg, 1 - mean_pred, 1 - mean_gt),
        (fg_bg, 1 - mean_pred, -mean_gt),
        (bg_fg, -mean_pred, 1 - mean_gt),
        (bg_bg, -mean_pred, -mean_gt),
    ):
        align = 2 * (a * b) / (a**2 + b**2 + EPS)
        total = total + (align + 1) ** 2 / 4 * count
    # all-background / all-foreground masks: the matrix is 1 where the map agrees
    total = torch.where(gt_fg == 0, pred_bg.to(dtype), total)
    total = torch.where(gt_fg == size, pred_fg.to(dtype), total)
    return total / (size - 1 + EPS)


class EMeasure(Metric):
    """E-measure curve over the 256 thresholds (mean over images), max / mean / adaptive.

    ``compute()`` returns ``max_e``, ``mean_e``, ``adaptive_e`` (threshold min(2 mean, 1)) and
    ``e_curve`` (thresholds 255..0).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("e_sum", torch.zeros(NUM_BINS, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("adaptive_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self.update_prepared(prepare(pred, gt))

    def update_prepared(self, prep: Prepared) -> None:
        """Update from :func:`~ras_lightning.metrics.prepare.prepare`'s result."""
        dtype = prep.p.dtype
        size = torch.tensor(prep.size, dtype=dtype, device=prep.p.device)
        gt_fg = prep.gt_fg.to(dtype)
        curve = enhanced_alignment(prep.tp.to(dtype), prep.pp.to(dtype), gt_fg[:, None], size)
        self.e_sum += curve.sum(0).to(self.e_sum.dtype)
        adaptive = enhanced_alignment(
            prep.adaptive_tp.to(dtype), prep.adaptive_pp.to(dtype), gt_fg, size
        )
        self.adaptive_sum += adaptive.sum().to(self.adaptive_sum.dtype)
        self.count += prep.p.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp(min=1).to(self.e_sum.dtype)
        curve = self.e_sum / n
        return {
            "max_e": curve.max(),
            "mean_e": curve.mean(),
            "adaptive_e": self.adaptive_sum / n,
            "e_curve": curve.float(),
        }
