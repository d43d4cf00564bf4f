"""Multi-scale IoU (Ahmadzadeh et al., ICIP 2021; PySODMetrics' ``MSIoU``).

The edges of the binarised map and of the mask are compared on grids of cells 1, 2, 4, ...,
512 pixels wide (a cell is an edge when any of its pixels is; the image padded with zeros at
the top and left to whole cells): at each scale ``(|map edges & mask edges| + 1) / (|mask
edges| + 1)``, and the value is the area under these ten ratios (trapezoids, scales spaced
1/9). As PySODMetrics:

* an edge is where ``scipy.ndimage.sobel`` of the boolean mask is nonzero, computed in the
  boolean dtype, byte arithmetic included (:func:`edges`);
* the mask's edge count per scale is a float16 sum plus 1 in float16 (exact up to 2048
  edge cells, rounded above, as there);
* the dynamic curve has 257 entries, thresholds 0..256 on the 8-bit map (``map >= t``);
  ``max_msiou`` / ``mean_msiou`` are the max / mean of the mean curve over images;
  ``adaptive_msiou`` binarises at min(2 * mean, 1), ``binary_msiou`` at ``map > 0.5``.
"""

from __future__ import annotations

import numpy as np

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

CELL_SIZES = np.power(2, np.linspace(0, 9, num=10, dtype=int))
MSIOU_CURVE = 257  # thresholds 0..256


def edges(mask: np.ndarray) -> np.ndarray:
    """bool (H, W): PySODMetrics' edges of a boolean mask, ``hypot(sobel(mask, 0),
    sobel(mask, 1)) > 0`` with SciPy's Sobel run in the mask's boolean dtype (zero padding).

    There each pass writes into a bool array: the difference pass stores -1 as the byte 255,
    and the smoothing pass (weights 1, 2, 1) stores its sum of those bytes modulo 256 (C's
    float-to-byte conversion on x86), so e.g. 255 + 1 = 256 is *not* an edge. Reproduced here
    in uint8 arithmetic, which wraps the same way.
    """
    m = np.pad(np.ascontiguousarray(mask, dtype=bool).view(np.uint8), 1)
    d0 = m[2:, :] - m[:-2, :]  # [-1, 0, 1] along axis 0; -1 wraps to 255
    d1 = m[:, 2:] - m[:, :-2]
    sx = d0[:, :-2] + 2 * d0[:, 1:-1] + d0[:, 2:]  # [1, 2, 1] along the other axis, mod 256
    sy = d1[:-2, :] + 2 * d1[1:-1, :] + d1[2:, :]
    return (sx != 0) | (sy != 0)


def _pyramid(edge: np.ndarray) -> list[np.ndarray]:
    """The edge map shrunk to each cell size (any edge pixel in a cell), padding at the top and
    left as PySODMetrics: each level is the previous one padded by 0 or 1 cell and 2x2-pooled."""
    h, w = edge.shape
    out = [edge]
    cur, ph, pw = edge, 0, 0
    for size in CELL_SIZES[1:]:
        nh, nw = (size - h % size) % size, (size - w % size) % size
        half = size // 2
        top, left = (nh - ph) // half, (nw - pw) // half
        if top or left:
            padded = np.zeros((cur.shape[0] + top, cur.shape[1] + left), bool)
            padded[top:, left:] = cur
            cur = padded
        cur = cur[0::2, 0::2] | cur[1::2, 0::2] | cur[0::2, 1::2] | cur[1::2, 1::2]
        out.append(cur)
        ph, pw = nh, nw
    return out


def _gt_levels(g: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    levels = _pyramid(edges(g))
    # PySODMetrics sums the mask's shrunk edges as float16 and adds 1 in float16
    dens = np.array(
        [np.float16(lv.astype(np.float16).sum()) + np.float16(1) for lv in levels],
        dtype=np.float64,
    )
    return levels, dens


def _auc(binary: np.ndarray, gt_levels: list[np.ndarray], dens: np.ndarray) -> float:
    ratios = np.array(
        [
            (np.count_nonzero(p & g) + 1) / d
            for p, g, d in zip(_pyramid(edges(binary)), gt_levels, dens, strict=True)
        ]
    )
    dx = 1 / (len(CELL_SIZES) - 1)
    return float((dx * (ratios[1:] + ratios[:-1]) / 2.0).sum())


@kernel
def msiou(img: SODImage) -> Stats:
    """Multi-scale IoU: the 257-entry curve over thresholds 0..256, adaptive and binary."""
    gt_levels, dens = _gt_levels(img.g)
    bins = cv2_lut(img)
    curve = np.empty(MSIOU_CURVE)
    present = np.zeros(MSIOU_CURVE, bool)
    present[np.unique(bins).astype(int) + 1] = True  # thresholds that change the binary map
    present[[0, 256]] = True
    last = 0.0
    for t in range(MSIOU_CURVE):
        if present[t]:
            last = _auc(bins >= t, gt_levels, dens)
        curve[t] = last
    thr = min(2 * img.mean, 1)
    return {
        "msiou_curve": curve,
        "adaptive_msiou": _auc(_lut(img, img.levels >= thr), gt_levels, dens),
        "binary_msiou": _auc(_lut(img, img.levels > 0.5), gt_levels, dens),
    }


def cv2_lut(img: SODImage) -> np.ndarray:
    """The normalised map in 8-bit bins, ``uint8(map * 255)`` (truncation)."""
    return _lut(img, (img.levels * 255).astype(np.uint8)).astype(np.uint16)


def _lut(img: SODImage, table: np.ndarray) -> np.ndarray:
    return np.asarray(table)[img.pred]


def msiou_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean curve, adaptive and binary MSIoU."""
    return {
        "max_msiou": float(mean["msiou_curve"].max()),
        "mean_msiou": float(mean["msiou_curve"].mean()),
        "adaptive_msiou": float(mean["adaptive_msiou"]),
        "binary_msiou": float(mean["binary_msiou"]),
    }
