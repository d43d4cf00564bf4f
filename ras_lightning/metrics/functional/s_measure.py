"""Structure measure (Fan et al., ICCV 2017) from the level histograms of :class:`SODImage`.

A quadrant where the map is constant is scored by the pixel code, because there the
S-measure's SSIM term branches on exact zeros.
"""

from __future__ import annotations

import numpy as np

from ras_lightning.metrics.functional.image import EPS, SODImage, Stats, kernel


def _s_object_hist(values: np.ndarray, count: np.ndarray) -> float:
    """The S-measure's object term ``2 mean / (mean^2 + 1 + std + eps)`` (std with N - 1) of
    the pixels of one mask class, given as 256 map levels and their pixel counts."""
    n = count.sum()
    mean = (count * values).sum() / n
    dev = values - mean
    std = np.sqrt((count * dev * dev).sum() / (n - 1)) if n > 1 else 0.0
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim(p: np.ndarray, g: np.ndarray) -> float:
    n = p.size
    if n == 0:
        return 0.0
    x, y = p.mean(), g.mean()
    dx, dy = p - x, g - y
    sx, sy, sxy = (
        (dx * dx).sum() / (n - 1 + EPS),
        (dy * dy).sum() / (n - 1 + EPS),
        (dx * dy).sum() / (n - 1 + EPS),
    )
    return ssim_from_moments(x, y, sx, sy, sxy)


def ssim_from_moments(x: float, y: float, sx: float, sy: float, sxy: float) -> float:
    """The S-measure's region SSIM from the means ``x`` (map), ``y`` (mask), the variances and
    the covariance; 1 where both are flat and agree, as the authors' MATLAB code."""
    alpha = 4 * x * y * sxy
    beta = (x**2 + y**2) * (sx + sy)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def _ssim_hist(levels: np.ndarray, bg: np.ndarray, fg: np.ndarray, p_region) -> float:
    """:func:`_ssim` of a region from its level histograms (background, mask pixels).

    A constant region goes to the pixel code (``p_region()`` gives its map and mask): SSIM
    branches on exact zeros there, and a mean of equal values need not be that value in
    floating point.
    """
    all_ = bg + fg
    n = all_.sum()
    if n == 0:
        return 0.0
    if np.count_nonzero(all_) == 1:
        p, g = p_region()
        return _ssim(p, g.astype(np.float64))
    nf = fg.sum()
    x, y = (all_ * levels).sum() / n, nf / n
    dx = levels - x
    d = n - 1 + EPS
    sx = (all_ * dx * dx).sum() / d
    sy = (nf * (1 - y) ** 2 + (n - nf) * y**2) / d
    sxy = ((fg * (1 - y) - bg * y) * dx).sum() / d
    return ssim_from_moments(x, y, sx, sy, sxy)


@kernel
def s_measure(img: SODImage, alpha: float = 0.5) -> Stats:
    """Structure measure (Fan et al., ICCV 2017): object- and region-aware similarity."""
    y = img.gt_fg / img.size
    if y == 0:
        return {"s_measure": 1 - img.mean}
    if y == 1:
        return {"s_measure": img.mean}
    lv, pred, g = img.levels, img.pred, img.g
    obj = y * _s_object_hist(lv, img.fg_h) + (1 - y) * _s_object_hist(1 - lv, img.bg_h)
    cx, cy, w, h = img.cx, img.cy, img.w, img.h
    area = h * w
    w_lt, w_rt, w_lb = cx * cy / area, cy * (w - cx) / area, (h - cy) * cx / area
    weights = (w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb)
    region = 0.0
    for q, (bq, fq), wq in zip(img.quads, img.q_hists, weights, strict=True):  # type: ignore[arg-type]
        region = region + _ssim_hist(lv, bq, fq, lambda q=q: (lv[pred[q]], g[q])) * wq
    return {"s_measure": float(max(0.0, alpha * obj + (1 - alpha) * region))}
