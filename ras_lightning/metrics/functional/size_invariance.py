"""Size-invariant MAE and ``FmeasureV2`` metrics (Li et al., ICML 2024; PySODMetrics'
``SizeInvarianceMAE`` and ``SizeInvarianceFmeasureV2``).

The mask's *targets* are its 4-connected components of at least 50 pixels (if none is that
large: the largest ones); each target is scored inside its bounding box (the map and mask
zeroed outside it, over the whole image, as PySODMetrics does) and the image's value averages
the targets, so a small object counts as much as a large one. A mask with no foreground is one
"target", the whole image.

* ``si_mae``: each box's mean absolute error averaged with the error outside every box,
  weighted by the background / foreground area ratio.
* ``si_max_<h>``, ``si_mean_<h>``, ``si_adaptive_<h>``, ``si_binary_<h>`` (``sample_based``):
  per image, the mean over its targets of each target's max / mean over thresholds, adaptive
  and binary (``map > 0.5``) value; the dataset's value is the mean over images.
* ``si_max_<h>_dataset``, ``si_mean_<h>_dataset``, ``si_binary_<h>_dataset`` (whole-based,
  ``sample_based=False``): the max / mean of the mean curve over all targets of all images,
  and the handler of the binary counts summed over all targets.

Where PySODMetrics gives no number (documented in the README):

* the boxes cover the whole image (no background outside them; e.g. a mask whose object
  touches all four borders): PySODMetrics' ``si_mae`` is NaN (0 * 0/0: the background term has
  weight 0 and no pixels). Here the background term is left out (its weight is 0), so the value
  is the mean of the targets' errors -- the limit as the background shrinks to nothing.
* a mask that is foreground everywhere: PySODMetrics stops with an ``AssertionError``; here it
  is one target, the whole image (``si_mae`` is the plain MAE).
* PySODMetrics encodes the boxes as bits of a float64 (at most 52 exact targets); here each
  box is used directly, whatever the number of targets.
"""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
from scipy import ndimage

from ras_lightning.metrics.functional.confusion import (
    BINARY_STATES,
    HANDLERS,
    confusion,
    divide,
)
from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

AREA_THRESHOLD = 50
_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-connectivity (skimage connectivity=1)


def target_boxes(g: np.ndarray) -> list[tuple[slice, slice]]:
    """The bounding boxes of the mask's targets (4-connected components of at least 50
    pixels, else the largest ones), in label order; empty for a mask with no foreground."""
    labels, n = ndimage.label(g, structure=_CROSS)
    if n == 0:
        return []
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(areas >= AREA_THRESHOLD)
    if keep.size == 0:
        keep = np.flatnonzero(areas == areas.max())
    slices = ndimage.find_objects(labels)
    return [slices[i] for i in keep]


class _Target:
    """One target's box: its level histograms of background and mask pixels, its area."""

    def __init__(self, img: SODImage, box: tuple[slice, slice]) -> None:
        self.box = box
        pred, gu = img.pred[box], img.gu[box]
        h = cv2.calcHist([pred, gu], [0, 1], None, [256, 2], [0, 256, 0, 2]).astype(np.float64)
        self.bg_h, self.fg_h = h[:, 0], h[:, 1]
        self.area = float(pred.size)
        self.fg = float(self.fg_h.sum())


class _Targets:
    """The per-target confusion counts of one image (shared by the SI kernels)."""

    def __init__(self, img: SODImage) -> None:
        self.img = img
        self.boxes = target_boxes(img.g) if img.gt_fg else []
        self.targets = [_Target(img, b) for b in self.boxes]

    @cached_property
    def counts(self) -> list[dict[str, tuple]]:
        """Per target (the whole image when there is none): (tp, fp, tn, fn) curves over the
        thresholds 255..0, at the adaptive threshold and of ``map > 0.5``."""
        img = self.img
        if not self.targets:
            return [
                {
                    "dynamic": confusion(*img.counts, img.gt_fg, img.size),
                    "adaptive": confusion(*img.adaptive, img.gt_fg, img.size),
                    "binary": confusion(
                        *_above(img.levels > 0.5, img.fg_h, img.all_h), img.gt_fg, img.size
                    ),
                }
            ]
        bins = (img.levels * 255).astype(np.uint8)
        out = []
        for t in self.targets:
            outside = img.size - t.area  # zeros outside the box: bin 0, background
            tp = np.cumsum(np.bincount(bins, t.fg_h, 256)[::-1])
            fp = np.cumsum(np.bincount(bins, t.bg_h, 256)[::-1])
            fp[-1] += outside  # threshold 0: every pixel is >= 0
            thr = min(2 * self._mean(t), 1)
            above = img.levels >= thr
            a_tp, a_pp = _above(above, t.fg_h, t.fg_h + t.bg_h)
            if thr <= 0:  # the zeros outside the box are >= the threshold too
                a_pp += outside
            b_tp, b_pp = _above(img.levels > 0.5, t.fg_h, t.fg_h + t.bg_h)
            out.append(
                {
                    "dynamic": confusion(tp, tp + fp, t.fg, img.size),
                    "adaptive": confusion(a_tp, a_pp, t.fg, img.size),
                    "binary": confusion(b_tp, b_pp, t.fg, img.size),
                }
            )
        return out

    def _mean(self, t: _Target) -> float:
        """The mean over the image of the map zeroed outside the box (PySODMetrics' adaptive
        threshold is twice it); exactly as NumPy takes it when a level sits at 2 * mean."""
        img = self.img
        mean = ((t.bg_h + t.fg_h) * img.levels).sum() / img.size
        present = (t.bg_h + t.fg_h) > 0
        if np.any(np.abs(img.levels[present] - 2 * mean) < 1e-12):
            zeroed = np.zeros(img.g.shape)
            zeroed[t.box] = cv2.LUT(img.pred[t.box], img.levels)
            mean = zeroed.mean()
        return float(mean)


