"""Context measure (Wang et al., 2025; PySODMetrics' ``ContextMeasure``, beta^2 = 1,
alpha = 6).

A Gaussian kernel shaped by the covariance of the mask's pixel coordinates (scaled to a total
spread of ``alpha``) spreads the mask (forward inference: how relevant each predicted pixel
is) and the map (reverse deduction: how completely each mask pixel is covered); the value is
the F-measure-style combination of their weighted means. Higher is better, in [0, 1]; every
value is finite (an empty mask or map gives 0). The camouflage variant
(``CamouflageContextMeasure``) needs the photo, which ``score`` does not read: not provided.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ras_lightning.metrics.functional.image import EPS, SODImage, Stats, kernel

BETA2_CM = 1.0
ALPHA_CM = 6.0
_EXP = math.e / (math.e - 1)


def _kernel_params(gt: np.ndarray) -> tuple[np.ndarray, int, int]:
    points = np.argwhere(gt > 0)
    if len(points) <= 1:
        return np.diag([0.25, 0.25]), 1, 1
    cov = np.cov(points, rowvar=False)
    cov[0, 0] = cov[0, 0] or EPS  # a line: keep the matrix invertible, as PySODMetrics
    cov[1, 1] = cov[1, 1] or EPS
    total = np.sqrt(cov[0, 0] + cov[1, 1])
    std_cov = ALPHA_CM**2 * cov / (total**2)
    x_dis = round(3 * (ALPHA_CM * np.sqrt(cov[0, 0]) / total))
    y_dis = round(3 * (ALPHA_CM * np.sqrt(cov[1, 1]) / total))
    return std_cov, x_dis, y_dis


def _gaussian(x_dis: int, y_dis: int, cov: np.ndarray) -> np.ndarray:
    det, inv = np.linalg.det(cov), np.linalg.inv(cov)
    x, y = np.meshgrid(np.arange(-x_dis, x_dis + 1), np.arange(-y_dis, y_dis + 1), indexing="ij")
    z = np.stack([x, y], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", z, inv, z)) / (2 * np.pi * np.sqrt(det))
    return k / np.sum(k)


@kernel
def context_measure(img: SODImage) -> Stats:
    """Context measure of one image (PySODMetrics' operations, OpenCV's filters)."""
    pred = cv2.LUT(img.pred, img.levels)  # the normalised map, float64
    gt = img.g.astype(np.float64)
    cov, x_dis, y_dis = _kernel_params(gt)
    k = _gaussian(x_dis, y_dis, cov)
    forward = (pred > 0).astype(int) * cv2.filter2D(gt.astype(np.float32), cv2.CV_32F, k)
    m_forward = np.sum(forward * pred) / (np.sum(pred) + EPS)
    reverse = _EXP * gt * (1 - np.exp(-1 * cv2.filter2D(pred, -1, k)))
    w_reverse = np.sum(reverse * gt) / (np.sum(gt) + EPS)  # no camouflage degree (0)
    cm = (1 + BETA2_CM) * m_forward * w_reverse / (BETA2_CM * m_forward + w_reverse + EPS)
    return {"context_measure": float(cm)}
