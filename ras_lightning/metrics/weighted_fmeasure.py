"""Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1, PySODMetrics' semantics.

Computed on the CPU with SciPy's exact Euclidean distance transform (the nearest foreground
pixel of every background pixel, ties broken as SciPy does, which PySODMetrics also uses).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy import ndimage
from torchmetrics import Metric

from ras_lightning.metrics.prepare import EPS, Prepared, normalise


def _gauss_kernel(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """MATLAB's fspecial('gaussian', size, sigma)."""
    r = (size - 1) / 2
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


_KERNEL = _gauss_kernel()


def weighted_f(p: np.ndarray, g: np.ndarray, beta2: float = 1.0) -> float:
    """Weighted F-measure of one normalised float64 map against a boolean mask."""
    if not g.any():
        return 0.0
    bg = ~g
    dist, (iy, ix) = ndimage.distance_transform_edt(bg, return_indices=True)
    err = np.abs(p - g)
    # pixel dependency: a background pixel takes the error of its nearest foreground pixel
    err_t = err[iy, ix]
    # fspecial + imfilter: a zero-padded 7x7 Gaussian (OpenCV's filter2D is several times faster
    # than scipy.ndimage.convolve and gives the same values; the kernel is symmetric)
    err_a = cv2.filter2D(err_t, -1, _KERNEL, borderType=cv2.BORDER_CONSTANT)
    min_e = np.where(g & (err_a < err), err_a, err)
    # pixel importance: background errors grow with the distance to the object
    weight = np.where(bg, 2 - np.exp(np.log(0.5) / 5 * dist), 1.0)
    ew = min_e * weight
    ew_fg = ew[g]
    tpw = g.sum() - ew_fg.sum()
    fpw = ew[bg].sum()
    recall = 1 - ew_fg.mean()
    precision = tpw / (tpw + fpw + EPS)
    return float((1 + beta2) * recall * precision / (recall + beta2 * precision + EPS))


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
