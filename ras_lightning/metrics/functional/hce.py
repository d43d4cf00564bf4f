"""Human correction effort (Qin et al., ECCV 2022; PySODMetrics'
``HumanCorrectionEffortMeasure``, relax = 5, epsilon = 2).

The number of clicks a person would need to correct ``map > 0.5`` into the mask: the control
points of the polygons (Ramer-Douglas-Peucker, epsilon 2) that outline the false-positive and
false-negative regions left after a 5-pixel relaxation (the mask's skeleton is kept), plus one
per such region no outline touches. Lower is better; 0 for a perfect map. Every value is
finite: an empty mask or map gives the effort to draw (or erase) what is there.

The skeleton is scikit-image's Zhang-Suen thinning (``skimage.morphology.skeletonize``),
the regions are 8-connected components (``skimage.measure.label``'s default); the contour
walk is PySODMetrics', vectorised.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

RELAX = 5
EPSILON = 2.0
_DISK1 = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)  # skimage's disk(1)
_FULL = np.ones((3, 3), bool)  # 8-connectivity


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """The skeleton of a 2D boolean mask: scikit-image's ``skeletonize``, which the HCE
    definition (the DIS authors' code, PySODMetrics) runs. Its thinning table departs from
    Zhang and Suen's textbook conditions in 25 of the 256 neighbourhoods, so a textbook
    thinning would not reproduce HCE; the library itself is used (imported here only, when
    HCE is selected: it takes ~0.5 s to import)."""
    from skimage.morphology import skeletonize as _skeletonize

    return _skeletonize(mask.astype(bool))


def _boundaries(
    contours: tuple, mask: np.ndarray, condition: np.ndarray
) -> tuple[list[np.ndarray], int]:
    """PySODMetrics' ``filter_conditional_boundary``: the runs of contour points next to
    ``condition`` (each pixel once, in contour order), and the number of ``mask`` regions
    none of whose contour points is such a point."""
    condition = cv2.dilate(condition.astype(np.uint8), _DISK1)
    labels, n = ndimage.label(mask, structure=_FULL)
    if not contours:
        return [], n
    w = mask.shape[1]
    pts = np.concatenate([c.reshape(-1, 2) for c in contours])  # (x, y)
    which = np.repeat(np.arange(len(contours)), [len(c) for c in contours])
    flat = pts[:, 1] * w + pts[:, 0]
    first = np.zeros(len(flat), bool)
    first[np.unique(flat, return_index=True)[1]] = True
    # a point is kept when it is next to the condition and its pixel was not kept before
    # (the condition is per pixel, so "not kept before" is "first occurrence")
    keep = first & (condition.ravel()[flat] != 0)
    touched = np.unique(labels.ravel()[flat[keep]])
    independent = n - np.count_nonzero(touched)
    boundaries: list[np.ndarray] = []
    for i in range(len(contours)):
        idx = np.flatnonzero(which == i)
        k = keep[idx]
        if not k.any():
            continue
        # runs of consecutive kept points
        edges = np.diff(np.concatenate([[0], k.view(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs = [pts[idx[s:e]] for s, e in zip(starts, ends, strict=True)]
        if len(runs) > 1:
            (fx, fy), (lx, ly) = runs[0][0], runs[-1][-1]
            if (
                abs(int(fx) - int(lx)) <= 1
                and abs(int(fy) - int(ly)) <= 1
                and (fx, fy)
                != (
                    lx,
                    ly,
                )
            ):
                runs[-1] = np.concatenate([runs[-1], runs[0][::-1]])
                del runs[0]
        boundaries.extend(r[:, None, :] for r in runs)
    return boundaries, independent


def _points(boundaries: list[np.ndarray]) -> int:
    return sum(len(cv2.approxPolyDP(b, EPSILON, False)) for b in boundaries)


@kernel
def hce(img: SODImage) -> Stats:
    """Human correction effort of ``map > 0.5`` against the mask (a count; lower is better)."""
    gt = img.g
    pred = (img.levels > 0.5)[img.pred]
    skeleton = skeletonize(gt)
    union = gt | pred
    tp = gt & pred
    fp = pred ^ tp
    fn = gt ^ tp
    eroded = cv2.erode(union.view(np.uint8), _DISK1, iterations=RELAX)

    fp_ = fp & (eroded != 0)
    for _ in range(RELAX):
        fp_ = (cv2.dilate(fp_.view(np.uint8), _DISK1) != 0) & ~gt
    fp_ = fp & fp_

    fn_ = fn & (eroded != 0)
    for _ in range(RELAX):
        fn_ = (cv2.dilate(fn_.view(np.uint8), _DISK1) != 0) & ~pred
    fn_ = fn & fn_
    fn_ = fn_ | (skeleton ^ (tp & skeleton))

    contours_fp, _ = cv2.findContours(fp_.view(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    bd_fp, ind_fp = _boundaries(contours_fp, fp_, tp | fn_)
    contours_fn, _ = cv2.findContours(fn_.view(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    bd_fn, ind_fn = _boundaries(contours_fn, fn_, ~(tp | fp_ | fn_))
    return {"hce": float(_points(bd_fp) + ind_fp + _points(bd_fn) + ind_fn)}
