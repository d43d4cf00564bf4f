"""The functional kernels of every SOD metric (PySODMetrics' definitions), NumPy and OpenCV.

One kernel per metric family (:func:`mae`, :func:`s_measure`, :func:`weighted_f`,
:func:`f_measure`, :func:`e_measure`), in the style of torchmetrics' functional API: it takes
one 8-bit map and its mask (or an :class:`SODImage` prepared once from them, which every kernel
shares) and returns that image's statistics, each a number or a 256-entry curve that is summed
over images. :mod:`ras_lightning.metrics.registry` turns the means of those statistics into the
metric values and lists every metric; the torchmetrics classes
(:mod:`ras_lightning.metrics.classes`), ``score`` and ``eval`` all run these kernels. The module
imports neither torch nor SciPy, so the folder scorer starts fast and forks its workers safely.

Conventions (PySODMetrics', checked against it to 1e-6 in the tests):

* The map is 8-bit; as a float it is ``map / 255`` (float64, as NumPy divides), min-max
  normalised per image unless it is constant. The mask is foreground where it is > 128.
* Threshold curves bin the normalised map into 0..255 by truncation (``uint8(p * 255)``) and
  count a pixel as positive at threshold t when its bin is >= t; curves run over the
  thresholds 255..0, as PySODMetrics orders them.
* Adaptive measures binarise at min(2 * mean(map), 1).

Where the time goes and why the results do not move (``score`` on a 481x321 map):

* An 8-bit map has at most 256 levels, so the normalised map is a 256-entry table
  (``cv2.LUT``), and the F/E curves, MAE, the adaptive threshold counts and the S-measure
  (means, variances and covariances of the map per mask class and per quadrant) are sums over
  256-bin histograms (``cv2.calcHist``) instead of passes over the pixels. Each per-pixel value
  is computed with the same float64 operations as PySODMetrics; only the order of the additions
  changes (differences ~1e-16). A quadrant where the map is constant is scored by the pixel code,
  because there the S-measure's SSIM term branches on exact zeros.
* Weighted F-measure (PySODMetrics uses SciPy's exact Euclidean feature transform, ~7 ms
  here, for the distance and the nearest object pixel of every background pixel). The distance
  counts only where the map is nonzero (a background pixel's error is the map); it comes from
  OpenCV's exact transform (``DIST_MASK_PRECISE``, Felzenszwalb's algorithm, in float32: the
  integer squared distance is recovered by rounding, so ``sqrt`` gives SciPy's float64 distance
  bit for bit), on the bounding box of the object and of the nonzero map. The nearest object
  pixel counts only in the 3-pixel band around the object that the 7x7 Gaussian reads; there it
  is found by trying the offsets of the pixel's exact squared distance in SciPy's tie order:
  SciPy's transform runs along columns, then along rows, so of equidistant object pixels it
  picks the one with the smallest column, then the smallest row (checked against SciPy). The
  Gaussian (separable: ``cv2.sepFilter2D``) runs on the object's bounding box plus 3 pixels.
  Crops whose distances could pass float32's exact range (d >= 2048) and any band pixel with
  no object pixel at its distance fall back to SciPy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, wraps

import cv2
import numpy as np

from ras_lightning.data.readers import read_mask_u8
from ras_lightning.utils.errors import DataError

Stats = dict[str, "float | np.ndarray"]

EPS = np.spacing(1)
BETA2_F = 0.3
_LEVELS = np.arange(256) / 255.0  # an 8-bit map / 255, level by level, as NumPy divides
_LOG_HALF_5 = np.log(0.5) / 5


def gauss_kernel(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """MATLAB's fspecial('gaussian', size, sigma)."""
    r = (size - 1) / 2
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def _gauss_1d(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    r = (size - 1) / 2
    x = np.arange(-r, r + 1)
    h = np.exp(-x * x / (2 * sigma * sigma))
    return h / h.sum()


_KERNEL = gauss_kernel()
_KERNEL_1D = _gauss_1d()
# fspecial zeroes nothing at size 7, sigma 5 (the corner is exp(-18/50) of the centre), so its
# kernel is the outer product of the 1-D one up to rounding
_SEPARABLE = bool(np.abs(np.outer(_KERNEL_1D, _KERNEL_1D) - _KERNEL).max() < 1e-15)
_RADIUS = 3  # of the 7x7 window
_BOX = np.ones((2 * _RADIUS + 1, 2 * _RADIUS + 1), np.uint8)
_MAX_D2_BAND = 2 * _RADIUS**2  # a band pixel is at most (3, 3) from the object
_REACH = int(np.sqrt(_MAX_D2_BAND))  # so its nearest object pixel is at most 4 rows/columns off
_MAX_D2 = 1 << 22  # float32 distances give back the exact integer d^2 below this


def _offset_table() -> np.ndarray:
    """(dy, dx) offsets of squared length d2 at row d2, in SciPy's tie order.

    SciPy's feature transform runs along columns, then along rows, so of the object pixels at
    the same distance it picks the one with the smallest column, then the smallest row. Rows
    are padded by repeating their last offset; squared lengths that are no sum of two squares
    get (0, 0), which never hits the object (the pixel itself is background).
    """
    groups: dict[int, list[tuple[int, int]]] = {}
    for dy in range(-_REACH, _REACH + 1):
        for dx in range(-_REACH, _REACH + 1):
            d2 = dx * dx + dy * dy
            if 0 < d2 <= _MAX_D2_BAND:
                groups.setdefault(d2, []).append((dx, dy))
    width = max(len(v) for v in groups.values())
    table = np.zeros((_MAX_D2_BAND + 1, width, 2), np.intp)
    for d2, offsets in groups.items():
        ordered = [(dy, dx) for dx, dy in sorted(offsets)]  # column first, then row
        table[d2] = ordered + [ordered[-1]] * (width - len(ordered))
    return table


_OFFSETS = _offset_table()


def _nearest(g_pad: np.ndarray, base: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    """Flat indices of the nearest object pixels (SciPy's choice) of band pixels ``base``.

    ``g_pad``: the 0/1 mask padded by :data:`_REACH` zeros; ``base``: flat indices into it;
    ``d2``: the pixels' exact squared distances. None when a pixel has no object pixel at its
    distance (an inexact transform): the caller then falls back to SciPy.
    """
    if base.size == 0:
        return base
    d2i = d2.astype(np.intp)
    if d2i.min() < 1 or d2i.max() > _MAX_D2_BAND:
        return None
    steps = (_OFFSETS[..., 0] * g_pad.shape[1] + _OFFSETS[..., 1])[d2i]
    hits = g_pad.ravel()[base[:, None] + steps]
    first = hits.argmax(1)
    k = np.arange(base.size)
    if not hits[k, first].all():
        return None
    return base + steps[k, first]


def _weighted_f_scipy(p: np.ndarray, g: np.ndarray, beta2: float) -> float:
    """PySODMetrics' computation (SciPy's feature transform over the whole image)."""
    from scipy import ndimage

    bg = ~g
    dist, (iy, ix) = ndimage.distance_transform_edt(bg, return_indices=True)
    err = np.abs(p - g)
    err_t = err[iy, ix]
    err_a = cv2.filter2D(err_t, -1, _KERNEL, borderType=cv2.BORDER_CONSTANT)
    min_e = np.where(g & (err_a < err), err_a, err)
    weight = np.where(bg, 2 - np.exp(_LOG_HALF_5 * dist), 1.0)
    ew = min_e * weight
    ew_fg = ew[g]
    tpw = g.sum() - ew_fg.sum()
    fpw = ew[bg].sum()
    recall = 1 - ew_fg.mean()
    precision = tpw / (tpw + fpw + EPS)
    return float((1 + beta2) * recall * precision / (recall + beta2 * precision + EPS))


def _weighted_f(
    src: np.ndarray, table: np.ndarray, gu: np.ndarray, nz: np.ndarray, beta2: float
) -> float:
    """Weighted F of the uint8 map ``src`` whose level ``k`` is the value ``table[k]``.

    ``gu``: the 0/1 uint8 mask; ``nz``: 0/1 uint8, where the map is nonzero.
    """
    n_fg = cv2.countNonZero(gu)
    if n_fg == 0:
        return 0.0
    h, w = gu.shape

    def values(index):  # the map at an index of ``src``
        return table[src[index]]

    # A: the object's bounding box and the band of 3 pixels around it that the Gaussian reads
    x, y, bw, bh = cv2.boundingRect(gu)
    ax0, ay0 = max(x - _RADIUS, 0), max(y - _RADIUS, 0)
    ax1, ay1 = min(x + bw + _RADIUS, w), min(y + bh + _RADIUS, h)
    g_a = gu[ay0:ay1, ax0:ax1]
    # pixel dependency: E at the object; a background pixel takes E of its nearest object pixel
    et = cv2.LUT(src[ay0:ay1, ax0:ax1], np.abs(table - 1.0))
    et *= g_a
    fpw = 0.0
    if n_fg < gu.size:
        # B: A and every background pixel with an error (a nonzero map): the distances there
        # (exact for B: every object pixel is in it)
        bx0, by0, bx1, by1 = ax0, ay0, ax1, ay1
        nx, ny, nw, nh = cv2.boundingRect(nz)
        if nw:
            bx0, by0, bx1, by1 = min(bx0, nx), min(by0, ny), max(bx1, nx + nw), max(by1, ny + nh)
        if (bx1 - bx0) ** 2 + (by1 - by0) ** 2 >= _MAX_D2:
            return _weighted_f_scipy(values(np.s_[:, :]), gu.view(bool), beta2)
        g_b = gu[by0:by1, bx0:bx1]
        dist = cv2.distanceTransform(1 - g_b, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        band = cv2.dilate(g_a, _BOX)
        band -= g_a
        ia = np.flatnonzero(band.view(bool))
        ra, ca = np.divmod(ia, ax1 - ax0)
        d2 = np.rint(np.square(dist[ra + (ay0 - by0), ca + (ax0 - bx0)], dtype=np.float64))
        g_pad = cv2.copyMakeBorder(gu, *(4 * [_REACH]), cv2.BORDER_CONSTANT, value=0)
        width = w + 2 * _REACH
        near = _nearest(g_pad, (ra + (ay0 + _REACH)) * width + ca + (ax0 + _REACH), d2)
        if near is None:
            return _weighted_f_scipy(values(np.s_[:, :]), gu.view(bool), beta2)
        rn, cn = np.divmod(near, width)
        et_flat = et.ravel()
        et_flat[ia] = et_flat[(rn - (ay0 + _REACH)) * (ax1 - ax0) + cn - (ax0 + _REACH)]
        # pixel importance: background errors grow with the distance to the object; the error
        # of a background pixel is |map|, so only nonzero ones count
        sel = np.flatnonzero(nz[by0:by1, bx0:bx1] > g_b)
        d = np.sqrt(np.rint(np.square(dist.ravel()[sel], dtype=np.float64)))
        e = np.ascontiguousarray(src[by0:by1, bx0:bx1]).ravel()[sel]
        e = np.abs(table[e])
        fpw = float((e * (2 - np.exp(_LOG_HALF_5 * d))).sum())
    # fspecial + imfilter: a zero-padded 7x7 Gaussian; A holds every pixel it reads at the
    # object, and A's edges are the image's or background pixels with no error in ``et``
    if _SEPARABLE:
        ea = cv2.sepFilter2D(et, -1, _KERNEL_1D, _KERNEL_1D, borderType=cv2.BORDER_CONSTANT)
    else:  # pragma: no cover - fspecial's kernel is separable at size 7, sigma 5
        ea = cv2.filter2D(et, -1, _KERNEL, borderType=cv2.BORDER_CONSTANT)
    np.minimum(ea, et, out=ea)
    ea *= g_a
    ew_fg = float(ea.sum())
    tpw = n_fg - ew_fg
    recall = 1 - ew_fg / n_fg
    precision = tpw / (tpw + fpw + EPS)
    return float((1 + beta2) * recall * precision / (recall + beta2 * precision + EPS))


def _f(precision: np.ndarray, recall: np.ndarray, beta2: float = BETA2_F) -> np.ndarray:
    num = (1 + beta2) * precision * recall
    return num / np.where(num == 0, 1.0, beta2 * precision + recall)


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


def _s_object_hist(values: np.ndarray, count: np.ndarray) -> float:
    """The S-measure's object term ``2 mean / (mean^2 + 1 + std + eps)`` (std with N - 1) of
    the pixels of one mask class, given as 256 map levels and their pixel counts."""
    n = count.sum()
    mean = (count * values).sum() / n
    dev = values - mean
    std = np.sqrt((count * dev * dev).sum() / (n - 1)) if n > 1 else 0.0
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
    return ssim_from_moments(x, y, sx, sy, sxy)


def ssim_from_moments(x: float, y: float, sx: float, sy: float, sxy: float) -> float:
    """The S-measure's region SSIM from the means ``x`` (map), ``y`` (mask), the variances and
    the covariance; 1 where both are flat and agree, as the authors' MATLAB code."""
    alpha = 4 * x * y * sxy
    beta = (x**2 + y**2) * (sx + sy)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def _ssim_hist(levels: np.ndarray, bg: np.ndarray, fg: np.ndarray, p_region) -> float:
    """:func:`_ssim` of a region from its level histograms (background, mask pixels).

    A constant region goes to the pixel code (``p_region()`` gives its map and mask): SSIM
    branches on exact zeros there, and a mean of equal values need not be that value in
    floating point.
    """
    all_ = bg + fg
    n = all_.sum()
    if n == 0:
        return 0.0
    if np.count_nonzero(all_) == 1:
        p, g = p_region()
        return _ssim(p, g.astype(np.float64))
    nf = fg.sum()
    x, y = (all_ * levels).sum() / n, nf / n
    dx = levels - x
    d = n - 1 + EPS
    sx = (all_ * dx * dx).sum() / d
    sy = (nf * (1 - y) ** 2 + (n - nf) * y**2) / d
    sxy = ((fg * (1 - y) - bg * y) * dx).sum() / d
    return ssim_from_moments(x, y, sx, sy, sxy)


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


# ---------------------------------------------------------------------------- the kernels
@kernel
def mae(img: SODImage) -> Stats:
    """Mean absolute error between the normalised map and the mask."""
    lv = img.levels
    return {"mae": float(((img.bg_h * lv).sum() + (img.fg_h * np.abs(lv - 1.0)).sum()) / img.size)}


@kernel
def s_measure(img: SODImage, alpha: float = 0.5) -> Stats:
    """Structure measure (Fan et al., ICCV 2017): object- and region-aware similarity."""
    y = img.gt_fg / img.size
    if y == 0:
        return {"s_measure": 1 - img.mean}
    if y == 1:
        return {"s_measure": img.mean}
    lv, pred, g = img.levels, img.pred, img.g
    obj = y * _s_object_hist(lv, img.fg_h) + (1 - y) * _s_object_hist(1 - lv, img.bg_h)
    cx, cy, w, h = img.cx, img.cy, img.w, img.h
    area = h * w
    w_lt, w_rt, w_lb = cx * cy / area, cy * (w - cx) / area, (h - cy) * cx / area
    weights = (w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb)
    region = 0.0
    for q, (bq, fq), wq in zip(img.quads, img.q_hists, weights, strict=True):  # type: ignore[arg-type]
        region = region + _ssim_hist(lv, bq, fq, lambda q=q: (lv[pred[q]], g[q])) * wq
    return {"s_measure": float(max(0.0, alpha * obj + (1 - alpha) * region))}


@kernel
def weighted_f(img: SODImage, beta2: float = 1.0) -> Stats:
    """Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1."""
    return {"weighted_f": _weighted_f(img.pred, img.levels, img.gu, img.nonzero, beta2)}


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


# -------------------------------------------------------- from means over images to values
def f_measure_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean F curve, adaptive F, and the max F of the mean PR curve (the
    classic MATLAB toolbox's max F)."""
    return {
        "max_f": float(mean["f_curve"].max()),
        "mean_f": float(mean["f_curve"].mean()),
        "adaptive_f": float(mean["adaptive_f"]),
        "max_f_dataset_pr": float(_f(mean["precision"], mean["recall"]).max()),
    }


def e_measure_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """max / mean of the mean E curve, adaptive E."""
    return {
        "max_e": float(mean["e_curve"].max()),
        "mean_e": float(mean["e_curve"].mean()),
        "adaptive_e": float(mean["adaptive_e"]),
    }


# ---------------------------------------------------------------------------- reading files
def read_gray(path: str, is_mask: bool = False) -> np.ndarray:
    """An 8-bit grayscale array (colour converted, alpha dropped, 16-bit scaled).

    A mask (``is_mask``) is read by the project's one mask reader
    (:func:`ras_lightning.data.readers.read_mask_u8`), as training reads it: 0/1 labels are
    0/255, foreground only in the alpha channel is the mask, EXIF orientation is applied.
    """
    if is_mask:
        return read_mask_u8(path)
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise DataError(f"cannot read {path}")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2GRAY)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257).round().astype(np.uint8)
    return arr


def load_pair(gt_path: str, pred_path: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(map, mask, whether the map was resized): a map of another size is resized to its
    mask's (bilinear, as PySODEvalToolkit)."""
    gt, pred = read_gray(gt_path, is_mask=True), read_gray(pred_path)
    resized = pred.shape != gt.shape
    if resized:
        pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    return pred, gt, resized