def _above(where: np.ndarray, fg_h: np.ndarray, all_h: np.ndarray) -> tuple[float, float]:
    return float(fg_h[where].sum()), float(all_h[where].sum())


def _targets(img: SODImage) -> _Targets:
    # cached on the image: the SI kernels of one image share the decomposition
    cached = img.__dict__.get("_si_targets")
    if cached is None:
        cached = img.__dict__["_si_targets"] = _Targets(img)
    return cached


@kernel
def si_mae(img: SODImage) -> Stats:
    """Size-invariant MAE of one image (see the module docstring for the no-background
    case, where PySODMetrics gives NaN)."""
    tg = _targets(img)
    lv = img.levels
    err_fg, err_bg = np.abs(lv - 1.0), lv  # per level: error on mask / background pixels
    if not tg.targets:
        return {"si_mae": float(((img.bg_h * err_bg).sum() + (img.fg_h * err_fg).sum()) / img.size)}
    covered = np.zeros(img.g.shape, np.uint8)
    for t in tg.targets:
        covered[t.box] = 1
    bg_area = img.size - float(cv2.countNonZero(covered))
    n = len(tg.targets)
    terms = [((t.bg_h * err_bg).sum() + (t.fg_h * err_fg).sum()) / t.area for t in tg.targets]
    if bg_area == 0:  # no background outside the boxes: its term has weight 0
        return {"si_mae": float(sum(terms) / n)}
    ratio = bg_area / (img.size - bg_area)
    factor = 1 / (n + ratio)
    outside = covered == 0
    bg_h = np.bincount(img.pred[outside & ~img.g], minlength=256).astype(np.float64)
    fg_h = np.bincount(img.pred[outside & img.g], minlength=256).astype(np.float64)
    bg_err = ((bg_h * err_bg).sum() + (fg_h * err_fg).sum()) / bg_area
    mae = ratio * bg_err * factor
    for term in terms:
        mae += term * factor
    return {"si_mae": float(mae)}


SI_HANDLERS = tuple(HANDLERS)


def si_handler_kernel(name: str):  # noqa: ANN201
    """The sample-based SI kernel of handler ``name``: per image, the mean over its targets
    of each target's max / mean over thresholds, adaptive and binary value."""
    fn = HANDLERS[name][0]

    @kernel
    def _kernel(img: SODImage) -> Stats:
        per = _targets(img).counts
        curves = np.array([fn(*c["dynamic"]) for c in per])
        return {
            f"si_max_{name}": float(curves.max(axis=-1).mean()),
            f"si_mean_{name}": float(curves.mean(axis=-1).mean()),
            f"si_adaptive_{name}": float(np.mean([fn(*c["adaptive"]) for c in per])),
            f"si_binary_{name}": float(np.mean([fn(*c["binary"]) for c in per])),
        }

    _kernel.__name__ = _kernel.__qualname__ = f"si_{name}_measure"
    return _kernel


SI_BINARY_STATES = tuple(f"si_{s}" for s in BINARY_STATES)


@kernel
def si_dataset(img: SODImage) -> Stats:
    """Whole-based SI statistics: every handler's curve summed over the image's targets, the
    number of targets, and the binary counts summed over them."""
    per = _targets(img).counts
    out: Stats = {"si_targets": float(len(per))}
    for name, (fn, *_) in HANDLERS.items():
        out[f"si_{name}_curve_sum"] = np.sum([fn(*c["dynamic"]) for c in per], axis=0)
    binary = np.sum([np.array(c["binary"], dtype=np.float64) for c in per], axis=0)
    out.update({k: float(v) for k, v in zip(SI_BINARY_STATES, binary, strict=True)})
    return out


def si_dataset_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean curve over all targets, and each handler of the summed binary
    counts."""
    out: dict[str, float] = {}
    targets = float(mean["si_targets"])
    counts = [mean[k] for k in SI_BINARY_STATES]
    for name, (fn, *_) in HANDLERS.items():
        curve = divide(mean[f"si_{name}_curve_sum"], targets)
        out[f"si_max_{name}_dataset"] = float(curve.max())
        out[f"si_mean_{name}_dataset"] = float(curve.mean())
        out[f"si_binary_{name}_dataset"] = float(fn(*counts))
    return out
