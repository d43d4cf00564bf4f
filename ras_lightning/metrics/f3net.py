"""The evaluation convention of the RAS, CPD and F3Net papers' tables (``convention=f3net``).

Those tables come from the MATLAB code in F3Net's repository (weijun88/F3Net, ``eval/main.m``
and the ``.m`` files beside it, commit eecace3a). This module is a NumPy port of it, checked
against that code run by Octave (``tests/test_f3net_convention.py``). What ``main.m`` does to
each (map, mask) pair, and where it differs from the PySODMetrics convention of
:mod:`ras_lightning.metrics.functional`:

* Reading (``main.m``): ``imread``, and of a 3-channel image the FIRST channel (red), no
  ``rgb2gray`` (:func:`read_gray_matlab`, the cross-check's exact emulation). The convention
  itself (:func:`load_pair`) reads the file's content through the project's one mask and map
  readers and keeps MATLAB's class (uint8, uint16): the same values on gray files, the
  content where ``imread`` would lose it (see :func:`load_pair`).
* The map is ``imresize``-d to the mask's size, MATLAB's bicubic with antialiasing, rounded to
  the map's integer class (:func:`imresize`; a no-op for maps of the mask's size).
* Map AND mask are min-max normalised by ``mat2gray``; the mask is then binarised at ``>= 0.5``
  (so a 0/1, a 0/255 or a 1-bit mask all give the same mask).
* If the normalised map or mask is all zero, the image is skipped but still counted: it adds
  zero to every metric (MAE included) and a zero row to the PR curves.
* ``MAE.m``: mean absolute error.
* ``Fmeasure.m`` (adaptive F): threshold ``min(2 * mean(map), 1)``, foreground ``map >=
  threshold``, beta^2 = 0.3, 0 when no pixel is a true positive.
* ``wFmeasure.m``: Margolin et al.'s weighted F with beta^2 = **1** (``Q = 2RP/(R+P)``).
* ``Smeasure.m``/``S_object.m``/``S_region.m``: alpha = 0.5, NOT clipped at 0; a quadrant of
  zero pixels (the mask's centroid rounds onto the last row/column) makes the score NaN in the
  MATLAB code, and here too.
* ``Emeasure.m`` (adaptive E): threshold ``2 * mean(map)`` NOT capped at 1 and ``>``; score
  ``sum(enhanced) / (H*W - 1 + eps)``.
* ``PRCurve.m`` on ``map * 255``: ``histc`` over the edges 0:255, i.e. the bin of a value is
  its floor; precision ``TP / (TP + FP + eps)``, recall ``TP / |GT|``, both cumulated from the
  top bin down (index ``i`` of a curve is the threshold ``255 - i``).
* ``max_f`` (``maxF`` in ``main.m``): the max over the 256 thresholds of
  ``1.3 P R / (0.3 P + R + eps)`` of the dataset-averaged P and R curves.

Keys of :func:`summarise`: ``max_f``, ``adaptive_f``, ``mae``, ``weighted_f``, ``s_measure`` and
``adaptive_e`` are the six numbers ``main.m`` prints (maxF, fm, mae, wfm, sm, em);
``max_f_dataset_pr`` is ``max_f`` again (the toolbox's max F IS the dataset-PR one); ``mean_f``
is extra: the mean over thresholds of the F curve of the averaged P and R curves that ``main.m``
saves (``prec.mat``, ``rec.mat``). ``max_e`` and ``mean_e`` are absent: the toolbox has no E
curve.

Where MATLAB and Octave differ this module follows MATLAB:

* ``mat2gray`` of a constant nonzero map: MATLAB gives double ones; Octave keeps the integer
  class and ``wFmeasure.m`` then stops ("FG should be of type: double").
* ``imresize``: MATLAB's is reproduced exactly (checked against MATLAB's own outputs quoted in
  Octave's imresize tests). Octave's differs: columns first, single precision for 8/16-bit
  images, kernel weights not normalised, no rounding between the passes; up to 1 grey level
  off when enlarging, a few when shrinking by a non-integer factor. On SOD maps resized both
  ways the six metrics move by ~2e-5.

Not reproduced: ``bwdist``'s choice among equally near foreground pixels (SciPy's exact EDT
here; MATLAB's is exact too, Octave's ``edtfunc`` an approximation that on one SOD mask puts 39
pixels up to 0.04 px off and breaks ~1000 ties otherwise): against Octave, weighted F moves by
up to ~3e-5 on an image and ~2e-6 on the SOD means. The floating-point order of ``mat2gray`` is
Octave's ``(a - min) * (1 / range)``; MATLAB's ``imlincomb`` may differ in the last bit for a map
whose minimum is not 0, which can move a pixel across a PR bin edge.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from ras_lightning.data.readers import read_map, read_mask
from ras_lightning.metrics.functional import enhanced_alignment, gauss_kernel, ssim_from_moments

EPS = np.spacing(1)  # MATLAB's eps
BINS = 256


# ----------------------------------------------------------------------------- reading, resizing
def read_gray_matlab(path: str | Path) -> np.ndarray:
    """What ``main.m`` gets from ``imread(path)`` (then ``(:,:,1)`` of a 3-channel image).

    Gray stays gray (alpha dropped); colour gives the red channel; 16-bit stays uint16; a
    palette PNG gives its indices, as MATLAB's ``imread`` does. (A 1-bit PNG reads as 0/255
    uint8 where MATLAB has a logical: the same after ``mat2gray``.)
    """
    path = str(path)
    if path.lower().endswith(".png"):
        # PIL only for the palette indices (OpenCV expands palettes to RGB)
        with Image.open(path) as im:
            if im.mode == "P":
                return np.asarray(im).copy()
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise OSError(f"cannot read {path}")
    if arr.ndim == 3:
        # OpenCV: BGR(A), or a gray+alpha PNG expanded to BGRA with B == G == R
        arr = arr[..., 2] if arr.shape[2] >= 3 else arr[..., 0]
    return np.ascontiguousarray(arr)


def _cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB's bicubic kernel (Keys, a = -0.5)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _contributions(
    in_len: int, out_len: int, scale: float, antialiasing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) and 0-based source indices of MATLAB's ``contributions``."""
    width = 4.0
    if scale < 1 and antialiasing:
        # shrinking: a kernel stretched by 1/scale (a low-pass filter)
        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

        width /= scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx = aux[np.mod(idx.astype(np.int64) - 1, aux.size)]
    keep = weights.any(axis=0)
    return weights[:, keep], idx[:, keep]


