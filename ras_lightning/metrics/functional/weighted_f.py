"""Weighted F-measure (Margolin et al., CVPR 2014): PySODMetrics' numbers without SciPy.

PySODMetrics runs SciPy's exact feature transform over the whole image, for the distance and
the nearest object pixel of every background pixel; most of that work is not needed. A
background pixel's distance counts only where the map is nonzero (its error is the map), and
its nearest object pixel only in the 3-pixel band that the 7x7 Gaussian reads at the object.
The distances come from OpenCV's exact transform (``DIST_MASK_PRECISE``) on the bounding box of
the object and of the nonzero map, in float32: rounding the square gives back the exact integer,
so ``sqrt`` equals SciPy's float64 distance bit for bit. In the band, the nearest object pixel
is found among the offsets of that squared distance in SciPy's tie order (:func:`_offset_table`).
Where either could be inexact (distances past float32's exact integers, a band pixel with no
object pixel at its distance) the kernel falls back to SciPy (:func:`_weighted_f_scipy`).
Measurements and how the equality was checked: BENCHMARKS.md, "Scoring saliency maps".
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from ras_lightning.metrics.functional.image import EPS, SODImage, Stats, kernel

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


@kernel
def weighted_f(img: SODImage, beta2: float = 1.0) -> Stats:
    """Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1."""
    return {"weighted_f": _weighted_f(img.pred, img.levels, img.gu, img.nonzero, beta2)}
