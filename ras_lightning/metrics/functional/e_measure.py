"""Enhanced-alignment measure (Fan et al., IJCAI 2018): E curves over the thresholds 255..0."""

from __future__ import annotations

import numpy as np

from ras_lightning.metrics.functional.image import EPS, SODImage, Stats, kernel


def enhanced_alignment(fg_fg, pred_fg, gt_fg: float, size: float):  # noqa: ANN001, ANN201
    """E-measure of a binarised map from pixel counts: ``fg_fg`` predicted-and-true foreground,
    ``pred_fg`` predicted foreground (numbers or curves), ``gt_fg`` true foreground, ``size``
    pixels. The enhanced-alignment matrix takes four values (one per prediction/mask pair), so
    its sum is a count-weighted sum of four terms; divided by ``size - 1 + eps``, as the
    authors' MATLAB code and PySODMetrics divide."""
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


@kernel
def e_measure(img: SODImage) -> Stats:
    """Enhanced-alignment measure (Fan et al., IJCAI 2018) over the thresholds 255..0, and at
    the adaptive threshold."""
    tp, pp = img.counts
    a_tp, a_pp = img.adaptive
    return {
        "e_curve": enhanced_alignment(tp, pp, img.gt_fg, img.size),
        "adaptive_e": float(enhanced_alignment(a_tp, a_pp, img.gt_fg, img.size)),
    }


def e_measure_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean E curve, adaptive E."""
    return {
        "max_e": float(mean["e_curve"].max()),
        "mean_e": float(mean["e_curve"].mean()),
        "adaptive_e": float(mean["adaptive_e"]),
    }
