"""All SOD metrics of one dataset, sharing the normalisation and the threshold histogram."""

from __future__ import annotations

import torch
from torch import nn

from ras_lightning.metrics.emeasure import EMeasure
from ras_lightning.metrics.fmeasure import FMeasure
from ras_lightning.metrics.mae import MAE
from ras_lightning.metrics.names import METRIC_NAMES  # noqa: F401  (re-exported)
from ras_lightning.metrics.prepare import prepare
from ras_lightning.metrics.smeasure import SMeasure
from ras_lightning.metrics.weighted_fmeasure import WeightedFMeasure


class SODMetrics(nn.Module):
    """MAE, S-measure, weighted F, F-measure (max/mean/adaptive, both max-F conventions) and
    E-measure (max/mean/adaptive) of one dataset.

    ``update(pred, gt)`` takes maps and masks in [0, 1] of equal size, (B, [1,] H, W) or (H, W);
    ``compute()`` returns ``{name: scalar}`` with the names of :data:`METRIC_NAMES`;
    ``curves()`` the mean precision, recall, F and E curves over thresholds 255..0. Every
    state is a sum, so DDP sums them across processes (torchmetrics' sync).
    """

    def __init__(self, weighted_f: bool = True) -> None:
        super().__init__()
        self.mae = MAE()
        self.fmeasure = FMeasure()
        self.emeasure = EMeasure()
        self.smeasure = SMeasure()
        self.weighted_fmeasure = WeightedFMeasure() if weighted_f else None

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        prep = prepare(pred, gt)
        for m in self._metrics():
            m.update_prepared(prep)
            # torchmetrics tracks "was update called" per metric; we bypassed update()
            m._update_count += 1
            m._computed = None

    def _metrics(self) -> list:
        ms = [self.mae, self.fmeasure, self.emeasure, self.smeasure]
        return ms + ([self.weighted_fmeasure] if self.weighted_fmeasure is not None else [])

    @property
    def count(self) -> int:
        return int(self.mae.count)

    def compute(self) -> dict[str, torch.Tensor]:
        f, e = self.fmeasure.compute(), self.emeasure.compute()
        out = {"mae": self.mae.compute(), "s_measure": self.smeasure.compute()}
        if self.weighted_fmeasure is not None:
            out["weighted_f"] = self.weighted_fmeasure.compute()
        for k in ("max_f", "mean_f", "adaptive_f"):
            out[k] = f[k]
        for k in ("max_e", "mean_e", "adaptive_e"):
            out[k] = e[k]
        out["max_f_dataset_pr"] = f["max_f_dataset_pr"]
        return out

    def curves(self) -> dict[str, torch.Tensor]:
        f, e = self.fmeasure.compute(), self.emeasure.compute()
        return {
            "precision": f["precision"],
            "recall": f["recall"],
            "f": f["f_curve"],
            "e": e["e_curve"],
        }

    def reset(self) -> None:
        for m in self._metrics():
            m.reset()