def _to_class(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """MATLAB's conversion of doubles to ``dtype``: round half away from zero, saturate."""
    if dtype == np.bool_:
        return x != 0  # not MATLAB's logical imresize; maps are read as uint8 here
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    info = np.iinfo(dtype)
    r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.clip(np.nan_to_num(r), info.min, info.max).astype(dtype)


def imresize(
    arr: np.ndarray,
    shape: tuple[int, int] | None = None,
    *,
    scale: float | tuple[float, float] | None = None,
    antialiasing: bool = True,
) -> np.ndarray:
    """MATLAB's ``imresize(arr, [h w])`` (or ``imresize(arr, scale)``), bicubic, of a 2-D array.

    As MATLAB does: separable passes, the dimension with the smaller scale first; weights
    normalised to sum 1; symmetric padding; an integer input is rounded (half away from zero)
    and saturated to its class after EACH pass.
    """
    if arr.ndim != 2:
        raise ValueError(f"imresize: a 2-D array expected, got shape {arr.shape}")
    in_shape = arr.shape
    if shape is not None:
        out_shape = (int(shape[0]), int(shape[1]))
        scales = (out_shape[0] / in_shape[0], out_shape[1] / in_shape[1])
    elif scale is not None:
        scales = (float(scale), float(scale)) if np.isscalar(scale) else tuple(map(float, scale))
        out_shape = tuple(int(np.ceil(s * n)) for s, n in zip(scales, in_shape, strict=True))
    else:
        raise ValueError("imresize: give shape or scale")
    dtype = arr.dtype
    out = arr
    for axis in np.argsort(scales, kind="stable"):  # MATLAB: sort(scale), stable
        weights, idx = _contributions(in_shape[axis], out_shape[axis], scales[axis], antialiasing)
        src = np.moveaxis(np.asarray(out, dtype=np.float64), axis, 0)
        acc = np.zeros((out_shape[axis],) + src.shape[1:])
        for j in range(weights.shape[1]):  # sum in MATLAB's order, one tap at a time
            acc += weights[:, j, None] * src[idx[:, j]]
        out = _to_class(np.moveaxis(acc, 0, axis), dtype)
    return out if out is not arr else arr.copy()


# ----------------------------------------------------------------------------------- the metrics
def mat2gray(a: np.ndarray) -> np.ndarray:
    """MATLAB's ``mat2gray(a)`` as float64 (Octave's arithmetic: ``(a - min) * (1 / range)``)."""
    a = np.asarray(a)
    lo, hi = float(a.min()), float(a.max())
    if lo == hi:  # constant: MATLAB clips the values to [0, 1]
        return np.clip(a.astype(np.float64), 0.0, 1.0)
    if a.dtype.kind in "bu" and a.dtype.itemsize <= 2:
        # 8/16-bit: the same arithmetic on the few distinct values, then a look-up
        lut = _mat2gray_values(np.arange(int(lo), int(hi) + 1, dtype=np.float64), lo, hi)
        return lut[a.astype(np.intp) - int(lo)]
    return _mat2gray_values(a.astype(np.float64), lo, hi)


def _mat2gray_values(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = (1.0 / (hi - lo)) * (x - lo)
    out[x <= lo] = 0.0
    out[x >= hi] = 1.0  # exactly, whatever (1 / range) * range rounds to
    return out


_KERNEL = gauss_kernel()  # fspecial('gaussian', 7, 5), as in wFmeasure.m


def _weighted_f(fg: np.ndarray, gt: np.ndarray) -> float:
    """``wFmeasure.m``: weighted F with beta^2 = 1."""
    err = np.abs(fg - gt)
    # bwdist(GT): distance to, and index of, the nearest foreground pixel
    dist, (iy, ix) = ndimage.distance_transform_edt(~gt, return_indices=True)
    err_t = err[iy, ix]  # a background pixel takes the error of its nearest foreground pixel
    # imfilter(Et, K): correlation, zero padding ('same'); K is symmetric
    err_a = cv2.filter2D(err_t, -1, _KERNEL, borderType=cv2.BORDER_CONSTANT)
    min_e = np.where(gt & (err_a < err), err_a, err)
    weight = np.where(gt, 1.0, 2 - np.exp(np.log(1 - 0.5) / 5 * dist))
    ew = min_e * weight
    ew_fg = ew[gt]
    tpw = ew_fg.size - ew_fg.sum()
    fpw = ew[~gt].sum()
    recall = 1 - ew_fg.mean()
    precision = tpw / (EPS + tpw + fpw)
    return float(2 * recall * precision / (EPS + recall + precision))


def _object(x: np.ndarray) -> float:
    """``Object`` of ``S_object.m`` on the pixels ``x`` of one side of the mask."""
    if x.size == 0:
        return 0.0
    mean = x.mean()
    sigma = x.std(ddof=1) if x.size > 1 else 0.0  # MATLAB's std (N - 1); std of a scalar is 0
    return float(2.0 * mean / (mean * mean + 1.0 + sigma + EPS))


def _ssim(p: np.ndarray, g: np.ndarray) -> float:
    """``ssim`` of ``S_region.m``; NaN for an empty block, as ``mean2([])`` makes it there."""
    n = p.size
    if n == 0:
        return float("nan")
    x, y = p.mean(), g.mean()
    dx, dy = p - x, g - y
    sx = (dx * dx).sum() / (n - 1 + EPS)
    sy = (dy * dy).sum() / (n - 1 + EPS)
    sxy = (dx * dy).sum() / (n - 1 + EPS)
    return float(ssim_from_moments(x, y, sx, sy, sxy))


def _round(v: float) -> int:
    """MATLAB's ``round`` (half away from zero) of a non-negative number."""
    return int(np.floor(v + 0.5))


def _s_measure(fg: np.ndarray, gt: np.ndarray) -> float:
    """``Smeasure.m`` (alpha = 0.5; no clipping at 0)."""
    y = gt.mean()
    if y == 0:
        return float(1.0 - fg.mean())
    if y == 1:
        return float(fg.mean())
    s_object = y * _object(fg[gt]) + (1 - y) * _object(1.0 - fg[~gt])
    hei, wid = gt.shape
    area = float(np.count_nonzero(gt))
    # centroid in MATLAB's 1-based coordinates; the blocks are GT(1:Y, 1:X) etc.
    cx = _round(float((gt.sum(axis=0) * np.arange(1, wid + 1)).sum()) / area)
    cy = _round(float((gt.sum(axis=1) * np.arange(1, hei + 1)).sum()) / area)
    total = float(wid * hei)
    w1 = cx * cy / total
    w2 = (wid - cx) * cy / total
    w3 = cx * (hei - cy) / total
    w4 = 1.0 - w1 - w2 - w3
    g = gt.astype(np.float64)
    s_region = (
        w1 * _ssim(fg[:cy, :cx], g[:cy, :cx])
        + w2 * _ssim(fg[:cy, cx:], g[:cy, cx:])
        + w3 * _ssim(fg[cy:, :cx], g[cy:, :cx])
        + w4 * _ssim(fg[cy:, cx:], g[cy:, cx:])
    )
    return float(0.5 * s_object + 0.5 * s_region)


def _e_measure(fg: np.ndarray, gt: np.ndarray) -> float:
    """``Emeasure.m``: adaptive E, threshold ``2 * mean`` (not capped) with ``>``."""
    fm = fg > 2 * fg.mean()  # its mat2gray(FM) leaves a mat2gray-ed map as it is
    n = float(gt.size)
    pred_fg = float(np.count_nonzero(fm))
    tp = float(np.count_nonzero(fm & gt))
    return float(enhanced_alignment(tp, pred_fg, float(np.count_nonzero(gt)), n))


def _adaptive_f(fg: np.ndarray, gt: np.ndarray) -> float:
    """``Fmeasure.m``: F (beta^2 = 0.3) at ``map >= min(2 * mean, 1)``.

    (It also returns that precision and recall; ``main.m`` sums them into ``prec``/``rec`` and
    then overwrites both with the PR-curve means, so they are not kept here.)
    """
    binary = fg >= min(2 * fg.mean(), 1.0)
    n_and = np.count_nonzero(binary & gt)
    if n_and == 0:
        return 0.0
    p = n_and / np.count_nonzero(binary)
    r = n_and / np.count_nonzero(gt)
    return float(1.3 * p * r / (0.3 * p + r))


def _pr_curve(fg: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``PRCurve.m`` of ``map * 255``: precision and recall at thresholds 255, 254, ..., 0."""
    # histc(x, 0:255): bin k holds k <= x < k+1, the last bin x == 255; so the bin is floor(x)
    bins = np.floor(fg * 255).astype(np.intp)
    hist = np.bincount((bins * 2 + gt).ravel(), minlength=2 * BINS).reshape(BINS, 2)
    tp = np.cumsum(hist[::-1, 1]).astype(np.float64)
    fp = np.cumsum(hist[::-1, 0]).astype(np.float64)
    return tp / (tp + fp + EPS), tp / np.count_nonzero(gt)


def image_stats(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | np.ndarray]:
    """Per-image quantities of ``main.m`` for one map and mask (2-D arrays, e.g. uint8).

    A map of another size is first resized to the mask's with :func:`imresize`. Every value
    is summable over images; :func:`summarise` turns the sums into the metrics.
    """
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"2-D map and mask expected, got {pred.shape} and {gt.shape}")
    if pred.shape != gt.shape:
        pred = imresize(pred, gt.shape)
    fg = mat2gray(pred)
    g = mat2gray(gt)
    if fg.max() == 0 or g.max() == 0:
        # main.m: `continue` after file_num(k) = true: counted, with zeros everywhere
        zeros = np.zeros(BINS)
        return {
            "mae": 0.0,
            "adaptive_f": 0.0,
            "weighted_f": 0.0,
            "s_measure": 0.0,
            "adaptive_e": 0.0,
            "precision": zeros,
            "recall": zeros.copy(),
        }
    gt_bool = g >= 0.5
    a_f = _adaptive_f(fg, gt_bool)
    precision, recall = _pr_curve(fg, gt_bool)
    return {
        "mae": float(np.abs(fg - gt_bool).mean()),
        "adaptive_f": a_f,
        "weighted_f": _weighted_f(fg, gt_bool),
        "s_measure": _s_measure(fg, gt_bool),
        "adaptive_e": _e_measure(fg, gt_bool),
        "precision": precision,
        "recall": recall,
    }


def f_curve(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """``main.m``'s F curve ``1.3 P R / (0.3 P + R + eps)``."""
    return 1.3 * precision * recall / (0.3 * precision + recall + EPS)


def summarise(totals: dict[str, float | np.ndarray], count: int) -> dict[str, float]:
    """The metrics from per-image sums of :func:`image_stats` over ``count`` images."""
    mean = {k: np.asarray(v, dtype=np.float64) / max(count, 1) for k, v in totals.items()}
    f = f_curve(mean["precision"], mean["recall"])
    return {
        "max_f": float(f.max()),
        "adaptive_f": float(mean["adaptive_f"]),
        "mae": float(mean["mae"]),
        "weighted_f": float(mean["weighted_f"]),
        "s_measure": float(mean["s_measure"]),
        "adaptive_e": float(mean["adaptive_e"]),
        "max_f_dataset_pr": float(f.max()),
        "mean_f": float(f.mean()),
    }


def load_pair(gt_path: str, pred_path: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(map, mask, whether the map is resized) for :func:`image_stats`, which resizes the map.

    Both are read by the project's one readers (:func:`ras_lightning.data.readers.read_map`,
    :func:`~ras_lightning.data.readers.read_mask`), in MATLAB's class: 8-bit stays uint8 and
    16-bit uint16, so ``imresize`` rounds and ``mat2gray`` scales as ``main.m``'s do. On
    1-channel 8/16-bit files and on colour files with R = G = B this is exactly what
    ``imread`` gives (a 1-bit file and a 0/1 mask read as 0/255 where MATLAB has 0/1: the
    same after ``mat2gray``). Where ``imread`` would read something other than what the file
    shows, the file's content is read instead, as by every other command:

    * a palette PNG: its colours, where ``imread`` gives the palette indices (a red label on
      black at index 1 is the same after ``mat2gray``; a reordered palette is not);
    * colour content: its brightest channel (gray content: luminance), where ``main.m`` keeps
      the red channel (a green label would be empty; JPEG gray differs by a level or two);
    * a cut-out (the alpha varies): its alpha, where ``imread`` gives the colour (black for
      a map saved as black with the saliency in the alpha, which ``main.m`` would skip as
      all-zero and count with zeros); a user saving a cut-out means what is visible;
    * a mask of class labels (largest value 2..15): an error naming it, where ``mat2gray``
      then ``>= 0.5`` would pick some classes silently; training refuses it too;
    * the EXIF orientation tag is applied (``imread`` ignores it), as for the photos.
    """
    gt = read_mask(gt_path, np.uint8, keep_16bit=True)
    pred = read_map(pred_path, keep_16bit=True)
    return pred, gt, pred.shape != gt.shape
