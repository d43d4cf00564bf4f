"""Precision, recall and F-measure curves over the thresholds 255..0, and adaptive F."""

from __future__ import annotations

import numpy as np

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

BETA2_F = 0.3


def _f(precision: np.ndarray, recall: np.ndarray, beta2: float = BETA2_F) -> np.ndarray:
    num = (1 + beta2) * precision * recall
    return num / np.where(num == 0, 1.0, beta2 * precision + recall)


@kernel
def f_measure(img: SODImage, beta2: float = BETA2_F) -> Stats:
    """Precision, recall and F (beta^2 = 0.3) curves over the thresholds 255..0, and F at the
    adaptive threshold (0 when no pixel is a true positive)."""
    tp, pp = img.counts
    precision = tp / np.where(pp == 0, 1, pp)
    recall = tp / max(img.gt_fg, 1)
    a_tp, a_pp = img.adaptive
    adaptive = 0.0
    if a_tp:
        pre, rec = np.float64(a_tp / max(a_pp, 1)), np.float64(a_tp / max(img.gt_fg, 1))
        adaptive = float(_f(pre, rec, beta2))
    return {
        "f_curve": _f(precision, recall, beta2),
        "precision": precision,
        "recall": recall,
        "adaptive_f": adaptive,
    }


def f_measure_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean F curve, adaptive F, and the max F of the mean PR curve (the
    classic MATLAB toolbox's max F)."""
    return {
        "max_f": float(mean["f_curve"].max()),
        "mean_f": float(mean["f_curve"].mean()),
        "adaptive_f": float(mean["adaptive_f"]),
        "max_f_dataset_pr": float(_f(mean["precision"], mean["recall"]).max()),
    }
