"""The SOD metrics of one map on the CPU with NumPy, for scoring files fast.

Same conventions and results as the torchmetrics classes (and PySODMetrics): see
:mod:`ras_lightning.metrics.prepare`. The scorer uses this module so that it starts without
importing torch/torchmetrics (several seconds) and runs one image per call in worker processes;
the tests check it against both the torch metrics and PySODMetrics.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

EPS = np.spacing(1)
BETA2_F = 0.3


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


def _f(precision: np.ndarray, recall: np.ndarray, beta2: float = BETA2_F) -> np.ndarray:
    num = (1 + beta2) * precision * recall
    return num / np.where(num == 0, 1.0, beta2 * precision + recall)


def _enhanced(fg_fg, pred_fg, gt_fg: float, size: float):
    fg_bg = pred_fg - fg_fg
    pred_bg = size - pred_fg
    if gt_fg == 0:
        return pred_bg / (size - 1 + EPS)
    if gt_fg == size:
        return pred_fg / (size - 1 + EPS)
    bg_fg = gt_fg - fg_fg
    bg_bg = pred_bg - bg_fg
    mp, mg = pred_fg / size, gt_fg / size
    total = 0.0
    for count, a, b in (
        (fg_fg, 1 - mp, 1 - mg),
        (fg_bg, 1 - mp, -mg),
        (bg_fg, -mp, 1 - mg),
        (bg_bg, -mp, -mg),
    ):
        align = 2 * (a * b) / (a**2 + b**2 + EPS)
        total = total + (align + 1) ** 2 / 4 * count
    return total / (size - 1 + EPS)


def _s_object(x: np.ndarray) -> float:
    mean = x.mean()
    std = x.std(ddof=1) if x.size > 1 else 0.0
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
    alpha = 4 * x * y * sxy
    beta = (x**2 + y**2) * (sx + sy)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def _s_measure(p: np.ndarray, g: np.ndarray, alpha: float = 0.5) -> float:
    y = g.mean()
    if y == 0:
        return 1 - p.mean()
    if y == 1:
        return p.mean()
    obj = y * _s_object(p[g]) + (1 - y) * _s_object(1 - p[~g])
    h, w = g.shape
    n = g.sum()
    cy = int(np.round((np.arange(h) * g.sum(1)).sum() / n)) + 1
    cx = int(np.round((np.arange(w) * g.sum(0)).sum() / n)) + 1
    gf = g.astype(np.float64)
    area = h * w
    w_lt, w_rt, w_lb = cx * cy / area, cy * (w - cx) / area, (h - cy) * cx / area
    w_rb = 1 - w_lt - w_rt - w_lb
    region = (
        _ssim(p[:cy, :cx], gf[:cy, :cx]) * w_lt
        + _ssim(p[:cy, cx:], gf[:cy, cx:]) * w_rt
        + _ssim(p[cy:, :cx], gf[cy:, :cx]) * w_lb
        + _ssim(p[cy:, cx:], gf[cy:, cx:]) * w_rb
    )
    return max(0.0, alpha * obj + (1 - alpha) * region)


def image_stats(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per-image quantities whose means over images give every metric.

    ``pred`` and ``gt`` are uint8 (H, W) arrays of equal size.
    """
    p = pred / 255.0
    lo, hi = p.min(), p.max()
    if hi != lo:
        p = (p - lo) / (hi - lo)
    g = gt > 128
    size = float(g.size)
    gt_fg = float(np.count_nonzero(g))
    hist = np.bincount(
        ((p * 255).astype(np.uint8).astype(np.intp) * 2 + g).ravel(), minlength=512
    ).reshape(256, 2)
    tp = np.cumsum(hist[::-1, 1]).astype(np.float64)
    pp = tp + np.cumsum(hist[::-1, 0])
    precision = tp / np.where(pp == 0, 1, pp)
    recall = tp / max(gt_fg, 1)
    binary = p >= min(2 * p.mean(), 1)
    a_tp = float(np.count_nonzero(binary & g))
    a_pp = float(np.count_nonzero(binary))
    adaptive_f = (
        0.0
        if a_tp == 0
        else float(_f(np.float64(a_tp / max(a_pp, 1)), np.float64(a_tp / max(gt_fg, 1))))
    )
    return {
        "mae": float(np.abs(p - g).mean()),
        "s_measure": float(_s_measure(p, g)),
        "weighted_f": weighted_f(p, g),
        "f_curve": _f(precision, recall),
        "precision": precision,
        "recall": recall,
        "adaptive_f": adaptive_f,
        "e_curve": _enhanced(tp, pp, gt_fg, size),
        "adaptive_e": float(_enhanced(a_tp, a_pp, gt_fg, size)),
    }


def summarise(totals: dict[str, np.ndarray | float], count: int) -> dict[str, float]:
    """The ten metrics from per-image sums of :func:`image_stats` over ``count`` images."""
    mean = {k: np.asarray(v, dtype=np.float64) / max(count, 1) for k, v in totals.items()}
    return {
        "mae": float(mean["mae"]),
        "s_measure": float(mean["s_measure"]),
        "weighted_f": float(mean["weighted_f"]),
        "max_f": float(mean["f_curve"].max()),
        "mean_f": float(mean["f_curve"].mean()),
        "adaptive_f": float(mean["adaptive_f"]),
        "max_e": float(mean["e_curve"].max()),
        "mean_e": float(mean["e_curve"].mean()),
        "adaptive_e": float(mean["adaptive_e"]),
        "max_f_dataset_pr": float(_f(mean["precision"], mean["recall"]).max()),
    }
