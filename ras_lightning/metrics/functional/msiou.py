"""Multi-scale IoU (Ahmadzadeh et al., ICIP 2021; PySODMetrics' ``MSIoU``).

The edges of the binarised map and of the mask are compared on grids of cells 1, 2, 4, ...,
512 pixels wide (a cell is an edge when any of its pixels is; the image padded with zeros at
the top and left to whole cells): at each scale ``(|map edges & mask edges| + 1) / (|mask
edges| + 1)``, and the value is the area under these ten ratios (trapezoids, scales spaced
1/9). As PySODMetrics:

* an edge is where the Sobel gradient of the boolean mask is nonzero (zero padding; SciPy's
  Sobel in the boolean dtype, whose byte arithmetic gives the same: :func:`edges`);
* the mask's edge count per scale is a float16 sum plus 1 in float16 (exact up to 2048
  edge cells, rounded above, as there);
* the dynamic curve has 257 entries, thresholds 0..256 on the 8-bit map (``map >= t``);
  ``max_msiou`` / ``mean_msiou`` are the max / mean of the mean curve over images;
  ``adaptive_msiou`` binarises at min(2 * mean, 1), ``binary_msiou`` at ``map > 0.5``.

The map's edges are counted per scale from the list of its edge pixels (the cell of each, at
every scale), not by shrinking the whole image 257 times.
"""

from __future__ import annotations

import cv2
import numpy as np

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

CELL_SIZES = np.power(2, np.linspace(0, 9, num=10, dtype=int))
LEVELS = np.log2(CELL_SIZES).astype(int)
MSIOU_CURVE = 257  # thresholds 0..256


def edges(mask: np.ndarray) -> np.ndarray:
    """bool (H, W): where the 3x3 Sobel gradient of the boolean ``mask`` is nonzero, zeros
    beyond the border: PySODMetrics' ``hypot(sobel(mask, 0), sobel(mask, 1)) > 0``. (SciPy runs
    it in the boolean dtype: the difference pass stores -1 as the byte 255 and the smoothing
    pass its sum modulo 256; the sums lie in -4..4, so nonzero there is nonzero here.)"""
    m = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    border = cv2.BORDER_CONSTANT
    dy = cv2.Sobel(m, cv2.CV_16S, 0, 1, ksize=3, borderType=border)
    dx = cv2.Sobel(m, cv2.CV_16S, 1, 0, ksize=3, borderType=border)
    return (dy != 0) | (dx != 0)


def _pads(h: int, w: int) -> list[tuple[int, int]]:
    """The zero rows / columns PySODMetrics pads at the top / left for each cell size."""
    return [(int((c - h % c) % c), int((c - w % c) % c)) for c in CELL_SIZES]


def _cells(rows: np.ndarray, cols: np.ndarray, h: int, w: int) -> list[tuple[np.ndarray, int]]:
    """Per scale, the flat cell index of each pixel (rows, cols) and the number of cells."""
    out = []
    for k, (ph, pw) in zip(LEVELS, _pads(h, w), strict=True):
        width = (w + pw) >> k
        out.append((((rows + ph) >> k) * width + ((cols + pw) >> k), ((h + ph) >> k) * width))
    return out


class _MaskEdges:
    """The mask's edge cells per scale and PySODMetrics' denominators."""

    def __init__(self, g: np.ndarray) -> None:
        self.h, self.w = h, w = g.shape
        rows, cols = _edge_pixels(g)
        self.cells = []
        dens = []
        for ids, n in _cells(rows, cols, h, w):
            cell = np.zeros(n, bool)
            cell[ids] = True
            self.cells.append(cell)
            # PySODMetrics sums the shrunk edge map as float16 and adds 1 in float16
            count = np.float16(cell.astype(np.float16).sum())
            dens.append(float(count + np.float16(1)))
        self.dens = np.array(dens)

    def auc(self, binary: np.ndarray) -> float:
        """MSIoU of a binarised map: the area under the ten per-scale ratios."""
        rows, cols = _edge_pixels(binary)
        hits = []
        for k, ((ids, n), cell) in enumerate(
            zip(_cells(rows, cols, self.h, self.w), self.cells, strict=True)
        ):
            ids = ids[cell[ids]]  # the map's edge pixels in a mask edge cell
            if k == 0 or not ids.size:  # scale 1: one pixel per cell
                hits.append(ids.size)
            else:
                hits.append(np.count_nonzero(np.bincount(ids, minlength=n)))
        ratios = (np.array(hits) + 1) / self.dens
        dx = 1 / (len(CELL_SIZES) - 1)
        return float((dx * (ratios[1:] + ratios[:-1]) / 2.0).sum())


def _edge_pixels(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the edge pixels of a binary map (int64)."""
    points = cv2.findNonZero(edges(binary).view(np.uint8))
    if points is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    points = points.reshape(-1, 2).astype(np.int64)
    return points[:, 1], points[:, 0]


@kernel
def msiou(img: SODImage) -> Stats:
    """Multi-scale IoU: the 257-entry curve over thresholds 0..256, adaptive and binary."""
    mask = _MaskEdges(img.g)
    bins = ((img.levels * 255).astype(np.uint8))[img.pred]  # uint8(map * 255): truncation
    curve = np.empty(MSIOU_CURVE)
    present = np.zeros(MSIOU_CURVE, bool)
    present[np.unique(bins).astype(int) + 1] = True  # thresholds that change the binary map
    present[[0, 256]] = True
    last = 0.0
    for t in range(MSIOU_CURVE):
        if present[t]:
            last = mask.auc(bins >= t)
        curve[t] = last
    thr = min(2 * img.mean, 1)
    return {
        "msiou_curve": curve,
        "adaptive_msiou": mask.auc((img.levels >= thr)[img.pred]),
        "binary_msiou": mask.auc((img.levels > 0.5)[img.pred]),
    }


def msiou_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean curve, adaptive and binary MSIoU."""
    return {
        "max_msiou": float(mean["msiou_curve"].max()),
        "mean_msiou": float(mean["msiou_curve"].mean()),
        "adaptive_msiou": float(mean["adaptive_msiou"]),
        "binary_msiou": float(mean["binary_msiou"]),
    }
