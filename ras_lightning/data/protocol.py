"""The authors' test protocol: photo -> network input, finest logits -> 8-bit saliency map.

Read from ShuhanChen/RAS-pytorch ``v1/test.py``, ``v1/data.py`` (``test_dataset``),
``v2/test.py`` and ``v2/data.py`` (``Data`` in test mode):

* v1: the RGB photo (PIL) is resized to ``size`` x ``size`` with torchvision's ``Resize`` on
  the PIL image, i.e. PIL bilinear (antialiased when shrinking), *then* ``ToTensor`` (/255) and
  ImageNet normalisation.
* v2: the photo (OpenCV, BGR -> RGB, float) is normalised with F3Net's mean/std on 0-255
  values -- in float64, because the config's mean/std are float64 arrays -- and *then* resized
  with ``cv2.resize(INTER_LINEAR)``; the tensor is cast to float32 on the GPU.
* both: the finest side output's **logits** are resized to the photo's size with
  ``F.interpolate(..., mode='bilinear', align_corners=True)``, then sigmoid, then per-image
  min-max ``(r - min) / (max - min + 1e-8)``, ``x 255``, and ``cv2.imwrite`` of the float
  array (OpenCV rounds half to even and saturates to 0..255).

Both recipes read the photo with :func:`ras_lightning.data.readers.read_photo` (why one reading
serves both: see there).

Everything here is NumPy / PIL / OpenCV (no torch), so the ONNX Runtime backend uses it too;
:func:`logits_to_map` is the one logits -> map step of every backend and of the end-of-training
test (``training/module.py``). It is checked against a transcription of the authors' scripts
in ``tests/test_faithful.py``.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ras_lightning.data.normalization import F3NET_MEAN, F3NET_STD, IMAGENET_MEAN, IMAGENET_STD

RECIPES = ("v1", "v2")
MINMAX_EPS = 1e-8  # the authors' (max - min + 1e-8)


def network_input(rgb: np.ndarray, recipe: str, size: int) -> np.ndarray:
    """(3, size, size) float32 input from an RGB uint8 photo, as the recipe's test script."""
    if recipe == "v1":
        # torchvision Resize((s, s)) on a PIL image = PIL bilinear (antialiased), uint8 out
        small = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
        x = small.astype(np.float32) / np.float32(255)
        x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
    if recipe == "v2":
        x = (rgb.astype(np.float32) - np.asarray(F3NET_MEAN)) / np.asarray(F3NET_STD)  # float64
        x = cv2.resize(x, (size, size), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
    raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")


def _align_corners_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with ``align_corners=True``."""
    m = np.zeros((n_out, n_in), np.float32)
    if n_in == 1 or n_out == 1:
        m[:, 0] = 1.0
        return m
    # source positions in float32, as PyTorch's CPU kernel computes them
    scale = np.float32((n_in - 1) / (n_out - 1))
    src = np.arange(n_out, dtype=np.float32) * scale
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo.astype(np.float32)
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (h, w) logits to ``size`` = (H, W) with ``align_corners=True``
    (what ``F.interpolate`` does in the authors' test scripts; separable, as two matmuls)."""
    h, w = logits.shape
    ry = _align_corners_matrix(size[0], h)
    rx = _align_corners_matrix(size[1], w)
    return ry @ logits.astype(np.float32) @ rx.T


def to_uint8(values: np.ndarray) -> np.ndarray:
    """0..255 floats to uint8 as ``cv2.imwrite`` of a float array: round half to even, clip."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def probability_to_map(prob: np.ndarray, minmax: bool = True) -> np.ndarray:
    """8-bit map of a float32 probability map; ``minmax`` applies the authors' per-image
    ``(r - min) / (max - min + 1e-8)`` first."""
    prob = prob.astype(np.float32, copy=False)
    if minmax:
        lo, hi = prob.min(), prob.max()
        prob = (prob - lo) / (hi - lo + np.float32(MINMAX_EPS))
    return to_uint8(np.float32(255) * prob)


def logits_to_map(logits: np.ndarray, size: tuple[int, int], minmax: bool = True) -> np.ndarray:
    """The authors' saved map: (h, w) logits -> resized (align_corners) -> sigmoid ->
    per-image min-max -> x255 -> uint8 (H, W)."""
    r = resize_logits(logits, size)
    with np.errstate(over="ignore"):  # exp(large) = inf gives probability 0, as sigmoid
        prob = np.float32(1) / (np.float32(1) + np.exp(-r, dtype=np.float32))
    return probability_to_map(prob, minmax)
