"""The input every kernel shares: one 8-bit map and its mask, prepared once (:class:`SODImage`).

An 8-bit map has at most 256 levels, so the normalised map is a 256-entry table
(``cv2.LUT``), and the F/E curves, MAE, the adaptive threshold counts and the S-measure
(means, variances and covariances of the map per mask class and per quadrant) are sums over
256-bin histograms (``cv2.calcHist``) instead of passes over the pixels. Each per-pixel value
is computed with the same float64 operations as PySODMetrics; only the order of the additions
changes, so the results differ from a pixel loop by rounding only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, wraps

import cv2
import numpy as np

Stats = dict[str, "float | np.ndarray"]

EPS = np.spacing(1)
_LEVELS = np.arange(256) / 255.0  # an 8-bit map / 255, level by level, as NumPy divides


def _hist2(pred: np.ndarray, gu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """256-bin histograms of ``pred``'s background and mask pixels (float64 counts)."""
    if pred.size == 0:
        return np.zeros(256), np.zeros(256)
    h = cv2.calcHist([pred, gu], [0, 1], None, [256, 2], [0, 256, 0, 2]).astype(np.float64)
    return h[:, 0], h[:, 1]


# ------------------------------------------------------------------------------- the input
class SODImage:
    """One 8-bit map and its mask, prepared once for every kernel.

    ``pred``: uint8 (H, W); ``gt``: uint8 (foreground > 128) or bool, the same size. Holds the
    normalised map as 256 levels and the level histograms of background and mask pixels (per
    quadrant around the mask's centroid when the mask has both classes); the threshold counts
    and the adaptive binarisation are computed on first use.
    """

    def __init__(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.dtype != np.uint8 or pred.ndim != 2:
            raise ValueError(f"an 8-bit (H, W) map expected, got {pred.dtype} {pred.shape}")
        if pred.shape != gt.shape:
            raise ValueError(f"map {pred.shape} and mask {gt.shape} differ in size")
        self.pred = pred = np.ascontiguousarray(pred)
        self.g = g = np.ascontiguousarray(gt if gt.dtype == np.bool_ else gt > 128)
        self.gu = gu = g.view(np.uint8)
        self.h, self.w = h, w = g.shape
        self.size = float(g.size)
        self.gt_fg = gt_fg = float(cv2.countNonZero(gu))
        lo, hi = int(pred.min()), int(pred.max())
        # the normalised map, level by level (the same float64 operations as on every pixel)
        self.levels = _LEVELS
        if hi != lo:
            self.levels = (_LEVELS - _LEVELS[lo]) / (_LEVELS[hi] - _LEVELS[lo])
        # level histograms of background and mask pixels, per quadrant around the mask's
        # centroid (the S-measure's regions; one plus the rounded centroid, as the MATLAB code)
        self.quads: list[tuple[slice, slice]] | None = None
        if 0 < gt_fg < self.size:
            rows = cv2.reduce(gu, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.int64)
            cols = cv2.reduce(gu, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.int64)
            self.cy = cy = int(np.round((np.arange(h) * rows).sum() / gt_fg)) + 1
            self.cx = cx = int(np.round((np.arange(w) * cols).sum() / gt_fg)) + 1
            self.quads = [np.s_[:cy, :cx], np.s_[:cy, cx:], np.s_[cy:, :cx], np.s_[cy:, cx:]]
            self.q_hists = [_hist2(pred[q], gu[q]) for q in self.quads]
            self.bg_h = sum(qh[0] for qh in self.q_hists)
            self.fg_h = sum(qh[1] for qh in self.q_hists)
        else:
            self.bg_h, self.fg_h = _hist2(pred, gu)
        self.all_h = self.bg_h + self.fg_h

    @cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(true positives, predicted positives) at the thresholds 255..0."""
        bins = (self.levels * 255).astype(np.uint8)  # uint8(p * 255): truncation
        tp = np.cumsum(np.bincount(bins, self.fg_h, 256)[::-1])
        pp = tp + np.cumsum(np.bincount(bins, self.bg_h, 256)[::-1])
        return tp, pp

    @cached_property
    def mean(self) -> float:
        """The mean of the normalised map."""
        mean_p = (self.all_h * self.levels).sum() / self.size
        if np.any(np.abs(self.levels[self.all_h > 0] - 2 * mean_p) < 1e-12):
            # a level at the adaptive threshold: the mean exactly as NumPy takes it
            mean_p = cv2.LUT(self.pred, self.levels).mean()
        return float(mean_p)

    @cached_property
    def adaptive(self) -> tuple[float, float]:
        """(true positives, predicted positives) at the threshold min(2 * mean, 1)."""
        above = self.levels >= min(2 * self.mean, 1)
        return float(self.fg_h[above].sum()), float(self.all_h[above].sum())

    @cached_property
    def nonzero(self) -> np.ndarray:
        """0/1 uint8: where the normalised map is nonzero."""
        return cv2.LUT(self.pred, (self.levels != 0).astype(np.uint8))


Kernel = Callable[[SODImage], Stats]


def kernel(fn: Callable[..., Stats]) -> Callable[..., Stats]:
    """Let a kernel of an :class:`SODImage` also take ``(pred, gt)`` arrays."""

    @wraps(fn)
    def wrapper(img: SODImage | np.ndarray, gt: np.ndarray | None = None, **kw: object) -> Stats:
        return fn(img if gt is None else SODImage(img, gt), **kw)  # type: ignore[arg-type]

    return wrapper
