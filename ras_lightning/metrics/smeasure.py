"""Structure measure (S-measure; Fan et al., ICCV 2017), alpha = 0.5, PySODMetrics' semantics."""

from __future__ import annotations

import torch

from ras_lightning.metrics.image_mean import ImageMeanMetric
from ras_lightning.metrics.prepare import EPS


def _s_object(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean()
    std = x.std(correction=1) if x.numel() > 1 else torch.zeros_like(mean)
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    n = p.numel()
    if n == 0:  # an empty quadrant has weight 0 (PySODMetrics would give NaN here)
        return torch.zeros((), dtype=p.dtype, device=p.device)
    g = g.to(p.dtype)
    x, y = p.mean(), g.mean()
    dx, dy = p - x, g - y
    sigma_x = (dx * dx).sum() / (n - 1 + EPS)
    sigma_y = (dy * dy).sum() / (n - 1 + EPS)
    sigma_xy = (dx * dy).sum() / (n - 1 + EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x**2 + y**2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + EPS)
    return torch.ones_like(alpha) if beta == 0 else torch.zeros_like(alpha)


def s_measure(p: torch.Tensor, g: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """S-measure of one normalised map ``p`` (H, W) against the boolean mask ``g``."""
    y = g.to(p.dtype).mean()
    if y == 0:
        return 1 - p.mean()
    if y == 1:
        return p.mean()
    obj = y * _s_object(p[g]) + (1 - y) * _s_object((1 - p)[~g])
    h, w = g.shape
    # foreground centroid (round half to even, as NumPy), plus one as in the MATLAB code; from
    # row and column counts (exact integer sums) rather than a list of every pixel's index
    n = g.sum()
    gd = g.to(p.dtype)
    cy = int((torch.arange(h, dtype=p.dtype, device=p.device) * gd.sum(1)).sum().div(n).round())
    cx = int((torch.arange(w, dtype=p.dtype, device=p.device) * gd.sum(0)).sum().div(n).round())
    cy, cx = cy + 1, cx + 1
    area = h * w
    w_lt, w_rt, w_lb = cx * cy / area, cy * (w - cx) / area, (h - cy) * cx / area
    w_rb = 1 - w_lt - w_rt - w_lb
    region = (
        _ssim(p[:cy, :cx], g[:cy, :cx]) * w_lt
        + _ssim(p[:cy, cx:], g[:cy, cx:]) * w_rt
        + _ssim(p[cy:, :cx], g[cy:, :cx]) * w_lb
        + _ssim(p[cy:, cx:], g[cy:, cx:]) * w_rb
    )
    return torch.clamp(alpha * obj + (1 - alpha) * region, min=0)


class SMeasure(ImageMeanMetric):
    """Mean S-measure over images (object- and region-aware structural similarity)."""

    def __init__(self, alpha: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha

    def scores(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.stack([s_measure(p[i], g[i], self.alpha) for i in range(p.shape[0])])
