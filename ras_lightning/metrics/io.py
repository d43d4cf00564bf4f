"""Reading maps and masks from files for scoring (``convention=pysodmetrics``)."""

from __future__ import annotations

import cv2
import numpy as np

from ras_lightning.data.readers import read_mask
from ras_lightning.utils.errors import DataError


def read_gray(path: str, is_mask: bool = False) -> np.ndarray:
    """An 8-bit grayscale array (colour converted, alpha dropped, 16-bit scaled).

    A mask (``is_mask``) is read by the project's one mask reader
    (:func:`ras_lightning.data.readers.read_mask`), as training reads it: 0/1 labels are
    0/255, foreground only in the alpha channel is the mask, EXIF orientation is applied.
    """
    if is_mask:
        return read_mask(path, np.uint8)
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
